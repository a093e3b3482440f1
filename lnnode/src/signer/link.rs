//! The node's end of vlsd's connection. vlsd dials the node and opens one
//! bidirectional stream of VLS's `hsmd` gRPC service; requests go down it
//! and replies come back matched by request id.
//!
//! VLS's own adapter (`vls_proxy::grpc::adapter`) ends the whole link on
//! the first refusal, which stops every channel of the node because one
//! request broke policy. Here a refusal is the answer to that one request:
//! its caller gets it, and the link and every other channel go on.
//! Requests still unanswered when vlsd goes away are sent again, after the
//! init handshake, when it reconnects.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status, Streaming};
use vls_proxy::grpc::incoming::TcpIncoming;
use vlsd::grpc::hsmd::hsmd_server::{Hsmd, HsmdServer};
use vlsd::grpc::hsmd::{HsmRequestContext, PingReply, PingRequest, SignerRequest, SignerResponse};

/// The id the init handshake travels under; its reply is not anyone's.
const INIT_REQUEST_ID: u64 = u64::MAX;

/// Requests that may wait for vlsd at once before callers block on sending.
const QUEUE_DEPTH: usize = 1000;

/// Which channel a request is for (none for node-level requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelRef {
    pub peer_id: [u8; 33],
    pub dbid: u64,
}

/// vlsd's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The serialized reply message.
    Answered(Vec<u8>),
    /// vlsd cannot answer yet (e.g. its chain view lags); ask again later.
    NotYet(String),
    /// vlsd refused: a policy or protocol error, with vlsd's text.
    Refused(String),
}

/// One request on its way to vlsd.
pub struct Request {
    pub message: Vec<u8>,
    pub channel: Option<ChannelRef>,
    pub reply: oneshot::Sender<Reply>,
}

struct Shared {
    incoming: tokio::sync::Mutex<mpsc::Receiver<Request>>,
    /// Sent on the current connection (or a dead one) and not yet answered.
    outstanding: Mutex<BTreeMap<u64, Request>>,
    next_id: AtomicU64,
    init_message: Mutex<Option<Vec<u8>>>,
    shutdown: triggered::Listener,
}

/// The gRPC service vlsd connects to.
#[derive(Clone)]
pub struct SignerLink {
    shared: Arc<Shared>,
}

impl SignerLink {
    /// The link, and the queue callers put requests on.
    pub fn new(shutdown: triggered::Listener) -> (SignerLink, mpsc::Sender<Request>) {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let link = SignerLink {
            shared: Arc::new(Shared {
                incoming: tokio::sync::Mutex::new(rx),
                outstanding: Mutex::new(BTreeMap::new()),
                next_id: AtomicU64::new(0),
                init_message: Mutex::new(None),
                shutdown,
            }),
        };
        (link, tx)
    }

    /// The handshake a reconnecting vlsd must see before any other request.
    pub fn set_init_message(&self, message: Vec<u8>) {
        let mut m = self
            .shared
            .init_message
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *m = Some(message);
    }

    /// Serves vlsd's connections until shutdown.
    pub async fn serve(self, incoming: TcpIncoming) -> Result<(), tonic::transport::Error> {
        let shutdown = self.shared.shutdown.clone();
        tonic::transport::Server::builder()
            .add_service(HsmdServer::new(self))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }
}

impl Shared {
    fn answer(&self, r: SignerResponse) {
        if r.request_id == INIT_REQUEST_ID {
            if !r.error.is_empty() {
                tracing::error!(error = %r.error, "vlsd refused the init handshake");
            }
            return;
        }
        let request = self
            .outstanding
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&r.request_id);
        let Some(request) = request else {
            // A reply on a connection that was replaced, to a request sent
            // again since; the newer copy gets its own reply.
            tracing::debug!(request_id = r.request_id, "reply to no outstanding request");
            return;
        };
        let reply = if r.is_temporary_failure {
            Reply::NotYet(r.error)
        } else if !r.error.is_empty() {
            Reply::Refused(r.error)
        } else {
            Reply::Answered(r.message)
        };
        // The caller may have given up (shutdown); nobody is left to tell.
        let _ = request.reply.send(reply);
    }

    /// What a new connection must see first: the handshake, then every
    /// request a previous connection took but did not answer.
    fn replay(&self) -> Vec<SignerRequest> {
        let mut out = Vec::new();
        if let Some(m) = self
            .init_message
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            out.push(SignerRequest {
                request_id: INIT_REQUEST_ID,
                context: None,
                message: m,
            });
        }
        let mut outstanding = self.outstanding.lock().unwrap_or_else(|p| p.into_inner());
        outstanding.retain(|_, r| !r.reply.is_closed());
        out.extend(outstanding.iter().map(|(id, r)| wire(*id, r)));
        out
    }

    fn take(&self, request: Request) -> SignerRequest {
        let id = self.next_id.fetch_add(1, Ordering::AcqRel);
        let w = wire(id, &request);
        self.outstanding
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, request);
        w
    }
}

fn wire(request_id: u64, r: &Request) -> SignerRequest {
    SignerRequest {
        request_id,
        context: r.channel.map(|c| HsmRequestContext {
            peer_id: c.peer_id.to_vec(),
            dbid: c.dbid,
            capabilities: 0,
        }),
        message: r.message.clone(),
    }
}

