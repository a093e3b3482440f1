//! Where vlsd keeps things inside its datadir.
//!
//! vlsd writes `<datadir>/<network>/node.seed` (hex) beside its redb state
//! database `<datadir>/<network>/redb`; the seed lives apart from state so a
//! state backup can leave it out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::RecoveryError;

/// The networks vlsd knows, named as vlsd names its per-network subdirectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    Bitcoin,
    Testnet,
    Signet,
    Regtest,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Bitcoin => "bitcoin",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }
}

impl From<Network> for lightning_signer::bitcoin::Network {
    fn from(n: Network) -> Self {
        use lightning_signer::bitcoin::Network as Btc;
        match n {
            Network::Bitcoin => Btc::Bitcoin,
            Network::Testnet => Btc::Testnet,
            Network::Signet => Btc::Signet,
            Network::Regtest => Btc::Regtest,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = RecoveryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bitcoin" | "mainnet" => Ok(Network::Bitcoin),
            "testnet" => Ok(Network::Testnet),
            "signet" => Ok(Network::Signet),
            "regtest" => Ok(Network::Regtest),
            other => Err(RecoveryError::UnknownNetwork {
                given: other.to_string(),
            }),
        }
    }
}

/// Paths inside one vlsd datadir for one network. Works for host paths and,
/// with a `/`-rooted container path, for paths inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlsdDatadir {
    root: PathBuf,
    network: Network,
}

impl VlsdDatadir {
    pub fn new(root: impl Into<PathBuf>, network: Network) -> Self {
        VlsdDatadir {
            root: root.into(),
            network,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn network(&self) -> Network {
        self.network
    }

    pub fn network_dir(&self) -> PathBuf {
        self.root.join(self.network.as_str())
    }

    pub fn seed_path(&self) -> PathBuf {
        self.network_dir().join("node.seed")
    }

    pub fn state_db_path(&self) -> PathBuf {
        self.network_dir().join("redb")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_vlsd() {
        let d = VlsdDatadir::new("/data", Network::Regtest);
        assert_eq!(d.seed_path(), PathBuf::from("/data/regtest/node.seed"));
        assert_eq!(d.state_db_path(), PathBuf::from("/data/regtest/redb"));
    }

    #[test]
    fn network_round_trip() {
        for n in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Signet,
            Network::Regtest,
        ] {
            assert_eq!(n.as_str().parse::<Network>().ok(), Some(n));
        }
        assert!("lightning".parse::<Network>().is_err());
    }
}
