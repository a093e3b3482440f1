//! Real channel states without a network: our node and each peer are
//! vls-core `Node`s in this process, driven through channel setup and the
//! BOLT 2 commitment dance (each side signs the other's commitment,
//! validates its own, revokes the previous one). Both sides run vls-core's
//! validation, so every state is one vlsd could hold.
//!
//! Used by the fixture generator, the tests and the benchmarks; operators
//! never need it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lightning_signer::bitcoin::absolute::LockTime;
use lightning_signer::bitcoin::bip32::DerivationPath;
use lightning_signer::bitcoin::hashes::sha256::Hash as Sha256Hash;
use lightning_signer::bitcoin::hashes::Hash;
use lightning_signer::bitcoin::secp256k1::Secp256k1;
use lightning_signer::bitcoin::transaction::Version;
use lightning_signer::bitcoin::{
    Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use lightning_signer::channel::{Channel, ChannelBase, ChannelId, ChannelSetup, CommitmentType};
use lightning_signer::invoice::Invoice;
use lightning_signer::lightning::ln::chan_utils::make_funding_redeemscript;
use lightning_signer::lightning::types::payment::{PaymentHash, PaymentPreimage};
use lightning_signer::lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use lightning_signer::node::{Node, NodeConfig, NodeServices};
use lightning_signer::persist::{DummyPersister, Persist};
use lightning_signer::policy::filter::PolicyFilter;
use lightning_signer::policy::simple_validator::{
    make_default_simple_policy, SimpleValidatorFactory,
};
use lightning_signer::signer::derive::{key_derive, KeyDerivationStyle};
use lightning_signer::signer::ClockStartingTimeFactory;
use lightning_signer::tx::tx::HTLCInfo2;
use lightning_signer::util::clock::StandardClock;
use lightning_signer::util::status::Status;
use vls_persist::kvv::memory::MemoryKVVStore;
use vls_persist::kvv::{JsonFormat, KVVPersister, KVVStore, KVV};

use crate::preimage::Preimages;
use crate::store::{RawStore, Versioned};
use crate::{RecoveryError, Snapshot};

/// A 32-byte value derived from `tag` (seeds, preimages, fake txids).
pub fn tagged(tag: &str) -> [u8; 32] {
    Sha256Hash::hash(format!("vls-chaos fixture: {tag}").as_bytes()).to_byte_array()
}

/// Node services with real validation whose policy findings are warnings:
/// generated HTLCs have no invoices behind them, which strict policy refuses.
pub fn services(persister: Arc<dyn Persist>) -> NodeServices {
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

/// An HTLC of `value_sat` and its preimage, derived from `tag`.
pub fn htlc(tag: &str, value_sat: u64, cltv_expiry: u32) -> (HTLCInfo2, PaymentPreimage) {
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

/// A peer node (nothing of it is persisted).
pub fn peer(name: &str) -> Arc<Node> {
    Arc::new(Node::new(
        NodeConfig::new(Network::Regtest),
        &tagged(&format!("peer {name}")),
        vec![],
        services(Arc::new(DummyPersister)),
    ))
}

/// The shape of a channel to open.
#[derive(Debug, Clone)]
pub struct Spec {
    pub dbid: u64,
    pub peer: String,
    pub we_open: bool,
    pub capacity_sat: u64,
    pub commitment_type: CommitmentType,
    /// The CSV delay each side imposes on the other.
    pub to_self_delay: u16,
}

/// One channel seen from both ends.
pub struct Pair {
    pub us: Arc<Node>,
    pub ours: ChannelId,
    pub peer: Arc<Node>,
    pub theirs: ChannelId,
}

/// Where a channel's funding output is: made from the funding script
/// (p2wsh) and the capacity.
pub type FundingFn<'a> = &'a dyn Fn(&ScriptBuf, u64) -> OutPoint;

/// A funding transaction paying `capacity_sat` to `funding_spk`, spending a
/// made-up coin (nothing checks its input).
pub fn funding_tx(tag: &str, funding_spk: &ScriptBuf, capacity_sat: u64) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array(tagged(&format!("coin {tag}"))),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(capacity_sat),
            script_pubkey: funding_spk.clone(),
        }],
    }
}

