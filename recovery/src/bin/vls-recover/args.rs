//! The argument groups several commands share: where the state is, how to
//! open a backup, the signer, the chain, and where claimed funds go.

use std::path::PathBuf;

use clap::Args;
use vls_recovery::Network;

#[derive(Args)]
pub(crate) struct DatadirArgs {
    /// A stopped vlsd's datadir.
    #[arg(long)]
    pub(crate) datadir: Option<PathBuf>,
    /// Network subdirectory; found automatically when there is only one.
    #[arg(long)]
    pub(crate) network: Option<Network>,
}

/// Where claimed funds go and at what fee rate.
#[derive(Args)]
pub(crate) struct SpendArgs {
    /// Where the funds go (an address of the node's network).
    #[arg(long)]
    pub(crate) to: String,
    /// Fee rate in sat per 1000 weight units (default: the chain
    /// source's estimate, held to policy bounds).
    #[arg(long)]
    pub(crate) fee_rate: Option<u32>,
}

/// The state and the seed to sign with.
#[derive(Args)]
pub(crate) struct SignerArgs {
    /// A backup file.
    #[arg(required_unless_present = "datadir", conflicts_with = "datadir")]
    pub(crate) file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) state: DatadirArgs,
    #[command(flatten)]
    pub(crate) key: KeyArgs,
    /// The node seed (hex); default: the backup's, or the datadir's node.seed.
    #[arg(long)]
    pub(crate) seed_file: Option<PathBuf>,
}

/// The state, the seed and the chain to recover from.
#[derive(Args)]
pub(crate) struct OnchainArgs {
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
    /// bitcoind's RPC URL.
    #[arg(long, required_unless_present = "chain_file")]
    pub(crate) rpc_url: Option<String>,
    /// bitcoind's .cookie file.
    #[arg(long, conflicts_with = "rpc_user_file")]
    pub(crate) rpc_cookie: Option<PathBuf>,
    /// File holding `user:password` for bitcoind's RPC.
    #[arg(long)]
    pub(crate) rpc_user_file: Option<PathBuf>,
    /// A recorded chain ({"blocks": [hex, ...]}) instead of bitcoind.
    #[arg(long, conflicts_with = "rpc_url")]
    pub(crate) chain_file: Option<PathBuf>,
    /// First block height to scan for the channels' transactions (no
    /// funding output can be older than the node's first channel).
    #[arg(long, default_value_t = 0)]
    pub(crate) scan_from: u32,
    /// A payment preimage (64 hex digits) to claim HTLCs with (repeatable);
    /// your node's invoice database has the ones the signer never saw.
    #[arg(long)]
    pub(crate) preimage: Vec<String>,
    /// A file of preimages, one in hex per line.
    #[arg(long)]
    pub(crate) preimage_file: Option<PathBuf>,
    /// An older backup whose HTLC archive to add (repeatable): the HTLCs
    /// of revoked commitments, for justice on their HTLC outputs.
    #[arg(long)]
    pub(crate) archive_from: Vec<PathBuf>,
}

#[derive(Args)]
#[group(multiple = false)]
pub(crate) struct KeyArgs {
    /// age identity file (from `age-keygen`).
    #[arg(long)]
    pub(crate) identity: Option<PathBuf>,
    /// File whose first line is the passphrase.
    #[arg(long)]
    pub(crate) passphrase_file: Option<PathBuf>,
}
