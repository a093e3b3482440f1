//! How LDK's synchronous signer calls reach vlsd: each call goes on the
//! link's queue from the signer runtime and the caller waits on a std
//! channel, so this works from runtime workers and plain threads alike.
//! While vlsd is away, requests wait and are re-sent when it reconnects.
//!
//! Every call passes the breakpoints twice (before it is sent, after it is
//! answered), and every refusal is recorded against its channel so the
//! admin API can show which channel its signer blocks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lnnode_api::SignerMoment;
use tokio::sync::{mpsc, oneshot};
use vls_proxy::vls_protocol_client::{Error as ClientError, Transport};
use vls_proxy::vls_protocol_signer::vls_protocol::model::PubKey;
use vls_proxy::vls_protocol_signer::vls_protocol::msgs::{self, Message};

use super::breakpoint::{Breakpoints, Passing};
use super::link::{ChannelRef, Reply, Request};
use super::refusals::Refusals;
use crate::clock::block_in_place;

/// How long a request may keep getting "temporary failure" (e.g. the signer's
/// chain view has not yet seen a funding transaction) before we give up.
const TEMPORARY_FAILURE_BUDGET: Duration = Duration::from_secs(180);

pub struct GrpcTransport {
    queue: mpsc::Sender<Request>,
    signer_rt: tokio::runtime::Handle,
    shutdown: triggered::Listener,
    pub breakpoints: Arc<Breakpoints>,
    pub refusals: Arc<Refusals>,
}

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// vlsd refused, with its reason.
    Refused(String),
    /// The node is shutting down, or vlsd kept answering "not yet".
    Gone,
}

impl From<CallError> for ClientError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Refused(_) => ClientError::Transport,
            CallError::Gone => ClientError::TransportTransient,
        }
    }
}

impl GrpcTransport {
    pub fn new(
        queue: mpsc::Sender<Request>,
        signer_rt: tokio::runtime::Handle,
        shutdown: triggered::Listener,
    ) -> Self {
        GrpcTransport {
            queue,
            signer_rt,
            shutdown,
            breakpoints: Arc::new(Breakpoints::default()),
            refusals: Arc::new(Refusals::default()),
        }
    }

    /// One request, answered: retried while vlsd says "not yet", returned
    /// with vlsd's reason when it refuses.
    pub fn exchange(
        &self,
        message: Vec<u8>,
        channel: Option<ChannelRef>,
    ) -> Result<Vec<u8>, CallError> {
        let name = msgs::message_name_from_vec(&message);
        let dbid = channel.map(|c| c.dbid);
        let detail = || describe(&message);
        self.breakpoints.pass(Passing {
            request: &name,
            moment: SignerMoment::Request,
            dbid,
            detail: &detail,
        });
        let outcome = self.send_until_answered(&message, channel, &name);
        match &outcome {
            Ok(_) => self.refusals.answered(dbid, &name),
            Err(CallError::Refused(reason)) => {
                tracing::error!(request = %name, dbid = ?dbid, %reason, "vlsd refused the request");
                self.refusals.refused(dbid, &name, reason);
            }
            Err(CallError::Gone) => {}
        }
        if !matches!(outcome, Err(CallError::Gone)) {
            self.breakpoints.pass(Passing {
                request: &name,
                moment: SignerMoment::Reply,
                dbid,
                detail: &detail,
            });
        }
        outcome
    }

