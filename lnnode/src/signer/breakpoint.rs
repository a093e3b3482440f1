//! Signer breakpoints, for the harness's fault checkpoints: stop the n-th
//! signer request of a type just before it goes to vlsd, or just after vlsd
//! answered and before LDK sees the answer, and hold it there until the
//! harness releases it. A fault applied while a request is held lands at
//! exactly that point of the commitment exchange, which watching vlsd's log
//! from outside cannot promise (the exchange moves on in milliseconds).
//!
//! Holding blocks the LDK thread that made the call, as a slow signer
//! would; nothing else of the node waits on it except that channel.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use lnnode_api::{Breakpoint, BreakpointHit, BreakpointRequest, SignerMoment};

struct Armed {
    id: u64,
    spec: BreakpointRequest,
    seen: u32,
    hit: Option<BreakpointHit>,
    released: bool,
}

impl Armed {
    fn view(&self) -> Breakpoint {
        Breakpoint {
            id: self.id,
            request: self.spec.request.clone(),
            nth: self.spec.nth,
            at: self.spec.at,
            seen: self.seen,
            hit: self.hit.clone(),
            released: self.released,
        }
    }
}

#[derive(Default)]
struct State {
    next_id: u64,
    armed: Vec<Armed>,
}

/// What a held request is: shown to the harness when it is hit.
pub struct Passing<'a> {
    pub request: &'a str,
    pub moment: SignerMoment,
    pub dbid: Option<u64>,
    pub detail: &'a dyn Fn() -> String,
}

