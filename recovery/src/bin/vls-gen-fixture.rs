//! Generates `recovery/fixtures/vlsd-regtest-3ch`: a real vlsd regtest datadir
//! (seed file + redb state) holding three Core Lightning-style channels.
//!
//! The state is produced by vls-core's own `Node` and `Channel` code, driven
//! through channel setup, commitment signing and validation and revocation
//! against three counterparty nodes, and persisted by vls-persist's
//! `KVVPersister<RedbKVVStore, JsonFormat>` as vlsd persists it. Nothing is
//! written by hand.
//!
//!   cargo run -p vls-recovery --bin vls-gen-fixture -- recovery/fixtures/vlsd-regtest-3ch
//!
//! Channels (all with Core Lightning ids: peer id + dbid):
//! - dbid 1, peer A: we opened, anchors; two pending HTLCs (one each way;
//!   the payee of the outgoing one has released its preimage).
//! - dbid 2, peer B: they opened, static remote key; 60 commitments, so 59
//!   revocation secrets from the peer.
//! - dbid 3, peer C: we opened, anchors; only the initial commitment.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lightning_signer::bitcoin::secp256k1::Secp256k1;
use lightning_signer::invoice::Invoice;
use lightning_signer::lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use lightning_signer::signer::derive::{key_derive, KeyDerivationStyle};

use lightning_signer::bitcoin::bip32::DerivationPath;
use lightning_signer::bitcoin::hashes::sha256::Hash as Sha256Hash;
use lightning_signer::bitcoin::hashes::Hash;
use lightning_signer::bitcoin::{Network, OutPoint, Txid};
use lightning_signer::channel::{Channel, ChannelBase, ChannelId, ChannelSetup, CommitmentType};
use lightning_signer::lightning::types::payment::{PaymentHash, PaymentPreimage};
use lightning_signer::node::{Node, NodeConfig, NodeServices};
use lightning_signer::persist::{DummyPersister, Persist};
use lightning_signer::policy::filter::PolicyFilter;
use lightning_signer::policy::simple_validator::{
    make_default_simple_policy, SimpleValidatorFactory,
};
use lightning_signer::signer::ClockStartingTimeFactory;
use lightning_signer::tx::tx::HTLCInfo2;
use lightning_signer::util::clock::StandardClock;
use lightning_signer::util::status::Status;
use vls_persist::kvv::redb::RedbKVVStore;
use vls_persist::kvv::{JsonFormat, KVVPersister};

/// An address the fixture node allowlists, as vlsd's `--allowlist` would.
const ALLOWLISTED: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

fn tagged(tag: &str) -> [u8; 32] {
    Sha256Hash::hash(format!("vls-chaos fixture: {tag}").as_bytes()).to_byte_array()
}

fn services(persister: Arc<dyn Persist>) -> NodeServices {
    // Real validation, but policy findings are warnings: the fixture's HTLCs
    // have no invoices behind them, which the strict policy would refuse.
    let mut policy = make_default_simple_policy(Network::Regtest);
    policy.filter = PolicyFilter::new_permissive();
    NodeServices {
        validator_factory: Arc::new(SimpleValidatorFactory::new_with_policy(policy)),
        starting_time_factory: ClockStartingTimeFactory::new(),
        persister,
        clock: Arc::new(StandardClock()),
        trusted_oracle_pubkeys: vec![],
    }
}

fn fail(what: &str) -> impl FnOnce(Status) -> String + '_ {
    move |s| format!("{what}: {s:?}")
}

struct Side {
    node: Arc<Node>,
    id: ChannelId,
}

fn htlc(tag: &str, value_sat: u64, cltv_expiry: u32) -> (HTLCInfo2, PaymentPreimage) {
    let preimage = PaymentPreimage(tagged(tag));
    let hash = PaymentHash(Sha256Hash::hash(&preimage.0).to_byte_array());
    (
        HTLCInfo2 {
            value_sat,
            payment_hash: hash,
            cltv_expiry,
        },
        preimage,
    )
}

