//! lightningd's JSON-RPC, reached from the host through its unix socket in
//! a directory bind-mounted into the container. One connection per call:
//! `cln-rpc` reads the next frame as the reply, so calls that block
//! (`pay`, `close`) must not share a connection with anything else, and a
//! restarted lightningd needs a new connection anyway.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::error::{HarnessError, Result};

/// How long one call may take before it counts as unanswered (a stuck
/// signer makes lightningd wait; the step's own timeout is longer).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct Rpc {
    node: String,
    socket: PathBuf,
}

impl Rpc {
    pub fn new(node: &str, socket: PathBuf) -> Rpc {
        Rpc {
            node: node.to_string(),
            socket,
        }
    }

    /// Calls `method` with named `params`; an error reply keeps
    /// lightningd's code and message.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.call_within(method, params, CALL_TIMEOUT).await
    }

    pub async fn call_within(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value> {
        let rpc = |reason: String| HarnessError::Rpc {
            component: self.node.clone(),
            method: method.to_string(),
            reason,
        };
        let work = async {
            let mut client = cln_rpc::ClnRpc::new(&self.socket)
                .await
                .map_err(|e| rpc(format!("no answer on {}: {e}", self.socket.display())))?;
            client
                .call_raw::<Value, Value>(method, &params)
                .await
                .map_err(|e| match e.code {
                    Some(code) => HarnessError::NodeApi {
                        node: self.node.clone(),
                        path: method.to_string(),
                        status: 0,
                        code: code.to_string(),
                        message: e.message,
                    },
                    // No code: no reply came (the connection ended, e.g.
                    // lightningd died mid-call), as over any transport.
                    None => rpc(e.message),
                })
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| rpc(format!("no reply within {timeout:?}")))?
    }
}
