//! Shared by the integration tests: the committed fixture, copied before use
//! (redb writes to a database it opens), and vlsd's own start-up path.
#![allow(dead_code)]

pub mod channels;
pub mod host;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightning_signer::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning_signer::channel::ChannelId;
use lightning_signer::node::{Node, NodeServices};
use lightning_signer::persist::Persist;
use lightning_signer::policy::filter::PolicyFilter;
use lightning_signer::policy::simple_validator::{
    make_default_simple_policy, SimpleValidatorFactory,
};
use lightning_signer::signer::ClockStartingTimeFactory;
use lightning_signer::util::clock::StandardClock;
use vls_persist::kvv::redb::RedbKVVStore;
use vls_persist::kvv::{JsonFormat, KVVPersister};
use vls_recovery::{Network, Seed, Snapshot, VlsdDatadir};

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vlsd-regtest-3ch")
}

/// A private copy of the fixture datadir under `dst`.
pub fn copy_fixture(dst: &Path) -> VlsdDatadir {
    let from = fixture().join("regtest");
    let to = dst.join("regtest");
    std::fs::create_dir_all(&to).expect("mkdir");
    for name in ["redb", "node.seed"] {
        std::fs::copy(from.join(name), to.join(name)).expect("copy fixture");
    }
    VlsdDatadir::new(dst, Network::Regtest)
}

pub fn fixture_snapshot() -> Snapshot {
    let dir = tempfile::tempdir().expect("tempdir");
    Snapshot::load(&copy_fixture(dir.path())).expect("fixture snapshot")
}

pub fn fixture_seed() -> Seed {
    Seed::from_file(&fixture().join("regtest/node.seed")).expect("fixture seed")
}

/// Opens a datadir the way vlsd does at start: vls-persist's redb store,
/// `get_nodes`, `Node::restore_node` (which loads every channel).
pub fn start_like_vlsd(d: &VlsdDatadir, seed: &Seed) -> Arc<Node> {
    let persister: Arc<dyn Persist> =
        Arc::new(KVVPersister(RedbKVVStore::new(d.network_dir()), JsonFormat));
    let mut nodes = persister.get_nodes().expect("get_nodes");
    assert_eq!(nodes.len(), 1, "one node per datadir");
    let (id, entry) = nodes.remove(0);
    let mut policy = make_default_simple_policy(lightning_signer::bitcoin::Network::Regtest);
    policy.filter = PolicyFilter::new_permissive();
    let services = NodeServices {
        validator_factory: Arc::new(SimpleValidatorFactory::new_with_policy(policy)),
        starting_time_factory: ClockStartingTimeFactory::new(),
        persister,
        clock: Arc::new(StandardClock()),
        trusted_oracle_pubkeys: vec![],
    };
    Node::restore_node(&id, entry, seed.as_bytes(), services).expect("restore_node")
}

/// Moves the datadir's state past the fixture for real: the signer signs the
/// counterparty's next commitment on the dbid 3 channel and persists it.
pub fn advance_dbid3(d: &VlsdDatadir, seed: &Seed) {
    let snap = Snapshot::load(d).expect("snapshot before");
    let c = snap
        .channels
        .iter()
        .find(|c| c.label().ends_with("dbid 3"))
        .expect("dbid 3");
    let id0 = ChannelId::new(&hex::decode(&c.id0).expect("id0"));
    let node = start_like_vlsd(d, seed);
    let secp = Secp256k1::new();
    let point = PublicKey::from_secret_key(&secp, &SecretKey::from_slice(&[7; 32]).expect("key"));
    node.with_channel(&id0, |ch| {
        ch.sign_counterparty_commitment_tx_phase2(&point, 1, 0, 500_000, 0, vec![], vec![])
            .map(|_| ())
    })
    .expect("sign next counterparty commitment");
}

/// The fixture's snapshot, and a live copy a real signer moved past it.
pub struct Advanced {
    pub old: Snapshot,
    pub newer: Snapshot,
    pub datadir: VlsdDatadir,
    pub _dir: tempfile::TempDir,
}

pub fn advanced() -> Advanced {
    let old = fixture_snapshot();
    let dir = tempfile::tempdir().expect("tempdir");
    let datadir = copy_fixture(dir.path());
    advance_dbid3(&datadir, &fixture_seed());
    let newer = Snapshot::load(&datadir).expect("newer");
    Advanced {
        old,
        newer,
        datadir,
        _dir: dir,
    }
}