/// One commitment round, both ways, as the BOLT 2 dance does it: each side
/// signs the other's commitment, validates its own, revokes its previous one,
/// and each learns the other's old secret.
#[allow(clippy::too_many_arguments)]
fn next_state(
    a: &mut Channel,
    b: &mut Channel,
    n: u64,
    to_a: u64,
    to_b: u64,
    a_offered: &[HTLCInfo2],
    a_received: &[HTLCInfo2],
) -> Result<(), Status> {
    let pa = a.get_per_commitment_point(n)?;
    let pb = b.get_per_commitment_point(n)?;
    let (sig_by_a, htlc_sigs_by_a) = a.sign_counterparty_commitment_tx_phase2(
        &pb,
        n,
        0,
        to_a,
        to_b,
        a_received.to_vec(),
        a_offered.to_vec(),
    )?;
    let (sig_by_b, htlc_sigs_by_b) = b.sign_counterparty_commitment_tx_phase2(
        &pa,
        n,
        0,
        to_b,
        to_a,
        a_offered.to_vec(),
        a_received.to_vec(),
    )?;
    a.validate_holder_commitment_tx_phase2(
        n,
        0,
        to_a,
        to_b,
        a_offered.to_vec(),
        a_received.to_vec(),
        &sig_by_b,
        &htlc_sigs_by_b,
    )?;
    a.revoke_previous_holder_commitment(n)?;
    b.validate_holder_commitment_tx_phase2(
        n,
        0,
        to_b,
        to_a,
        a_received.to_vec(),
        a_offered.to_vec(),
        &sig_by_a,
        &htlc_sigs_by_a,
    )?;
    b.revoke_previous_holder_commitment(n)?;
    if n > 0 {
        let secret_a = a.get_per_commitment_secret(n - 1)?;
        let secret_b = b.get_per_commitment_secret(n - 1)?;
        b.validate_counterparty_revocation(n - 1, &secret_a)?;
        a.validate_counterparty_revocation(n - 1, &secret_b)?;
    }
    Ok(())
}

/// A BOLT 11 invoice for `h`, signed by the node of `payee_seed`.
fn invoice(payee_seed: &[u8; 32], h: &HTLCInfo2) -> Result<Invoice, String> {
    let secp = Secp256k1::new();
    let (_, key) =
        key_derive(KeyDerivationStyle::Native, Network::Regtest).node_keys(payee_seed, &secp);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    InvoiceBuilder::new(Currency::Regtest)
        .description("vls-chaos fixture".into())
        .payment_hash(Sha256Hash::from_byte_array(h.payment_hash.0))
        .payment_secret(PaymentSecret(tagged("payment secret")))
        .duration_since_epoch(now)
        .min_final_cltv_expiry_delta(18)
        .amount_milli_satoshis(h.value_sat * 1000)
        .build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
        .map(Invoice::Bolt11)
        .map_err(|e| format!("invoice: {e:?}"))
}

struct Spec {
    dbid: u64,
    peer: &'static str,
    we_open: bool,
    capacity_sat: u64,
    commitment_type: CommitmentType,
}

fn open(us: &Arc<Node>, peer: &Arc<Node>, spec: &Spec) -> Result<(Side, Side), String> {
    let us_id = us.get_id().serialize();
    let peer_id = peer.get_id().serialize();
    let (ours, _) = us
        .new_channel(spec.dbid, &peer_id, us)
        .map_err(fail("new_channel (ours)"))?;
    let (theirs, _) = peer
        .new_channel(spec.dbid, &us_id, peer)
        .map_err(fail("new_channel (theirs)"))?;
    let our_points = us
        .with_channel_base(&ours, |c| Ok(c.get_channel_basepoints()))
        .map_err(fail("our basepoints"))?;
    let their_points = peer
        .with_channel_base(&theirs, |c| Ok(c.get_channel_basepoints()))
        .map_err(fail("their basepoints"))?;
    let funding_outpoint = OutPoint {
        txid: Txid::from_byte_array(tagged(&format!("funding {}", spec.peer))),
        vout: spec.dbid as u32 - 1,
    };
    let setup = |outbound: bool, points| ChannelSetup {
        is_outbound: outbound,
        channel_value_sat: spec.capacity_sat,
        push_value_msat: 0,
        funding_outpoint,
        holder_selected_contest_delay: 144,
        holder_shutdown_script: None,
        counterparty_points: points,
        counterparty_selected_contest_delay: 144,
        counterparty_shutdown_script: None,
        commitment_type: spec.commitment_type,
    };
    let master = DerivationPath::master();
    us.setup_channel(
        ours.clone(),
        None,
        setup(spec.we_open, their_points),
        &master,
    )
    .map_err(fail("setup_channel (ours)"))?;
    peer.setup_channel(
        theirs.clone(),
        None,
        setup(!spec.we_open, our_points),
        &master,
    )
    .map_err(fail("setup_channel (theirs)"))?;
    Ok((
        Side {
            node: us.clone(),
            id: ours,
        },
        Side {
            node: peer.clone(),
            id: theirs,
        },
    ))
}

fn round(
    us: &Side,
    them: &Side,
    n: u64,
    to_us: u64,
    to_them: u64,
    offered: &[HTLCInfo2],
    received: &[HTLCInfo2],
) -> Result<(), String> {
    us.node
        .with_channel(&us.id, |a| {
            them.node.with_channel(&them.id, |b| {
                next_state(a, b, n, to_us, to_them, offered, received)
            })
        })
        .map_err(fail(&format!("commitment {n}")))
}

