//! vlsd's refusals, kept per channel: a channel whose signer refused a
//! request is blocked (LDK waits for a signature or point that will not
//! come) until the same kind of request is answered again. The admin API
//! shows it, so the operator knows which channel to force-close or recover.

use std::collections::HashMap;
use std::sync::Mutex;

use lnnode_api::SignerRefusal;

#[derive(Default)]
pub struct Refusals {
    /// By vlsd channel id (dbid); node-level requests under `None`.
    last: Mutex<HashMap<Option<u64>, SignerRefusal>>,
}

impl Refusals {
    pub fn refused(&self, dbid: Option<u64>, request: &str, reason: &str) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.insert(
            dbid,
            SignerRefusal {
                request: request.to_string(),
                reason: reason.to_string(),
                at_ms: crate::clock::now_millis(),
            },
        );
    }

    /// A request was answered: a refusal of the same kind is over.
    pub fn answered(&self, dbid: Option<u64>, request: &str) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(&dbid).is_some_and(|r| r.request == request) {
            last.remove(&dbid);
        }
    }

    pub fn of_channel(&self, dbid: u64) -> Option<SignerRefusal> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&Some(dbid))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_lasts_until_the_same_request_is_answered() {
        let r = Refusals::default();
        r.refused(Some(1), "GetPerCommitmentPoint2", "policy failure: ...");
        r.refused(None, "PreapproveInvoice", "invoice is not yet valid");
        assert_eq!(
            r.of_channel(1).map(|x| x.request),
            Some("GetPerCommitmentPoint2".to_string())
        );
        r.answered(Some(1), "SignRemoteCommitmentTx2");
        assert!(
            r.of_channel(1).is_some(),
            "another request does not clear it"
        );
        r.answered(Some(1), "GetPerCommitmentPoint2");
        assert!(r.of_channel(1).is_none());
        assert!(r.of_channel(2).is_none());
    }
}
