//! The harness's control endpoint: signer breakpoints, on a listener and a
//! thread of their own.
//!
//! A held signer request keeps LDK's channel locks, and the node's async
//! tasks that touch LDK then wait on those locks and can take every worker
//! of the main runtime with them. The control endpoint must still answer
//! then (the harness learns of the hit and releases it from here), so it
//! shares nothing with the main runtime and touches only the breakpoints.
//!
//! Routes (JSON): `POST /v1/breakpoints` [`BreakpointRequest`] -> [`Breakpoint`];
//! `GET /v1/breakpoints/:id?timeout_ms=M` -> [`Breakpoint`] once hit or
//! released (or as it is at the timeout); `POST /v1/breakpoints/:id/release`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lnnode_api::{Breakpoint, BreakpointRequest, ErrorBody, ErrorDetail};
use serde::Deserialize;

use crate::signer::breakpoint::Breakpoints;
use crate::signer::transport::is_request_name;

/// Longest long poll a caller may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

struct ControlError(StatusCode, &'static str, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.1.to_string(),
                message: self.2,
            },
        };
        (self.0, Json(body)).into_response()
    }
}

fn unknown(id: u64) -> ControlError {
    ControlError(
        StatusCode::NOT_FOUND,
        "unknown_breakpoint",
        format!("no breakpoint {id} (armed before a restart?)"),
    )
}

async fn arm(
    State(b): State<Arc<Breakpoints>>,
    Json(r): Json<BreakpointRequest>,
) -> Result<Json<Breakpoint>, ControlError> {
    if r.nth == 0 {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "nth: expected 1 or more".to_string(),
        ));
    }
    if !is_request_name(&r.request) {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "request `{}` is not a VLS protocol request type (e.g. ValidateCommitmentTx2)",
                r.request
            ),
        ));
    }
    Ok(Json(b.arm(r)))
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    timeout_ms: u64,
}

async fn wait(
    State(b): State<Arc<Breakpoints>>,
    Path(id): Path<u64>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<Breakpoint>, ControlError> {
    let timeout = Duration::from_millis(q.timeout_ms).min(MAX_WAIT);
    b.wait(id, timeout)
        .await
        .map(Json)
        .ok_or_else(|| unknown(id))
}

async fn release(
    State(b): State<Arc<Breakpoints>>,
    Path(id): Path<u64>,
) -> Result<Json<Breakpoint>, ControlError> {
    b.release(id).map(Json).ok_or_else(|| unknown(id))
}

pub fn router(breakpoints: Arc<Breakpoints>) -> Router {
    Router::new()
        .route("/v1/breakpoints", post(arm))
        .route("/v1/breakpoints/:id", get(wait))
        .route("/v1/breakpoints/:id/release", post(release))
        .with_state(breakpoints)
}

/// Serves the control endpoint on a thread with its own runtime. Returns
/// once the port is bound.
pub fn spawn(breakpoints: Arc<Breakpoints>, addr: SocketAddr) -> anyhow::Result<()> {
    spawn_on(breakpoints, std::net::TcpListener::bind(addr)?)?;
    tracing::info!(%addr, "control endpoint (signer breakpoints) listening");
    Ok(())
}

fn spawn_on(breakpoints: Arc<Breakpoints>, listener: std::net::TcpListener) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("control".to_string())
        .spawn(move || {
            runtime.block_on(async move {
                let served = async {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    axum::serve(listener, router(breakpoints)).await
                };
                if let Err(e) = served.await {
                    tracing::error!(error = %e, "control endpoint stopped");
                }
            })
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use lnnode_api::SignerMoment;

    use super::*;
    use crate::signer::breakpoint::Passing;

    /// The endpoint on a port of its own, and a client for it.
    fn serve() -> (Arc<Breakpoints>, String, reqwest::Client) {
        let b = Arc::new(Breakpoints::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        spawn_on(b.clone(), listener).expect("spawn");
        (b, url, reqwest::Client::new())
    }

    async fn poll(http: &reqwest::Client, url: &str, id: u64, timeout_ms: u64) -> Breakpoint {
        http.get(format!("{url}/v1/breakpoints/{id}?timeout_ms={timeout_ms}"))
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("json")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn arms_reports_the_hit_and_releases() {
        let (b, url, http) = serve();
        let armed: Breakpoint = http
            .post(format!("{url}/v1/breakpoints"))
            .json(&serde_json::json!({"request": "ValidateRevocation", "nth": 1, "at": "reply"}))
            .send()
            .await
            .expect("arm")
            .json()
            .await
            .expect("json");
        let not_yet = poll(&http, &url, armed.id, 10).await;
        assert!(not_yet.hit.is_none());
        let held = {
            let b = b.clone();
            std::thread::spawn(move || {
                b.pass(Passing {
                    request: "ValidateRevocation",
                    moment: SignerMoment::Reply,
                    dbid: Some(3),
                    detail: &|| {
                        "ValidateRevocation: counterparty revocation of commitment 1".into()
                    },
                })
            })
        };
        let hit = poll(&http, &url, armed.id, 10_000).await;
        assert_eq!(hit.hit.map(|h| h.dbid), Some(Some(3)));
        assert!(!held.is_finished());
        let released = http
            .post(format!("{url}/v1/breakpoints/{}/release", armed.id))
            .send()
            .await
            .expect("release");
        assert!(released.status().is_success());
        held.join().expect("the held request goes on");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_unknown_requests_and_breakpoints() {
        let (_, url, http) = serve();
        let bad = http
            .post(format!("{url}/v1/breakpoints"))
            .json(&serde_json::json!({"request": "SignEverything", "nth": 1, "at": "request"}))
            .send()
            .await
            .expect("arm");
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let body: ErrorBody = bad.json().await.expect("json");
        assert!(
            body.error.message.contains("SignEverything"),
            "{}",
            body.error.message
        );
        let missing = http
            .get(format!("{url}/v1/breakpoints/42"))
            .send()
            .await
            .expect("get");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let body: ErrorBody = missing.json().await.expect("json");
        assert_eq!(body.error.code, "unknown_breakpoint");
    }
}
