//! A lost lightningd brought back as Core Lightning's own documentation
//! tells an operator to: a new database on the same signer, a rescan of
//! the chain from before its channels opened (so the wallet finds its old
//! coins), and the static channel backup fed to `recoverchannel`, which
//! makes a stub of each channel for its peer to close. And `withdraw`,
//! which spends the wallet through the signer.

use serde_json::{json, Value};

use super::observe::str_of;
use super::{ClnNode, CONF};
use crate::contained::DATADIR;
use crate::error::{HarnessError, Result};
use crate::node::Node;

impl ClnNode {
    /// Where lightningd keeps its database: the file whose loss
    /// `recoverchannel` is for.
    pub fn database_path() -> String {
        format!("{DATADIR}/regtest/lightningd.sqlite3")
    }

    /// Has lightningd read the chain from `height` on at its next start
    /// (and every start after): a config line, as an operator adds it.
    pub async fn rescan_on_next_start(&self, height: u64) -> Result<()> {
        let c = self.container();
        let conf = c.read_file(CONF).await?;
        let mut text = String::from_utf8_lossy(&conf).into_owned();
        // A negative rescan is an absolute height; on a new database a
        // positive one would count back from the tip of a chain it has
        // never seen and start there.
        text.push_str(&format!("rescan=-{}\n", height.max(1)));
        c.upload(&[(CONF.to_string(), text.into_bytes(), 0o600)])
            .await
    }

    /// `recoverchannel`: the channel ids lightningd made stubs of.
    pub async fn recover_channels(&self, scb: &[String]) -> Result<Vec<String>> {
        let r = self.call("recoverchannel", json!({ "scb": scb })).await?;
        let stubs = r
            .get("stubs")
            .and_then(Value::as_array)
            .ok_or_else(|| self.unexpected("recoverchannel", &r, "a `stubs` list"))?;
        Ok(stubs
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect())
    }

    /// Spends every confirmed coin of the wallet to `address` (the signer
    /// signs each input); the transaction id.
    pub async fn withdraw_all(&self, address: &str) -> Result<String> {
        let r = self
            .call(
                "withdraw",
                json!({ "destination": address, "satoshi": "all" }),
            )
            .await?;
        let txid = str_of(&r, "txid");
        if txid.is_empty() {
            return Err(self.unexpected("withdraw", &r, "a `txid`"));
        }
        Ok(txid.to_string())
    }

    fn unexpected(&self, method: &str, got: &Value, wanted: &str) -> HarnessError {
        HarnessError::NodeApi {
            node: self.name().to_string(),
            path: method.to_string(),
            status: 0,
            code: "unexpected_reply".to_string(),
            message: format!("expected {wanted}, got {got}"),
        }
    }
}