    fn send_until_answered(
        &self,
        message: &[u8],
        channel: Option<ChannelRef>,
        name: &str,
    ) -> Result<Vec<u8>, CallError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.send_once(message.to_vec(), channel)? {
                Reply::Answered(bytes) => return Ok(bytes),
                Reply::Refused(reason) => return Err(CallError::Refused(reason)),
                Reply::NotYet(reason) => {
                    if started.elapsed() > TEMPORARY_FAILURE_BUDGET {
                        tracing::error!(request = name, %reason, "vlsd kept answering 'temporary failure' for {:?}", started.elapsed());
                        return Err(CallError::Gone);
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn send_once(&self, message: Vec<u8>, channel: Option<ChannelRef>) -> Result<Reply, CallError> {
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        let queue = self.queue.clone();
        let shutdown = self.shutdown.clone();
        self.signer_rt.spawn(async move {
            let (reply_tx, reply_rx) = oneshot::channel();
            let request = Request {
                message,
                channel,
                reply: reply_tx,
            };
            let exchange = async {
                queue.send(request).await.map_err(|_| ())?;
                reply_rx.await.map_err(|_| ())
            };
            let outcome = tokio::select! {
                r = exchange => r,
                _ = shutdown => Err(()),
            };
            let _ = done_tx.send(outcome);
        });
        match block_in_place(|| done_rx.recv()) {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(CallError::Gone),
        }
    }
}

impl Transport for GrpcTransport {
    fn node_call(&self, message: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        Ok(self.exchange(message, None)?)
    }

    fn call(&self, dbid: u64, peer_id: PubKey, message: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        Ok(self.exchange(
            message,
            Some(ChannelRef {
                peer_id: peer_id.0,
                dbid,
            }),
        )?)
    }
}

/// The commitment a request is about, in VLS's numbering (counting up from
/// 0), for breakpoint reports and logs.
pub fn describe(message: &[u8]) -> String {
    let name = msgs::message_name_from_vec(message);
    let number = match msgs::from_vec(message.to_vec()) {
        Ok(Message::ValidateCommitmentTx2(m)) => Some(("holder commitment", m.commitment_number)),
        Ok(Message::SignLocalCommitmentTx2(m)) => Some(("holder commitment", m.commitment_number)),
        Ok(Message::GetPerCommitmentPoint(m)) => Some((
            "holder point (releases the secret of commitment n-2)",
            m.commitment_number,
        )),
        Ok(Message::GetPerCommitmentPoint2(m)) => Some(("holder point", m.commitment_number)),
        Ok(Message::RevokeCommitmentTx(m)) => {
            Some(("revoke holder commitment", m.commitment_number))
        }
        Ok(Message::SignRemoteCommitmentTx2(m)) => {
            Some(("counterparty commitment", m.commitment_number))
        }
        Ok(Message::ValidateRevocation(m)) => {
            Some(("counterparty revocation of commitment", m.commitment_number))
        }
        _ => None,
    };
    match number {
        Some((what, n)) => format!("{name}: {what} {n}"),
        None => name,
    }
}

/// Every request type of VLS's protocol, for checking breakpoint names.
pub fn is_request_name(name: &str) -> bool {
    let unknown = msgs::message_name_from_vec(&[0xff, 0xff]);
    name != unknown && (0..=u16::MAX).any(|t| msgs::message_name_from_vec(&t.to_be_bytes()) == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vls_proxy::vls_protocol_signer::vls_protocol::model::DisclosedSecret;
    use vls_proxy::vls_protocol_signer::vls_protocol::msgs::{
        GetPerCommitmentPoint2, SerBolt, ValidateRevocation,
    };

    #[test]
    fn describes_the_commitment_a_request_is_about() {
        let m = GetPerCommitmentPoint2 {
            commitment_number: 4,
        };
        assert_eq!(
            describe(&m.as_vec()),
            "GetPerCommitmentPoint2: holder point 4"
        );
        let m = ValidateRevocation {
            commitment_number: 1,
            commitment_secret: DisclosedSecret([7; 32]),
        };
        assert_eq!(
            describe(&m.as_vec()),
            "ValidateRevocation: counterparty revocation of commitment 1"
        );
        assert_eq!(describe(&[0x00]), "ShortRead");
    }

    #[test]
    fn knows_the_protocol_request_names() {
        assert!(is_request_name("ValidateCommitmentTx2"));
        assert!(is_request_name("SignMutualCloseTx2"));
        assert!(!is_request_name("ValidateCommitmentTx3"));
        assert!(!is_request_name(""));
    }
}