/// Opens `spec` between `us` and a new peer; `funding` places the output.
pub fn open(
    us: &Arc<Node>,
    peer: Arc<Node>,
    spec: &Spec,
    funding: FundingFn,
) -> Result<Pair, String> {
    let us_id = us.get_id().serialize();
    let peer_id = peer.get_id().serialize();
    let (ours, _) = us
        .new_channel(spec.dbid, &peer_id, us)
        .map_err(fail("new_channel (ours)"))?;
    let (theirs, _) = peer
        .new_channel(spec.dbid, &us_id, &peer)
        .map_err(fail("new_channel (theirs)"))?;
    let our_points = us
        .with_channel_base(&ours, |c| Ok(c.get_channel_basepoints()))
        .map_err(fail("our basepoints"))?;
    let their_points = peer
        .with_channel_base(&theirs, |c| Ok(c.get_channel_basepoints()))
        .map_err(fail("their basepoints"))?;
    let funding_spk =
        make_funding_redeemscript(&our_points.funding_pubkey, &their_points.funding_pubkey)
            .to_p2wsh();
    let funding_outpoint = funding(&funding_spk, spec.capacity_sat);
    let setup = |outbound: bool, points| ChannelSetup {
        is_outbound: outbound,
        channel_value_sat: spec.capacity_sat,
        push_value_msat: 0,
        funding_outpoint,
        holder_selected_contest_delay: spec.to_self_delay,
        holder_shutdown_script: None,
        counterparty_points: points,
        counterparty_selected_contest_delay: spec.to_self_delay,
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
    Ok(Pair {
        us: us.clone(),
        ours,
        peer,
        theirs,
    })
}

/// One commitment round, both ways, at number `n`: `to_us`/`to_them` are
/// the main balances, `offered`/`received` the HTLCs from our side.
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

/// `node`'s latest holder commitment on `id`, signed by vls-core's
/// recovery path (without marking the channel closed).
fn latest_commitment(node: &Node, id: &ChannelId) -> Result<Transaction, Status> {
    node.with_channel(id, |c| crate::sweep::sign_latest_holder_commitment(c, 0))
}

impl Pair {
    /// Moves both sides to commitment `n`.
    pub fn round(
        &self,
        n: u64,
        to_us: u64,
        to_them: u64,
        offered: &[HTLCInfo2],
        received: &[HTLCInfo2],
    ) -> Result<(), String> {
        self.us
            .with_channel(&self.ours, |a| {
                self.peer.with_channel(&self.theirs, |b| {
                    next_state(a, b, n, to_us, to_them, offered, received)
                })
            })
            .map_err(fail(&format!("commitment {n}")))
    }

    /// The peer signs our commitment `n` and we validate it, and the round
    /// stops there: we have not revoked `n - 1` (a crash between the
    /// peer's commitment_signed and our revoke_and_ack). vls-core then holds
    /// `n` as its pending next holder commitment.
    pub fn half_round(
        &self,
        n: u64,
        to_us: u64,
        to_them: u64,
        offered: &[HTLCInfo2],
        received: &[HTLCInfo2],
    ) -> Result<(), String> {
        self.us
            .with_channel(&self.ours, |a| {
                self.peer.with_channel(&self.theirs, |b| {
                    let point = a.get_per_commitment_point(n)?;
                    let (sig, htlc_sigs) = b.sign_counterparty_commitment_tx_phase2(
                        &point,
                        n,
                        0,
                        to_them,
                        to_us,
                        offered.to_vec(),
                        received.to_vec(),
                    )?;
                    a.validate_holder_commitment_tx_phase2(
                        n,
                        0,
                        to_us,
                        to_them,
                        offered.to_vec(),
                        received.to_vec(),
                        &sig,
                        &htlc_sigs,
                    )
                })
            })
            .map_err(fail(&format!("half of commitment {n}")))
    }

    /// The peer's latest commitment, fully signed, as the peer would
    /// broadcast it (for tests of what we do when they close).
    pub fn their_commitment(&self) -> Result<Transaction, String> {
        latest_commitment(&self.peer, &self.theirs).map_err(fail("their commitment"))
    }

    /// The peer's second-stage transactions for every HTLC output of its
    /// latest commitment, fully signed (our signatures from the commitment
    /// round, the peer's own): HTLC-success where `preimages` has the
    /// preimage, HTLC-timeout for the ones it offered. What a cheater
    /// broadcasts after its revoked commitment.
    pub fn their_htlc_txs(&self, preimages: &Preimages) -> Result<Vec<Transaction>, String> {
        self.peer
            .with_channel(&self.theirs, |c| {
                let number = c.enforcement_state.next_holder_commit_num.saturating_sub(1);
                let count = crate::fate::holder_htlcs(c, &Secp256k1::new(), number)
                    .map_or(0, |h| h.htlcs.len());
                Ok((0..count)
                    .map(|i| crate::sweep::holder_htlc(c, number, i, preimages, None, "peer"))
                    .collect::<Vec<_>>())
            })
            .map_err(fail("their HTLC transactions"))?
            .into_iter()
            .filter_map(|r| match r {
                Ok((tx, _)) => Some(Ok(tx)),
                // An HTLC-success whose preimage the peer lacks.
                Err(RecoveryError::Usage { .. }) => None,
                Err(e) => Some(Err(e.to_string())),
            })
            .collect()
    }

    /// Our latest commitment, fully signed.
    pub fn our_commitment(&self) -> Result<Transaction, String> {
        latest_commitment(&self.us, &self.ours).map_err(fail("our commitment"))
    }
}

/// A BOLT 11 invoice for `h`, signed by the node of `payee_seed`.
pub fn invoice(payee_seed: &[u8; 32], h: &HTLCInfo2) -> Result<Invoice, String> {
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

/// An address the fixture node allowlists, as vlsd's `--allowlist` would.
pub const FIXTURE_ALLOWLISTED: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// A new node for `seed`, persisted through `persister` as vlsd's init
/// handler does for a new node.
pub fn new_node(seed: &[u8; 32], persister: Arc<dyn Persist>) -> Result<Arc<Node>, String> {
    let config = NodeConfig::new(Network::Regtest);
    let us = Arc::new(Node::new(config, seed, vec![], services(persister.clone())));
    us.add_allowlist(&[FIXTURE_ALLOWLISTED.to_string()])
        .map_err(fail("allowlist"))?;
    persister
        .new_node(&us.get_id(), &config, &us.get_state())
        .map_err(|e| format!("new_node: {e:?}"))?;
    persister
        .new_tracker(&us.get_id(), &us.get_tracker())
        .map_err(|e| format!("new_tracker: {e:?}"))?;
    Ok(us)
}

/// Called after each commitment round of [`fixture`] with the channel's
/// dbid, the commitment number and the pair (to capture peer state the
/// persisted fixture does not hold).
pub type RoundHook<'a> = &'a mut dyn FnMut(u64, u64, &Pair) -> Result<(), String>;

/// The fixture's node and its three channels (see `vls-gen-fixture`),
/// persisted through `persister`. Deterministic: the same seed gives the
/// same keys, commitments and secrets every time.
pub fn fixture(
    seed: &[u8; 32],
    persister: Arc<dyn Persist>,
    hook: RoundHook,
) -> Result<Arc<Node>, String> {
    let us = new_node(seed, persister.clone())?;
    let spec = |dbid: u64, name: &str, we_open, capacity_sat, commitment_type| Spec {
        dbid,
        peer: name.to_string(),
        we_open,
        capacity_sat,
        commitment_type,
        to_self_delay: 144,
    };
    // Made-up funding outpoints: the fixture is state only, no chain.
    let fake = |name: &'static str, dbid: u64| {
        move |_: &ScriptBuf, _: u64| OutPoint {
            txid: Txid::from_byte_array(tagged(&format!("funding {name}"))),
            vout: dbid as u32 - 1,
        }
    };

    // We open the anchor channels, so our balance pays their two anchors
    // (fee rate 0, so nothing else): the outputs add up to the capacity.
    let anchors = 2 * 330;

    // dbid 1: a payment out and one in, both pending.
    let a = spec(1, "A", true, 1_000_000, CommitmentType::AnchorsZeroFeeHtlc);
    let pair1 = open(&us, peer("A"), &a, &fake("A", 1))?;
    pair1.round(0, 1_000_000 - anchors, 0, &[], &[])?;
    hook(1, 0, &pair1)?;
    pair1.round(1, 900_000 - anchors, 100_000, &[], &[])?;
    hook(1, 1, &pair1)?;
    let (out_htlc, out_preimage) = htlc("outgoing", 20_000, 300);
    let (in_htlc, _) = htlc("incoming", 15_000, 310);
    // The invoice we are paying, so the signer tracks the payment.
    us.add_invoice(invoice(&tagged("peer A"), &out_htlc)?)
        .map_err(fail("add_invoice"))?;
    pair1.round(
        2,
        880_000 - anchors,
        85_000,
        std::slice::from_ref(&out_htlc),
        std::slice::from_ref(&in_htlc),
    )?;
    hook(1, 2, &pair1)?;
    // The payee released the outgoing payment's preimage; the HTLC is still
    // on both commitments until the next update removes it.
    us.with_channel(&pair1.ours, |c| {
        c.htlcs_fulfilled(vec![out_preimage]);
        Ok(())
    })
    .map_err(fail("htlcs_fulfilled"))?;
    persister
        .update_node(&us.get_id(), &us.get_state())
        .map_err(|e| format!("update_node: {e:?}"))?;

    // dbid 2: sixty commitments, payments going back and forth.
    let b = spec(2, "B", false, 2_000_000, CommitmentType::StaticRemoteKey);
    let pair2 = open(&us, peer("B"), &b, &fake("B", 2))?;
    for n in 0..60u64 {
        let to_us = (n % 7) * 10_000;
        pair2.round(n, to_us, 2_000_000 - to_us, &[], &[])?;
        hook(2, n, &pair2)?;
    }

    // dbid 3: funded, nothing sent yet.
    let c = spec(3, "C", true, 500_000, CommitmentType::AnchorsZeroFeeHtlc);
    let pair3 = open(&us, peer("C"), &c, &fake("C", 3))?;
    pair3.round(0, 500_000 - anchors, 0, &[], &[])?;
    hook(3, 0, &pair3)?;
    Ok(us)
}

/// A node's store kept in memory, readable as a [`Snapshot`].
pub struct MemoryState(Arc<KVVPersister<MemoryKVVStore, JsonFormat>>);

impl Default for MemoryState {
    fn default() -> Self {
        MemoryState::new()
    }
}

impl MemoryState {
    pub fn new() -> MemoryState {
        MemoryState(Arc::new(KVVPersister(
            MemoryKVVStore::new(tagged("signer id")[..16].try_into().unwrap_or([0; 16])),
            JsonFormat,
        )))
    }

    pub fn persister(&self) -> Arc<dyn Persist> {
        self.0.clone()
    }

    /// What the store holds now, as a snapshot of the node's state.
    pub fn snapshot(&self) -> Result<Snapshot, RecoveryError> {
        let store = &self.0 .0;
        let entries = store
            .get_prefix("")
            .map_err(|e| RecoveryError::Internal {
                reason: format!("memory store: {e:?}"),
            })?
            .map(|KVV(key, (version, value))| (key, Versioned { version, value }))
            .collect();
        let raw = RawStore {
            signer_id: store.signer_id(),
            entries,
        };
        Snapshot::from_store(&raw, crate::Network::Regtest, "testbed")
    }
}

/// What peer `dbid` of the fixture signed as its commitment `number`: the
/// fixture is rebuilt in memory (deterministically) to get it, since the
/// committed fixture holds our state only.
pub fn fixture_their_commitment(dbid: u64, number: u64) -> Result<Transaction, String> {
    let mut found = None;
    let state = MemoryState::new();
    fixture(
        &tagged("node seed"),
        state.persister(),
        &mut |d, n, pair| {
            if d == dbid && n == number {
                found = Some(pair.their_commitment()?);
            }
            Ok(())
        },
    )?;
    found.ok_or_else(|| format!("the fixture has no commitment {number} on dbid {dbid}"))
}
