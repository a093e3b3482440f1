//! Command-line configuration of one lnnode process.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Who holds the node's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignerKind {
    /// vlsd dials the node's signer port and signs every request.
    Vlsd,
    /// LDK's own KeysManager with a seed in the datadir.
    Local,
}

impl SignerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignerKind::Vlsd => "vlsd",
            SignerKind::Local => "local",
        }
    }
}

#[derive(Debug, Clone, Parser)]
#[command(name = "lnnode", about = "LDK Lightning node for vls-chaos")]
pub struct Config {
    /// Directory for the node's persisted state (a volume in the harness).
    #[arg(long, default_value = "/data")]
    pub datadir: PathBuf,
    #[arg(long, value_enum, default_value_t = SignerKind::Vlsd)]
    pub signer: SignerKind,
    /// Where vlsd connects when `--signer vlsd` (bind all interfaces in a container).
    #[arg(long, default_value = "0.0.0.0:7701")]
    pub signer_listen: SocketAddr,
    /// Lightning peer-to-peer listener.
    #[arg(long, default_value = "0.0.0.0:9735")]
    pub p2p_listen: SocketAddr,
    /// Admin API listener for the harness.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub admin_listen: SocketAddr,
    /// bitcoind JSON-RPC URL, e.g. http://bitcoind:18443
    #[arg(long)]
    pub bitcoind_rpc: String,
    #[arg(long)]
    pub bitcoind_rpc_user: String,
    /// Read from a file so it never appears in `ps` output or logs.
    #[arg(long)]
    pub bitcoind_rpc_password_file: PathBuf,
    /// The bitcoind wallet that funds this node's channels and receives its sweeps.
    #[arg(long, default_value = "lnnode")]
    pub bitcoind_wallet: String,
    /// With `--signer vlsd`: let VLS's client defer the validation of holder
    /// commitments of channels restored after a restart, as it does
    /// upstream. vlsd then refuses the next commitment point and the channel
    /// blocks (docs/findings.md); only for reproducing that.
    #[arg(long)]
    pub defer_restored_validation: bool,
    /// With `--signer vlsd`: serve the harness's control endpoint (signer
    /// breakpoints, which hold the node's signer requests) here. Off unless
    /// given: nothing but a test harness should be able to stall a node.
    #[arg(long)]
    pub control_listen: Option<SocketAddr>,
    /// The longest wait between two looks at bitcoind's tip, in
    /// milliseconds. A new block is seen at once (the node waits for it in
    /// bitcoind, `waitforblockheight`); this bounds how late a reorg to a
    /// chain of the same height is seen.
    #[arg(long, default_value_t = 1000)]
    pub chain_poll_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_required_arguments() {
        let c = Config::try_parse_from([
            "lnnode",
            "--bitcoind-rpc",
            "http://bitcoind:18443",
            "--bitcoind-rpc-user",
            "chaos",
            "--bitcoind-rpc-password-file",
            "/run/pw",
        ])
        .expect("valid");
        assert_eq!(c.signer, SignerKind::Vlsd);
        assert_eq!(c.signer_listen.port(), 7701);
        assert!(Config::try_parse_from(["lnnode"]).is_err());
        assert!(Config::try_parse_from([
            "lnnode",
            "--signer",
            "hsm",
            "--bitcoind-rpc",
            "x",
            "--bitcoind-rpc-user",
            "u",
            "--bitcoind-rpc-password-file",
            "p"
        ])
        .is_err());
    }
}
