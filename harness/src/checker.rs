//! Every check of a run, apart from the workload and the faults (as Jepsen
//! keeps its checker apart): each is a named check over plain figures that
//! the runner read, with its verdict and the figures behind it. The final
//! checks: funds are conserved, and no penalty transaction took anyone's
//! funds unless the scenario says so. The `assert` steps' checks: heights,
//! balances, channels, HTLCs, payments, processes, logs, clocks, files.

use std::collections::BTreeMap;

use crate::node::{ChannelState, PaymentStatus};
use crate::report::{CheckResult, Verdict};
use crate::scenario::spec::Signature;

mod parties;
pub use parties::parties;

/// Slack for msat rounding and dust, in sat.
pub const ROUNDING_SAT: u64 = 2_000;
/// Anchor outputs of a closed channel that nobody need ever spend.
pub const ANCHORS_SAT: u64 = 660;

/// The money the run can see, in sat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Σ subsidies of blocks 1..=tip: all coins that exist (fees return to
    /// the miner, which is bitcoind's wallet).
    pub minted: u64,
    /// bitcoind's own wallet, mature, immature and unconfirmed.
    pub miner_wallet: u64,
    /// Nodes' wallets, channel balances, claimable and sweeping outputs.
    pub nodes: Vec<(String, u64)>,
    /// Channel capacity held by neither side (commitment fee, anchors), over open channels.
    pub in_channel_fees: u64,
    /// Open channels whose two ends do not count the same total (an update
    /// half done): each names the channel and both ends' figures.
    pub disagreements: Vec<String>,
}

impl Ledger {
    pub fn observed(&self) -> u64 {
        self.miner_wallet + self.nodes.iter().map(|(_, v)| v).sum::<u64>() + self.in_channel_fees
    }

