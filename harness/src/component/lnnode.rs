//! lnnode in a container, driven over its admin API: the LDK implementation
//! of the [`Node`](crate::node::Node) seam.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::bitcoind::Bitcoind;
use super::events::first_match;
use super::ready::wait_ready;
use super::vlsd::NODE_SIGNER_PORT;
use crate::contained::DATADIR;
use crate::container::{Container, ContainerSpec};
use crate::error::{HarnessError, Result};
use crate::node::{
    Balance, ChannelSummary, Invoice, Node, NodeEvent, NodeInfo, Payment, SignerChoice,
};
use crate::resources::Resources;
use crate::sync::lock;

pub const ADMIN_PORT: u16 = 8080;
/// lnnode's control endpoint (signer breakpoints), vlsd nodes only.
pub const CONTROL_PORT: u16 = 8081;

/// (node start time, last event sequence consumed).
pub type EventCursor = (u64, u64);
pub const P2P_PORT: u16 = 9735;

#[derive(Debug, Clone)]
pub struct LdkNodeBuilder {
    image: String,
    name: String,
    signer: SignerChoice,
    ready_timeout: Duration,
    defer_restored_validation: bool,
}

impl LdkNodeBuilder {
    /// Leave holder-commitment validation of restored channels to VLS's
    /// client, deferral and all (`lnnode --defer-restored-validation`).
    pub fn defer_restored_validation(mut self, on: bool) -> Self {
        self.defer_restored_validation = on;
        self
    }

    pub fn with_ready_timeout(mut self, t: Duration) -> Self {
        self.ready_timeout = t;
        self
    }

    /// Starts the container; call [`LdkNode::wait_ready`] before use. A vlsd
    /// node serves nothing until its vlsd has connected.
    pub async fn create(self, res: &Resources, bitcoind: &Bitcoind) -> Result<LdkNode> {
        let (user, password) = bitcoind.rpc_credentials();
        let mut cmd = vec![
            "--datadir".to_string(),
            DATADIR.to_string(),
            "--signer".to_string(),
            match self.signer {
                SignerChoice::Vlsd => "vlsd",
                SignerChoice::Local => "local",
            }
            .to_string(),
            "--signer-listen".to_string(),
            format!("0.0.0.0:{NODE_SIGNER_PORT}"),
            "--p2p-listen".to_string(),
            format!("0.0.0.0:{P2P_PORT}"),
            "--admin-listen".to_string(),
            format!("0.0.0.0:{ADMIN_PORT}"),
            "--bitcoind-rpc".to_string(),
            bitcoind.internal_rpc_url(),
            "--bitcoind-rpc-user".to_string(),
            user.to_string(),
            "--bitcoind-rpc-password-file".to_string(),
            "/run/bitcoind-rpc-password".to_string(),
            "--bitcoind-wallet".to_string(),
            self.name.clone(),
        ];
        if self.signer == SignerChoice::Vlsd {
            // The harness is lnnode's only client: it may hold signer requests.
            cmd.push("--control-listen".to_string());
            cmd.push(format!("0.0.0.0:{CONTROL_PORT}"));
            if self.defer_restored_validation {
                cmd.push("--defer-restored-validation".to_string());
            }
        }
        let spec = ContainerSpec::new(&self.name, &self.image)
            .with_cmd(cmd)
            .with_file(
                "/run/bitcoind-rpc-password",
                password.as_bytes().to_vec(),
                0o600,
            )
            .with_env("NO_COLOR", "1")
            .with_env("RUST_LOG", "info,ldk=debug,h2=warn,hyper=warn,tower=warn")
            .with_volume(format!("{}-data", self.name), DATADIR)
            .with_cap_add("NET_ADMIN")
            .with_stop_grace(Duration::from_secs(10));
        let container = res.start(spec).await?;
        Ok(LdkNode {
            container,
            signer: self.signer,
            ready_timeout: self.ready_timeout,
            // No idle connections kept: after a crash fault a pooled one
            // points at the killed container and a request on it waits out
            // the whole timeout (seen once in CI: a crash checkpoint's
            // readiness probe hung past the step's 90 s).
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .pool_max_idle_per_host(0)
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| HarnessError::component(&self.name, e.to_string()))?,
            cursor: Mutex::new((0, 0)),
        })
    }
}

pub struct LdkNode {
    container: Container,
    signer: SignerChoice,
    ready_timeout: Duration,
    http: reqwest::Client,
    cursor: Mutex<EventCursor>,
}