pub struct Breakpoints {
    state: Mutex<State>,
    /// Wakes a held request when it is released.
    released: Condvar,
    /// Counts changes, for API callers waiting for a hit.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for Breakpoints {
    fn default() -> Self {
        Breakpoints {
            state: Mutex::new(State::default()),
            released: Condvar::new(),
            changes: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Breakpoints {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn arm(&self, spec: BreakpointRequest) -> Breakpoint {
        let view = {
            let mut s = self.lock();
            s.next_id += 1;
            let armed = Armed {
                id: s.next_id,
                spec,
                seen: 0,
                hit: None,
                released: false,
            };
            let view = armed.view();
            s.armed.push(armed);
            view
        };
        tracing::info!(id = view.id, request = %view.request, nth = view.nth, at = ?view.at, "signer breakpoint armed");
        self.changed();
        view
    }

    pub fn get(&self, id: u64) -> Option<Breakpoint> {
        self.lock()
            .armed
            .iter()
            .find(|a| a.id == id)
            .map(Armed::view)
    }

    /// The breakpoint once it is hit or released, or as it is after `timeout`.
    pub async fn wait(&self, id: u64, timeout: Duration) -> Option<Breakpoint> {
        let mut changes = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let b = self.get(id)?;
            if b.hit.is_some() || b.released {
                return Some(b);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.get(id),
            }
        }
    }

    /// Lets a held request go on (or disarms one not yet hit).
    pub fn release(&self, id: u64) -> Option<Breakpoint> {
        let view = {
            let mut s = self.lock();
            let a = s.armed.iter_mut().find(|a| a.id == id)?;
            a.released = true;
            a.view()
        };
        tracing::info!(id, "signer breakpoint released");
        self.released.notify_all();
        self.changed();
        Some(view)
    }

    /// Releases everything, so an orderly shutdown never waits on a hold.
    pub fn release_all(&self) {
        {
            let mut s = self.lock();
            for a in s.armed.iter_mut() {
                a.released = true;
            }
        }
        self.released.notify_all();
        self.changed();
    }

    /// Called for every signer request at both moments: counts it, and
    /// returns the breakpoint that holds it, if one does.
    pub fn check(&self, p: Passing<'_>) -> Option<u64> {
        let mut s = self.lock();
        let mut holding = None;
        for a in s.armed.iter_mut() {
            if a.released || a.hit.is_some() || a.spec.at != p.moment || a.spec.request != p.request
            {
                continue;
            }
            a.seen += 1;
            if a.seen == a.spec.nth && holding.is_none() {
                let detail = (p.detail)();
                tracing::warn!(id = a.id, request = p.request, moment = ?p.moment, dbid = ?p.dbid, %detail, "signer breakpoint hit: holding the request");
                a.hit = Some(BreakpointHit {
                    request: p.request.to_string(),
                    dbid: p.dbid,
                    detail,
                    at_ms: crate::clock::now_millis(),
                });
                holding = Some(a.id);
            }
        }
        drop(s);
        if holding.is_some() {
            self.changed();
        }
        holding
    }

    /// Blocks the calling thread until breakpoint `id` is released. Call it
    /// off the async runtime's workers (`block_in_place`): the admin API
    /// that releases it runs there.
    pub fn hold(&self, id: u64) {
        let mut s = self.lock();
        while !s.armed.iter().any(|a| a.id == id && a.released) {
            s = self.released.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// [`Breakpoints::check`], then [`Breakpoints::hold`] if it is held.
    pub fn pass(&self, p: Passing<'_>) {
        if let Some(id) = self.check(p) {
            crate::clock::block_in_place(|| self.hold(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn spec(request: &str, nth: u32, at: SignerMoment) -> BreakpointRequest {
        BreakpointRequest {
            request: request.to_string(),
            nth,
            at,
        }
    }

    fn pass(b: &Breakpoints, request: &str, moment: SignerMoment) {
        b.pass(Passing {
            request,
            moment,
            dbid: Some(1),
            detail: &|| "commitment 2".to_string(),
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holds_the_nth_matching_request_until_released() {
        let b = Arc::new(Breakpoints::default());
        let id = b
            .arm(spec("ValidateCommitmentTx2", 2, SignerMoment::Reply))
            .id;
        // Other names, the other moment and the first match pass straight through.
        pass(&b, "SignRemoteCommitmentTx2", SignerMoment::Reply);
        pass(&b, "ValidateCommitmentTx2", SignerMoment::Request);
        pass(&b, "ValidateCommitmentTx2", SignerMoment::Reply);
        assert_eq!(b.get(id).map(|v| v.seen), Some(1));

        let held = {
            let b = b.clone();
            std::thread::spawn(move || pass(&b, "ValidateCommitmentTx2", SignerMoment::Reply))
        };
        let hit = b
            .wait(id, Duration::from_secs(10))
            .await
            .expect("known")
            .hit
            .expect("hit");
        assert_eq!(hit.request, "ValidateCommitmentTx2");
        assert_eq!(hit.dbid, Some(1));
        assert_eq!(hit.detail, "commitment 2");
        std::thread::sleep(Duration::from_millis(50));
        assert!(!held.is_finished(), "the request is held");
        b.release(id);
        held.join().expect("released");
        // Spent: later matches pass.
        pass(&b, "ValidateCommitmentTx2", SignerMoment::Reply);
    }

    #[tokio::test]
    async fn waiting_on_a_breakpoint_not_hit_times_out_with_its_count() {
        let b = Breakpoints::default();
        let id = b
            .arm(spec("GetPerCommitmentPoint", 3, SignerMoment::Request))
            .id;
        pass(&b, "GetPerCommitmentPoint", SignerMoment::Request);
        let v = b.wait(id, Duration::from_millis(20)).await.expect("known");
        assert!(v.hit.is_none());
        assert_eq!(v.seen, 1);
        assert!(b.wait(id + 1, Duration::ZERO).await.is_none());
    }

    #[test]
    fn release_all_frees_a_held_request() {
        let b = Arc::new(Breakpoints::default());
        b.arm(spec("SignMutualCloseTx2", 1, SignerMoment::Request));
        let held = {
            let b = b.clone();
            std::thread::spawn(move || pass(&b, "SignMutualCloseTx2", SignerMoment::Request))
        };
        while b.get(1).and_then(|v| v.hit).is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        b.release_all();
        held.join().expect("released");
    }
}