    /// Passes when what is seen is what was minted, short by at most
    /// `bound` (anchors of closed channels, rounding) and never above it.
    pub fn check(&self, bound: u64) -> CheckResult {
        let observed = self.observed();
        let missing = self.minted as i128 - observed as i128;
        let ok = missing >= 0 && missing <= bound as i128 && self.disagreements.is_empty();
        let disagree = if self.disagreements.is_empty() {
            String::new()
        } else {
            format!(
                "; the two ends of an open channel disagree: {}",
                self.disagreements.join("; ")
            )
        };
        CheckResult::new(
            "conservation",
            ok,
            format!(
                "minted {} sat; seen {} sat (miner {}, {}, in-channel fees {}); missing {} sat, bound {} sat{disagree}",
                self.minted,
                observed,
                self.miner_wallet,
                self.nodes
                    .iter()
                    .map(|(n, v)| format!("{n} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.in_channel_fees,
                missing,
                bound
            ),
        )
    }
}

/// What each end of an open channel loses turning its msat figure into
/// whole sat: an offered HTLC's msat below a satoshi (the commitment's own
/// rounding goes to the fee, which the opener counts).
pub const CHANNEL_END_ROUNDING_SAT: u64 = 1;

/// One end's view of an open channel: the node, the capacity and what the
/// node counts as its own in it (sat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEnd {
    pub node: String,
    pub capacity_sat: u64,
    pub local_sat: u64,
}

/// Channels both of whose ends are open and do not add up to the capacity:
/// between a payment's `update_fulfill` and the revocations that finish it,
/// one end already counts the HTLC as its own while the other still counts
/// it too (or neither does), so reading the ledger then would find or lose
/// the payment's amount. A channel one end no longer lists is not judged.
pub fn channel_disagreements(channels: &BTreeMap<String, Vec<ChannelEnd>>) -> Vec<String> {
    channels
        .iter()
        .filter_map(|(id, ends)| {
            let [a, b] = ends.as_slice() else {
                return None;
            };
            let held = a.local_sat + b.local_sat;
            let cap = a.capacity_sat;
            let slack = 2 * CHANNEL_END_ROUNDING_SAT;
            (held > cap || cap - held > slack).then(|| {
                format!(
                    "channel {id} ({cap} sat): {} counts {} sat, {} counts {} sat, together {held} sat",
                    a.node, a.local_sat, b.node, b.local_sat
                )
            })
        })
        .collect()
}

/// Conservation on a settled chain: the slack is rounding plus the anchors
/// of every channel the run closed.
pub fn conservation(ledger: &Ledger, closed_channels: u64) -> CheckResult {
    ledger.check(ROUNDING_SAT + ANCHORS_SAT * closed_channels)
}

/// Penalties seen on chain against what the scenario expects.
pub fn penalty(found: &[Penalty], expected: bool) -> CheckResult {
    let ok = found.is_empty() != expected;
    let detail = if found.is_empty() {
        format!(
            "no revocation spend on chain{}",
            if expected {
                ", but the scenario expects one"
            } else {
                ""
            }
        )
    } else {
        format!(
            "{} revocation spends{}: {}",
            found.len(),
            if expected { " (expected)" } else { "" },
            found
                .iter()
                .map(|x| format!("{}:{} ({}) at {}", x.txid, x.input, x.output, x.height))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    CheckResult::new("penalty", ok, detail)
}

/// What a finished run shows, held against a finding's signature.
pub struct Observed<'a> {
    /// The run's first error; `None` when it passed.
    pub error: Option<&'a str>,
    /// Names of the final checks that did not pass.
    pub failed_checks: &'a [String],
    /// The log of the component the signature names, when it names one.
    pub log: Option<&'a str>,
}

/// How much of a log line a verdict quotes.
const QUOTED_CHARS: usize = 300;

/// A run that reproduces finding `id` must fail, and with its signature:
/// then it is an expected failure (XFAIL). A pass is XPASS (the finding
/// may be fixed upstream); a failure without the signature is a failure.
pub fn finding(
    id: &str,
    sig: &Signature,
    intermittent: bool,
    seen: &Observed,
) -> (Verdict, CheckResult) {
    let name = format!("finding {id}");
    if seen.error.is_none() && intermittent {
        let detail = format!("finding `{id}` (intermittent) did not show in this run");
        return (Verdict::Pass, CheckResult::new(&name, true, detail));
    }
    let Some(error) = seen.error else {
        let detail = format!(
            "the run passed, so finding `{id}` no longer reproduces (XPASS): if it is fixed upstream, update docs/findings.md and this scenario"
        );
        return (Verdict::Xpass, CheckResult::new(&name, false, detail));
    };
    match signature_seen(sig, error, seen) {
        Some(what) => (
            Verdict::Xfail,
            CheckResult::new(&name, true, format!("failed as the finding says: {what}")),
        ),
        None => {
            let detail = format!(
                "the run failed, but not with the signature of finding `{id}` ({}): {error}",
                describe_signature(sig)
            );
            (Verdict::Fail, CheckResult::new(&name, false, detail))
        }
    }
}

fn signature_seen(sig: &Signature, error: &str, seen: &Observed) -> Option<String> {
    if let Some(e) = &sig.error {
        return error
            .contains(e.as_str())
            .then(|| format!("the run's error contains {e:?}"));
    }
    if let Some(l) = &sig.log {
        let line = seen.log?.lines().find(|x| x.contains(&l.contains))?;
        let quoted: String = line.trim().chars().take(QUOTED_CHARS).collect();
        return Some(format!("{} logged: {quoted}", l.component));
    }
    let c = sig.check.as_ref()?;
    seen.failed_checks
        .iter()
        .any(|x| x == c)
        .then(|| format!("check {c} did not pass"))
}

fn describe_signature(sig: &Signature) -> String {
    match (&sig.error, &sig.log, &sig.check) {
        (Some(e), _, _) => format!("an error containing {e:?}"),
        (_, Some(l), _) => format!("{} logging {:?}", l.component, l.contains),
        (_, _, Some(c)) => format!("check {c} not passing"),
        _ => "no signature".to_string(),
    }
}

/// How far a skewed clock may read from the asked offset: the probe reads
/// it with `date +%s` through a `docker exec` of a second or two, and the
/// two clocks are read a moment apart.
pub const CLOCK_TOLERANCE_SECS: i64 = 5;

pub fn height(got: u64, want: u64) -> CheckResult {
    CheckResult::new(
        "height",
        got == want,
        format!("bitcoind height is {got}, expected {want}"),
    )
}

pub fn miner_wallet(got_sat: u64, want_sat: u64) -> CheckResult {
    CheckResult::new(
        "wallet",
        got_sat == want_sat,
        format!("bitcoind wallet balance is {got_sat} sat, expected {want_sat} sat"),
    )
}

/// `node` lists `want` channels, all in `state` when one is asked for.
pub fn channels(
    node: &str,
    want: usize,
    state: Option<ChannelState>,
    states: &[ChannelState],
) -> CheckResult {
    let ok = states.len() == want && state.is_none_or(|s| states.iter().all(|x| *x == s));
    CheckResult::new(
        "channels",
        ok,
        format!("{node}: {} channels, states {states:?}", states.len()),
    )
}

/// `node`'s own balance on `channel`; `got` is `None` when it does not list it.
pub fn channel_balance(node: &str, channel: &str, got: Option<u64>, want: u64) -> CheckResult {
    match got {
        None => CheckResult::new(
            "channel_balance",
            false,
            format!("{node} does not list channel {channel}"),
        ),
        Some(got) => CheckResult::new(
            "channel_balance",
            got == want,
            format!("{node} local balance on {channel} is {got} msat, expected {want} msat"),
        ),
    }
}

pub fn htlcs(node: &str, got: usize, want: usize) -> CheckResult {
    CheckResult::new(
        "htlcs",
        got == want,
        format!("{node}: {got} HTLCs in flight, expected {want}"),
    )
}

/// `got` payments of `node` in `status`: exactly `count`, or `at_least`.
pub fn payments(
    node: &str,
    status: PaymentStatus,
    got: usize,
    count: Option<usize>,
    at_least: Option<usize>,
) -> CheckResult {
    let ok = match (count, at_least) {
        (Some(c), _) => got == c,
        (_, Some(m)) => got >= m,
        _ => true,
    };
    let want = count
        .map(|c| c.to_string())
        .unwrap_or_else(|| format!("at least {}", at_least.unwrap_or(0)));
    CheckResult::new(
        "payments",
        ok,
        format!("{node} has {got} payments {status:?}, expected {want}"),
    )
}

/// A component is up (running and not paused) or down, as asked.
pub fn running(component: &str, want_up: bool, up: bool, status: &str) -> CheckResult {
    CheckResult::new("running", up == want_up, format!("{component} is {status}"))
}

/// `got` log lines with `contains`: none when `want` is 0, else at least `want`.
pub fn log_lines(component: &str, contains: &str, got: usize, want: usize) -> CheckResult {
    let ok = if want == 0 { got == 0 } else { got >= want };
    let expected = if want == 0 {
        "none".to_string()
    } else {
        format!("at least {want}")
    };
    CheckResult::new(
        "log",
        ok,
        format!("{component} log has {got} lines with {contains:?}, expected {expected}"),
    )
}

/// A component's wall clock reads `skew` seconds off ours; `want` was asked.
pub fn clock(component: &str, skew: i64, want: i64) -> CheckResult {
    CheckResult::new(
        "clock",
        (skew - want).abs() <= CLOCK_TOLERANCE_SECS,
        format!("{component}: offset {skew:+}s, expected {want:+}s ± {CLOCK_TOLERANCE_SECS}s"),
    )
}

/// A file's presence (and size on disk, when asked) in a component.
pub fn file(
    at: &str,
    exists: bool,
    want_exists: bool,
    size: Option<u64>,
    want_size: Option<u64>,
) -> CheckResult {
    if exists != want_exists {
        return CheckResult::new(
            "file",
            false,
            format!(
                "{at} {}, expected {}",
                if exists { "exists" } else { "is absent" },
                if want_exists { "present" } else { "absent" }
            ),
        );
    }
    match (size, want_size) {
        (Some(size), Some(want)) if size != want => CheckResult::new(
            "file",
            false,
            format!("{at} has {size} bytes on disk, expected {want}"),
        ),
        _ => CheckResult::new("file", true, format!("{at} as expected")),
    }
}

/// A spend through a revocation path: someone broadcast a revoked
/// commitment and the other side took the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Penalty {
    pub txid: String,
    pub height: u64,
    pub input: usize,
    /// `to_local` or `htlc`.
    pub output: &'static str,
}

/// Classifies one input's witness (hex items): a revocation spend of a
/// BOLT 3 `to_local` output is `<sig> 01 <script>` with the script
/// `OP_IF <revocationpubkey> OP_ELSE <delay> OP_CSV OP_DROP <key> OP_ENDIF OP_CHECKSIG`;
/// of an HTLC output it is `<sig> <revocationpubkey> <script>` with the
/// script starting `OP_DUP OP_HASH160 <20 bytes>`.
pub fn revocation_spend(witness: &[String]) -> Option<&'static str> {
    if witness.len() != 3 {
        return None;
    }
    let script = witness[2].to_ascii_lowercase();
    if witness[1] == "01"
        && script.starts_with("6321")
        && script.ends_with("68ac")
        && script.contains("b275")
    {
        return Some("to_local");
    }
    if witness[1].len() == 66 && script.starts_with("76a914") {
        return Some("htlc");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_witnesses_are_recognised() {
        let key = "02".to_string() + &"11".repeat(32);
        let to_local = format!("6321{key}6702900 1b27521{key}68ac").replace(' ', "");
        assert_eq!(
            revocation_spend(&["30".into(), "01".into(), to_local.clone()]),
            Some("to_local")
        );
        // The delayed (honest) path pushes an empty item instead of 01.
        assert_eq!(revocation_spend(&["30".into(), "".into(), to_local]), None);
        let htlc = format!("76a914{}8763ac67", "22".repeat(20));
        assert_eq!(
            revocation_spend(&["30".into(), key.clone(), htlc.clone()]),
            Some("htlc")
        );
        // An HTLC success spend has five items.
        assert_eq!(
            revocation_spend(&["".into(), "30".into(), "30".into(), "aa".into(), htlc]),
            None
        );
    }

    #[test]
    fn ledger_bounds_are_one_sided() {
        let l = Ledger {
            minted: 1_000,
            miner_wallet: 500,
            nodes: vec![("a".into(), 300)],
            in_channel_fees: 100,
            disagreements: Vec::new(),
        };
        assert!(!l.check(50).passed(), "100 missing > 50");
        assert!(l.check(100).passed());
        let over = Ledger {
            miner_wallet: 700,
            ..l.clone()
        };
        assert!(!over.check(1_000).passed(), "more than minted is a failure");
        let split = Ledger {
            disagreements: vec!["channel c".into()],
            ..l
        };
        let r = split.check(100);
        assert!(!r.passed(), "ends that disagree fail the check");
        assert!(r.detail.contains("channel c"), "{}", r.detail);
    }

    #[test]
    fn channel_ends_must_add_up_to_the_capacity() {
        let end = |node: &str, local_sat| ChannelEnd {
            node: node.into(),
            capacity_sat: 1_000_000,
            local_sat,
        };
        let mut chans = BTreeMap::new();
        chans.insert(
            "agreed".to_string(),
            vec![end("alice", 600_000), end("bob", 399_999)],
        );
        chans.insert("one end".to_string(), vec![end("alice", 5)]);
        assert!(channel_disagreements(&chans).is_empty());
        // The payee counts a fulfilled HTLC the payer still counts as offered.
        chans.insert(
            "double".to_string(),
            vec![end("alice", 610_000), end("bob", 400_000)],
        );
        // Neither counts it: one end removed it, the other has not added it.
        chans.insert(
            "lost".to_string(),
            vec![end("carol", 590_000), end("dave", 400_000)],
        );
        let found = channel_disagreements(&chans);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("alice counts 610000 sat, bob counts 400000 sat"),
            "{found:?}"
        );
        assert!(found[1].contains("together 990000 sat"), "{found:?}");
    }