impl std::fmt::Debug for LdkNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdkNode")
            .field("container", &self.container)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl LdkNode {
    pub fn builder(image: &str, name: &str, signer: SignerChoice) -> LdkNodeBuilder {
        LdkNodeBuilder {
            image: image.to_string(),
            name: name.to_string(),
            signer,
            ready_timeout: Duration::from_secs(90),
            defer_restored_validation: false,
        }
    }

    pub fn container(&self) -> &Container {
        &self.container
    }

    pub fn signer(&self) -> SignerChoice {
        self.signer
    }

    /// `<name>:9735` on the run network.
    pub fn p2p_addr(&self) -> String {
        format!("{}:{P2P_PORT}", self.container.name())
    }

    async fn request<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T> {
        self.request_on(ADMIN_PORT, method, path, body).await
    }

    async fn request_on<T: DeserializeOwned>(
        &self,
        port: u16,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T> {
        call(
            &self.http,
            &self.container,
            port,
            method,
            path,
            body.as_ref(),
        )
        .await
    }

    /// A payment request that can be sent later, from a task of its own:
    /// it holds what it needs rather than borrowing the node.
    pub fn pay_request(&self, invoice: &str) -> PayRequest {
        PayRequest {
            http: self.http.clone(),
            container: self.container.clone(),
            invoice: invoice.to_string(),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.request(reqwest::Method::GET, path, None).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: Value) -> Result<T> {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    /// A signed copy of the node's current commitment of `channel_id` (and
    /// the HTLC transactions on it), as a cheater keeps one: local-signer
    /// nodes only.
    pub async fn stash(&self, channel_id: &str) -> Result<lnnode_api::Stash> {
        self.post(&format!("/v1/channels/{channel_id}/stash"), json!({}))
            .await
    }

    /// Spends the node's own output of a stashed commitment (a cheater's
    /// sweep); returns the txid.
    pub async fn sweep_stash(&self, descriptor_hex: &str) -> Result<String> {
        let r: lnnode_api::StashSweepReply = self
            .post(
                "/v1/stash/sweep",
                json!({ "descriptor_hex": descriptor_hex }),
            )
            .await?;
        Ok(r.txid)
    }

    /// Holds the `nth` signer request of type `request` the node makes from
    /// now on, at `at`, until [`LdkNode::release_breakpoint`].
    pub async fn arm_breakpoint(
        &self,
        request: &str,
        nth: u32,
        at: lnnode_api::SignerMoment,
    ) -> Result<lnnode_api::Breakpoint> {
        self.request_on(
            CONTROL_PORT,
            reqwest::Method::POST,
            "/v1/breakpoints",
            Some(json!({"request": request, "nth": nth, "at": at})),
        )
        .await
    }

    /// The breakpoint once hit (or released), or as it is after `timeout`.
    pub async fn breakpoint(&self, id: u64, timeout: Duration) -> Result<lnnode_api::Breakpoint> {
        let path = format!("/v1/breakpoints/{id}?timeout_ms={}", timeout.as_millis());
        self.request_on(CONTROL_PORT, reqwest::Method::GET, &path, None)
            .await
    }

    pub async fn release_breakpoint(&self, id: u64) -> Result<lnnode_api::Breakpoint> {
        let path = format!("/v1/breakpoints/{id}/release");
        self.request_on(CONTROL_PORT, reqwest::Method::POST, &path, Some(json!({})))
            .await
    }

    /// Waits until the admin API answers (for a vlsd node: vlsd connected too).
    pub async fn wait_ready(&self) -> Result<NodeInfo> {
        let what = format!("{}: admin API ready", self.container.name());
        wait_ready(&self.container, &what, self.ready_timeout, || async {
            self.get::<NodeInfo>("/v1/info")
                .await
                .map_err(|e| e.to_string())
        })
        .await
    }

    async fn next_events(&self, timeout: Duration) -> Result<Vec<NodeEvent>> {
        let mut cursor = *lock(&self.cursor);
        let events = self.poll_events(&mut cursor, timeout).await?;
        *lock(&self.cursor) = cursor;
        Ok(events)
    }

    /// Long-polls events after `cursor` and advances it. Independent of the
    /// cursor [`Node::wait_event`] consumes, so a watcher sees every event
    /// without taking any from the scenario's own waits. A restart of the
    /// node starts its sequence again; the cursor follows.
    pub async fn poll_events(
        &self,
        cursor: &mut EventCursor,
        timeout: Duration,
    ) -> Result<Vec<NodeEvent>> {
        // `started_at` lets a restarted node answer from its new sequence
        // at once, instead of waiting out the long poll on the old count.
        let path = format!(
            "/v1/events?after={}&timeout_ms={}&started_at={}",
            cursor.1,
            timeout.as_millis(),
            cursor.0
        );
        let reply: lnnode_api::Events = self.get(&path).await?;
        let mut last = if reply.started_at != cursor.0 {
            0
        } else {
            cursor.1
        };
        let mut events = Vec::new();
        for r in reply.events {
            if r.seq <= last {
                continue;
            }
            last = r.seq;
            events.push(r.event);
        }
        *cursor = (reply.started_at, last);
        Ok(events)
    }
}

impl Node for LdkNode {
    fn name(&self) -> &str {
        self.container.name()
    }

    fn info(&self) -> BoxFuture<'_, Result<NodeInfo>> {
        self.get("/v1/info").boxed()
    }

    fn connect<'a>(&'a self, node_id: &'a str, addr: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            let _: Value = self
                .post("/v1/peers", json!({"node_id": node_id, "addr": addr}))
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn open_channel<'a>(&'a self, node_id: &'a str, sat: u64) -> BoxFuture<'a, Result<String>> {
        async move {
            let v: Value = self
                .post(
                    "/v1/channels",
                    json!({"node_id": node_id, "amount_sat": sat}),
                )
                .await?;
            Ok(v.get("temporary_channel_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string())
        }
        .boxed()
    }

    fn channels(&self) -> BoxFuture<'_, Result<Vec<ChannelSummary>>> {
        self.get("/v1/channels").boxed()
    }

    fn close_channel<'a>(&'a self, channel_id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            let _: Value = self
                .post(&format!("/v1/channels/{channel_id}/close"), json!({}))
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn force_close_channel<'a>(&'a self, channel_id: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            let _: Value = self
                .post(&format!("/v1/channels/{channel_id}/force-close"), json!({}))
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn invoice<'a>(
        &'a self,
        msat: u64,
        hold_hash: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Invoice>> {
        let mut body = json!({"amount_msat": msat});
        if let Some(h) = hold_hash {
            body["payment_hash"] = json!(h);
        }
        async move { self.post("/v1/invoices", body).await }.boxed()
    }

    fn settle<'a>(&'a self, payment_hash: &'a str, preimage: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            let _: Value = self
                .post(
                    &format!("/v1/invoices/{payment_hash}/settle"),
                    json!({"preimage": preimage}),
                )
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn fail<'a>(&'a self, payment_hash: &'a str) -> BoxFuture<'a, Result<()>> {
        async move {
            let _: Value = self
                .post(&format!("/v1/invoices/{payment_hash}/fail"), json!({}))
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn pay<'a>(&'a self, invoice: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            let v: Value = self
                .post("/v1/payments", json!({"invoice": invoice}))
                .await?;
            Ok(v.get("payment_hash")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string())
        }
        .boxed()
    }

    fn payments(&self) -> BoxFuture<'_, Result<Vec<Payment>>> {
        self.get("/v1/payments").boxed()
    }

    fn balance(&self) -> BoxFuture<'_, Result<Balance>> {
        self.get("/v1/balance").boxed()
    }

    fn new_address(&self) -> BoxFuture<'_, Result<String>> {
        async move {
            let v: Value = self.post("/v1/address", json!({})).await?;
            Ok(v.get("address")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string())
        }
        .boxed()
    }

    fn wait_event<'a>(
        &'a self,
        what: &'a str,
        timeout: Duration,
        pred: &'a (dyn Fn(&NodeEvent) -> bool + Send + Sync),
    ) -> BoxFuture<'a, Result<NodeEvent>> {
        async move {
            // The long poll answers as soon as an event arrives; the whole
            // batch is consumed.
            let (event, _) = first_match(self.container.name(), what, timeout, pred, |t| {
                self.next_events(t)
            })
            .await?;
            Ok(event)
        }
        .boxed()
    }
}

