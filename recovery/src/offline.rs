//! The offline signer: vls-core's own `Node`, rebuilt from a snapshot and the
//! seed in memory, so recovery signs with the same code and policy as vlsd
//! without a vlsd running and without ever writing the operator's datadir.
//!
//! vls-core writes through its persister while it signs (the allowlist, the
//! tracker, a closed channel); here those writes land in an in-memory store
//! that is dropped with the signer.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::Arc;

use lightning_signer::bitcoin::secp256k1::PublicKey;
use lightning_signer::bitcoin::OutPoint;
use lightning_signer::channel::{Channel, ChannelId, ChannelSlot};
use lightning_signer::node::{Node, NodeServices};
use lightning_signer::persist::Persist;
use lightning_signer::policy::simple_validator::{
    make_default_simple_policy, SimpleValidatorFactory,
};
use lightning_signer::signer::ClockStartingTimeFactory;
use lightning_signer::util::clock::StandardClock;
use lightning_signer::util::status::Status;
use vls_persist::kvv::memory::MemoryKVVStore;
use vls_persist::kvv::{JsonFormat, KVVPersister, KVVStore, KVV};

use crate::{RecoveryError, Seed, Snapshot};

/// A vls-core node restored in memory from a snapshot.
pub struct OfflineSigner {
    node: Arc<Node>,
    /// Every ready channel once, by its first id (vls-core lists a channel
    /// under both its first and its permanent id).
    channels: Vec<ChannelId>,
    /// The same, by first id in hex (how plans name them).
    by_hex: BTreeMap<String, ChannelId>,
}

fn state_err(key: &str, reason: impl Into<String>) -> RecoveryError {
    RecoveryError::StateInvalid {
        source_name: "snapshot".into(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// A vls-core refusal or failure, with its policy tag when it has one.
pub(crate) fn status_err(what: &str, s: Status) -> RecoveryError {
    RecoveryError::PolicyRefused {
        what: what.to_string(),
        message: s.message().to_string(),
    }
}

impl OfflineSigner {
    /// Rebuilds the node of `snapshot` from `seed`. The seed must be the
    /// node's (checked first, vls-core would panic on a mismatch).
    pub fn restore(snapshot: &Snapshot, seed: &Seed) -> Result<OfflineSigner, RecoveryError> {
        snapshot.check_seed(seed)?;
        let network = snapshot.network()?;
        let raw = snapshot.raw_store()?;
        let node_key = |kind: &str| format!("node/{kind}/{}", snapshot.node_id);
        for required in ["entry", "state", "tracker"] {
            let key = node_key(required);
            if raw.entries.get(&key).is_none_or(|v| v.value.is_empty()) {
                return Err(state_err(
                    &key,
                    "missing; cannot rebuild the node without it",
                ));
            }
        }
        let store = MemoryKVVStore::new(raw.signer_id);
        let mut batch: Vec<KVV> = raw
            .entries
            .iter()
            .map(|(k, v)| KVV(k.clone(), (v.version, v.value.clone())))
            .collect();
        // vls-core panics on a node without an allowlist entry; an empty
        // list is what vlsd writes for a node started without --allowlist.
        let allowlist_key = node_key("allowlist");
        if raw
            .entries
            .get(&allowlist_key)
            .is_none_or(|v| v.value.is_empty())
        {
            let version = raw.entries.get(&allowlist_key).map_or(0, |v| v.version + 1);
            batch.push(KVV(
                allowlist_key,
                (version, br#"{"allowlist":[]}"#.to_vec()),
            ));
        }
        store
            .put_batch(batch)
            .map_err(|e| state_err("(store)", format!("{e:?}")))?;
        let persister: Arc<dyn Persist> = Arc::new(KVVPersister(store, JsonFormat));

        let node_id = PublicKey::from_str(&snapshot.node_id)
            .map_err(|e| state_err("node_id", e.to_string()))?;
        let mut nodes = persister
            .get_nodes()
            .map_err(|e| state_err("node/entry", format!("{e:?}")))?;
        let Some(pos) = nodes.iter().position(|(id, _)| *id == node_id) else {
            return Err(state_err(
                &node_key("entry"),
                "no entry for the snapshot's node",
            ));
        };
        let (_, entry) = nodes.swap_remove(pos);
        let services = NodeServices {
            validator_factory: Arc::new(SimpleValidatorFactory::new_with_policy(
                make_default_simple_policy(network.into()),
            )),
            starting_time_factory: ClockStartingTimeFactory::new(),
            persister,
            clock: Arc::new(StandardClock()),
            trusted_oracle_pubkeys: vec![],
        };
        // vls-core asserts the consistency of what it restores (every channel
        // has a chain listener and back); a state that breaks one is damaged,
        // and the operator gets that as an error, not a crash.
        let seed_bytes = seed.as_bytes();
        let node = catch_unwind(AssertUnwindSafe(|| {
            Node::restore_node(&node_id, entry, seed_bytes, services)
        }))
        .map_err(|p| {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "inconsistent state".into());
            state_err("(node)", format!("vls-core refused to restore it: {what}"))
        })?
        .map_err(|s| state_err("(node)", s.message().to_string()))?;

        let mut channels = Vec::new();
        for (id, slot) in node.get_channels().iter() {
            let Ok(slot) = slot.lock() else {
                return Err(RecoveryError::Internal {
                    reason: "channel lock poisoned".into(),
                });
            };
            if let ChannelSlot::Ready(c) = &*slot {
                if c.id0 == *id {
                    channels.push(id.clone());
                }
            }
        }
        let by_hex = channels
            .iter()
            .map(|id| (hex::encode(id.as_slice()), id.clone()))
            .collect();
        Ok(OfflineSigner {
            node,
            channels,
            by_hex,
        })
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The ready channels (set up, so with keys to sign), by first id.
    pub fn channels(&self) -> &[ChannelId] {
        &self.channels
    }

    /// The ready channel whose first id is `id0_hex`.
    pub fn channel(&self, id0_hex: &str) -> Option<&ChannelId> {
        self.by_hex.get(id0_hex)
    }

    /// Every ready channel's funding outpoint.
    pub fn funding_outpoints(&self) -> Result<Vec<OutPoint>, RecoveryError> {
        self.channels
            .iter()
            .map(|id| self.with_channel(id, |c| Ok(c.setup.funding_outpoint)))
            .collect()
    }

    /// Lets vls-core's policy send sweeps to `destination` (an address of the
    /// node's network). In memory only.
    pub fn allow_destination(&self, destination: &str) -> Result<(), RecoveryError> {
        self.node
            .add_allowlist(&[destination.to_string()])
            .map_err(|s| RecoveryError::Usage {
                reason: format!(
                    "destination `{destination}`: not an address of this network: {}",
                    s.message()
                ),
            })
    }

    /// Runs `f` on the channel `id`.
    pub fn with_channel<T>(
        &self,
        id: &ChannelId,
        f: impl FnOnce(&mut Channel) -> Result<T, RecoveryError>,
    ) -> Result<T, RecoveryError> {
        let mut out = None;
        self.node
            .with_channel(id, |c| {
                out = Some(f(c));
                Ok(())
            })
            .map_err(|s| state_err(&format!("channel {id}"), s.message().to_string()))?;
        out.unwrap_or_else(|| {
            Err(RecoveryError::Internal {
                reason: format!("channel {id}: not visited"),
            })
        })
    }
}