fn generate(out: &Path) -> Result<(), String> {
    let regtest = out.join("regtest");
    if regtest.exists() {
        return Err(format!(
            "{}: already exists; remove it to regenerate",
            regtest.display()
        ));
    }
    std::fs::create_dir_all(&regtest).map_err(|e| format!("{}: {e}", regtest.display()))?;

    let seed = tagged("node seed");
    let persister: Arc<dyn Persist> =
        Arc::new(KVVPersister(RedbKVVStore::new(&regtest), JsonFormat));
    let config = NodeConfig::new(Network::Regtest);
    // What vlsd's init handler does for a new node.
    let us = Arc::new(Node::new(
        config,
        &seed,
        vec![],
        services(persister.clone()),
    ));
    us.add_allowlist(&[ALLOWLISTED.to_string()])
        .map_err(fail("allowlist"))?;
    persister
        .new_node(&us.get_id(), &config, &us.get_state())
        .map_err(|e| format!("new_node: {e:?}"))?;
    persister
        .new_tracker(&us.get_id(), &us.get_tracker())
        .map_err(|e| format!("new_tracker: {e:?}"))?;

    let peer = |name: &str| {
        Arc::new(Node::new(
            config,
            &tagged(&format!("peer {name}")),
            vec![],
            services(Arc::new(DummyPersister)),
        ))
    };
    let specs = [
        Spec {
            dbid: 1,
            peer: "A",
            we_open: true,
            capacity_sat: 1_000_000,
            commitment_type: CommitmentType::AnchorsZeroFeeHtlc,
        },
        Spec {
            dbid: 2,
            peer: "B",
            we_open: false,
            capacity_sat: 2_000_000,
            commitment_type: CommitmentType::StaticRemoteKey,
        },
        Spec {
            dbid: 3,
            peer: "C",
            we_open: true,
            capacity_sat: 500_000,
            commitment_type: CommitmentType::AnchorsZeroFeeHtlc,
        },
    ];

    // dbid 1: a payment out and one in, both pending.
    let peer_a_seed = tagged(&format!("peer {}", specs[0].peer));
    let (us1, them1) = open(&us, &peer(specs[0].peer), &specs[0])?;
    round(&us1, &them1, 0, 1_000_000, 0, &[], &[])?;
    round(&us1, &them1, 1, 900_000, 100_000, &[], &[])?;
    let (out_htlc, out_preimage) = htlc("outgoing", 20_000, 300);
    let (in_htlc, _) = htlc("incoming", 15_000, 310);
    // The invoice we are paying, so the signer tracks the payment.
    us.add_invoice(invoice(&peer_a_seed, &out_htlc)?)
        .map_err(fail("add_invoice"))?;
    round(
        &us1,
        &them1,
        2,
        880_000,
        85_000,
        std::slice::from_ref(&out_htlc),
        std::slice::from_ref(&in_htlc),
    )?;
    // The payee released the outgoing payment's preimage; the HTLC is still
    // on both commitments until the next update removes it.
    us1.node
        .with_channel(&us1.id, |c| {
            c.htlcs_fulfilled(vec![out_preimage]);
            Ok(())
        })
        .map_err(fail("htlcs_fulfilled"))?;
    persister
        .update_node(&us.get_id(), &us.get_state())
        .map_err(|e| format!("update_node: {e:?}"))?;

    // dbid 2: sixty commitments, payments going back and forth.
    let (us2, them2) = open(&us, &peer(specs[1].peer), &specs[1])?;
    for n in 0..60u64 {
        let to_us = (n % 7) * 10_000;
        round(&us2, &them2, n, to_us, 2_000_000 - to_us, &[], &[])?;
    }

    // dbid 3: funded, nothing sent yet.
    let (us3, them3) = open(&us, &peer(specs[2].peer), &specs[2])?;
    round(&us3, &them3, 0, 500_000, 0, &[], &[])?;

    // Seed file as vlsd writes it: hex, no newline, read-only.
    let seed_path = regtest.join("node.seed");
    std::fs::write(&seed_path, hex::encode(seed))
        .map_err(|e| format!("{}: {e}", seed_path.display()))?;
    let mut perm = std::fs::metadata(&seed_path)
        .map_err(|e| format!("{}: {e}", seed_path.display()))?
        .permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&seed_path, perm)
        .map_err(|e| format!("{}: {e}", seed_path.display()))?;
    println!("node {} written to {}", us.get_id(), regtest.display());
    Ok(())
}

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: vls-gen-fixture <output datadir>");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
