//! The plugin's calls back to lightningd: its JSON-RPC socket, one
//! connection per call, and the datastore records live in.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use cln_plugin::messages::Configuration;
use serde_json::{json, Value};

use crate::record::{Record, DATASTORE_ROOT};

#[derive(Debug, Clone)]
pub struct Lightningd {
    socket: PathBuf,
    pub network: String,
}

impl Lightningd {
    pub fn new(conf: &Configuration) -> Lightningd {
        Lightningd {
            // `rpc-file` is relative to the lightning directory unless absolute.
            socket: Path::new(&conf.lightning_dir).join(&conf.rpc_file),
            network: conf.network.clone(),
        }
    }

    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        let mut rpc = cln_rpc::ClnRpc::new(&self.socket)
            .await
            .with_context(|| format!("lightningd's RPC at {}", self.socket.display()))?;
        rpc.call_raw::<Value, Value>(method, &params)
            .await
            .map_err(|e| anyhow!("lightningd `{method}`: {}", e.message))
    }

    /// lightningd's `cltv-final`: what its own invoices ask of the last hop.
    pub async fn cltv_final(&self) -> Result<u64> {
        let r = self
            .call("listconfigs", json!({"config": "cltv-final"}))
            .await?;
        r.pointer("/configs/cltv-final/value_int")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("listconfigs: no `cltv-final` number in {r}"))
    }

    pub async fn sign_invoice(&self, invstring: &str) -> Result<String> {
        let r = self
            .call("signinvoice", json!({"invstring": invstring}))
            .await?;
        r.get("bolt11")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow!("signinvoice: no `bolt11` in {r}"))
    }

    /// Writes `record` under its payment hash; lightningd commits it to its
    /// database before it answers.
    pub async fn store(&self, hash: &str, record: &Record) -> Result<()> {
        let string = serde_json::to_string(record)?;
        self.call(
            "datastore",
            json!({"key": [DATASTORE_ROOT, hash], "string": string, "mode": "create-or-replace"}),
        )
        .await
        .map(drop)
    }

    /// Every record, by payment hash.
    pub async fn records(&self) -> Result<Vec<(String, Record)>> {
        let r = self
            .call("listdatastore", json!({"key": [DATASTORE_ROOT]}))
            .await?;
        let entries = r
            .get("datastore")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for e in entries {
            let key: Vec<&str> = e
                .get("key")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let [DATASTORE_ROOT, hash] = key[..] else {
                continue;
            };
            let text = e.get("string").and_then(Value::as_str).unwrap_or_default();
            let record = serde_json::from_str(text).with_context(|| {
                format!("datastore key {DATASTORE_ROOT}/{hash}: not a hold invoice record")
            })?;
            out.push((hash.to_string(), record));
        }
        Ok(out)
    }
}