    #[test]
    fn assertion_checks_name_the_figures() {
        assert!(height(5, 5).passed());
        assert_eq!(height(4, 5).detail, "bitcoind height is 4, expected 5");
        assert!(!channel_balance("bob", "a-b", None, 1).passed());
        assert!(payments("bob", PaymentStatus::Succeeded, 3, None, Some(2)).passed());
        assert!(!payments("bob", PaymentStatus::Succeeded, 1, Some(2), None).passed());
        assert!(log_lines("x", "panic", 0, 0).passed());
        assert!(!log_lines("x", "panic", 1, 0).passed());
        assert!(clock("x", 3605, 3600).passed());
        assert!(!clock("x", 3606, 3600).passed());
        assert!(!file("x:/p", true, true, Some(3), Some(4)).passed());
        assert!(file("x:/p", false, false, None, Some(4)).passed());
        let p = Penalty {
            txid: "t".into(),
            height: 1,
            input: 0,
            output: "to_local",
        };
        assert!(penalty(std::slice::from_ref(&p), true).passed());
        assert!(!penalty(&[p], false).passed());
        assert!(!penalty(&[], true).passed());
    }

    #[test]
    fn a_finding_is_xfail_only_with_its_signature() {
        use crate::scenario::spec::LogSignature;
        let sig = Signature {
            error: None,
            log: Some(LogSignature {
                component: "vlsd-alice".into(),
                contains: "seed length".into(),
            }),
            check: None,
        };
        let log = "start\npanicked at 'seed length in storage'\n";
        let seen = |error, log| Observed {
            error,
            failed_checks: &[],
            log,
        };
        let (v, c) = finding("f", &sig, false, &seen(Some("step 3 failed"), Some(log)));
        assert_eq!(v, Verdict::Xfail);
        assert!(
            c.passed() && c.detail.contains("seed length in storage"),
            "{}",
            c.detail
        );
        let (v, c) = finding(
            "f",
            &sig,
            false,
            &seen(Some("step 3 failed"), Some("start\n")),
        );
        assert_eq!(v, Verdict::Fail);
        assert!(
            !c.passed() && c.detail.contains("not with the signature"),
            "{}",
            c.detail
        );
        let (v, c) = finding("f", &sig, false, &seen(None, Some(log)));
        assert_eq!(v, Verdict::Xpass);
        assert!(!c.passed());
        // An intermittent finding: a pass is a pass, a failure is still judged.
        let (v, c) = finding("f", &sig, true, &seen(None, Some(log)));
        assert_eq!(v, Verdict::Pass);
        assert!(
            c.passed() && c.detail.contains("did not show"),
            "{}",
            c.detail
        );
        let (v, _) = finding("f", &sig, true, &seen(Some("step 3 failed"), Some(log)));
        assert_eq!(v, Verdict::Xfail);
        let (v, _) = finding(
            "f",
            &sig,
            true,
            &seen(Some("step 3 failed"), Some("start\n")),
        );
        assert_eq!(v, Verdict::Fail);
        let by_check = Signature {
            error: None,
            log: None,
            check: Some("conservation".into()),
        };
        let failed = ["conservation".to_string()];
        let seen = Observed {
            error: Some("conservation (FAIL): missing 70000 sat"),
            failed_checks: &failed,
            log: None,
        };
        assert_eq!(finding("f", &by_check, false, &seen).0, Verdict::Xfail);
    }
}