/// Aborts the connection's reply reader when its request stream ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type RequestStream = Pin<Box<dyn Stream<Item = Result<SignerRequest, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Hsmd for SignerLink {
    async fn ping(
        &self,
        request: GrpcRequest<PingRequest>,
    ) -> Result<GrpcResponse<PingReply>, Status> {
        Ok(GrpcResponse::new(PingReply {
            message: request.into_inner().message,
        }))
    }

    type SignerStreamStream = RequestStream;

    async fn signer_stream(
        &self,
        request: GrpcRequest<Streaming<SignerResponse>>,
    ) -> Result<GrpcResponse<RequestStream>, Status> {
        tracing::info!("vlsd connected to the signer port");
        let mut replies = request.into_inner();
        let shared = self.shared.clone();
        let reader = tokio::spawn(async move {
            while let Some(item) = replies.next().await {
                match item {
                    Ok(r) => shared.answer(r),
                    Err(e) => {
                        tracing::warn!(error = %e, "vlsd's reply stream failed");
                        break;
                    }
                }
            }
            tracing::info!("vlsd's reply stream ended");
        });
        let shared = self.shared.clone();
        let requests = async_stream::stream! {
            let _reader = AbortOnDrop(reader);
            let replay = shared.replay();
            if replay.len() > 1 {
                tracing::info!(requests = replay.len() - 1, "re-sending requests vlsd did not answer");
            }
            for r in replay {
                yield Ok(r);
            }
            // One connection reads the queue at a time; a replaced one ends
            // when tonic drops its stream.
            let mut incoming = shared.incoming.lock().await;
            loop {
                tokio::select! {
                    _ = shared.shutdown.clone() => break,
                    next = incoming.recv() => match next {
                        Some(request) => yield Ok(shared.take(request)),
                        None => break,
                    },
                }
            }
        };
        Ok(GrpcResponse::new(Box::pin(requests) as RequestStream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(message: &[u8]) -> (Request, oneshot::Receiver<Reply>) {
        let (tx, rx) = oneshot::channel();
        (
            Request {
                message: message.to_vec(),
                channel: Some(ChannelRef {
                    peer_id: [0; 33],
                    dbid: 7,
                }),
                reply: tx,
            },
            rx,
        )
    }

    fn response(request_id: u64, message: &[u8], error: &str, temporary: bool) -> SignerResponse {
        SignerResponse {
            request_id,
            message: message.to_vec(),
            error: error.to_string(),
            is_temporary_failure: temporary,
        }
    }

    fn link() -> (SignerLink, triggered::Trigger) {
        let (trigger, listener) = triggered::trigger();
        (SignerLink::new(listener).0, trigger)
    }

    #[test]
    fn a_refusal_answers_only_its_request() {
        let (link, _t) = link();
        let (a, mut a_rx) = request(b"a");
        let (b, mut b_rx) = request(b"b");
        let wa = link.shared.take(a);
        let wb = link.shared.take(b);
        link.shared
            .answer(response(wa.request_id, &[], "policy failure: x", false));
        assert_eq!(
            a_rx.try_recv().expect("answered"),
            Reply::Refused("policy failure: x".into())
        );
        assert!(b_rx.try_recv().is_err(), "b is still waiting");
        link.shared
            .answer(response(wb.request_id, &[1, 2], "", false));
        assert_eq!(
            b_rx.try_recv().expect("answered"),
            Reply::Answered(vec![1, 2])
        );
    }

    #[test]
    fn temporary_failures_are_not_refusals() {
        let (link, _t) = link();
        let (a, mut a_rx) = request(b"a");
        let wa = link.shared.take(a);
        link.shared
            .answer(response(wa.request_id, &[], "funding not buried", true));
        assert_eq!(
            a_rx.try_recv().expect("answered"),
            Reply::NotYet("funding not buried".into())
        );
    }

    #[test]
    fn a_new_connection_sees_the_handshake_then_the_unanswered() {
        let (link, _t) = link();
        link.set_init_message(b"init".to_vec());
        let (a, _a_rx) = request(b"a");
        let (b, b_rx) = request(b"b");
        let (c, _c_rx) = request(b"c");
        link.shared.take(a);
        let wb = link.shared.take(b);
        link.shared.take(c);
        link.shared.answer(response(wb.request_id, &[], "", false));
        drop(b_rx);
        let replay = link.shared.replay();
        let messages: Vec<&[u8]> = replay.iter().map(|r| r.message.as_slice()).collect();
        assert_eq!(messages, vec![&b"init"[..], b"a", b"c"]);
        assert_eq!(replay[0].request_id, INIT_REQUEST_ID);
        assert_eq!(replay[1].context.as_ref().map(|c| c.dbid), Some(7));
    }

    #[test]
    fn requests_whose_caller_gave_up_are_not_sent_again() {
        let (link, _t) = link();
        let (a, a_rx) = request(b"a");
        link.shared.take(a);
        drop(a_rx);
        assert!(link.shared.replay().is_empty());
    }

    #[test]
    fn a_reply_to_an_unknown_request_is_ignored() {
        let (link, _t) = link();
        link.shared.answer(response(99, &[], "whatever", false));
        assert!(link.shared.replay().is_empty());
    }
}