/// One call of the node's HTTP API: the host port is looked up at each
/// call (it changes when the container restarts), and an error reply is
/// decoded into the API's error code and message.
async fn call<T: DeserializeOwned>(
    http: &reqwest::Client,
    container: &Container,
    port: u16,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<T> {
    let url = format!("http://{}{path}", container.address(port).await?);
    let mut req = http.request(method, &url);
    if let Some(b) = body {
        req = req.json(b);
    }
    let rpc = |reason: String| HarnessError::Rpc {
        component: container.name().to_string(),
        method: path.to_string(),
        reason,
    };
    let resp = req.send().await.map_err(|e| {
        if e.is_connect() {
            // Docker may have restarted it elsewhere on the network.
            container.forget_address();
        }
        rpc(format!("no answer: {}", with_causes(&e)))
    })?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| rpc(e.to_string()))?;
    if !status.is_success() {
        let (code, message) = match serde_json::from_slice::<lnnode_api::ErrorBody>(&bytes) {
            Ok(b) => (b.error.code, b.error.message),
            Err(_) => (
                "http".to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ),
        };
        return Err(HarnessError::NodeApi {
            node: container.name().to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            code,
            message,
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        rpc(format!(
            "unexpected answer ({e}): {}",
            String::from_utf8_lossy(&bytes)
        ))
    })
}

/// A payment to send from a task of its own ([`LdkNode::pay_request`]), so
/// a step can go on while the node is stuck on its signer.
pub struct PayRequest {
    http: reqwest::Client,
    container: Container,
    invoice: String,
}

impl PayRequest {
    /// Sends it; the payment hash the node answers with.
    pub async fn send(self) -> Result<String> {
        let v: Value = call(
            &self.http,
            &self.container,
            ADMIN_PORT,
            reqwest::Method::POST,
            "/v1/payments",
            Some(&json!({"invoice": self.invoice})),
        )
        .await?;
        Ok(v.get("payment_hash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }
}

/// An error with its causes (`connection refused`, `reset by peer`): a
/// request error alone says only that sending failed.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
