//! `assert` steps: read the figures (polling where a state settles within
//! moments), then let the checker judge them. A step fails with the
//! checker's detail.

use std::time::Duration;

use crate::checker;
use crate::error::{HarnessError, Result};
use crate::lightning;
use crate::node::{ChannelState, Node};
use crate::report::CheckResult;
use crate::scenario::spec::{ChannelsAssert, ClockAssert, FileAssert, RunningAssert};
use crate::scenario::Assertion;
use crate::wait::{self, NotYet};

use super::state::World;

pub async fn assert(world: &World<'_>, a: &Assertion) -> Result<()> {
    let cluster = world.cluster;
    let verdict = match a {
        Assertion::Height(want) => checker::height(cluster.bitcoind()?.height().await?, *want),
        Assertion::WalletSat(want) => {
            checker::miner_wallet(cluster.bitcoind()?.balance_sat().await?, *want)
        }
        Assertion::Channels(c) => return channels(world, c).await,
        Assertion::ChannelBalance(b) => {
            let got = settled_balance(world, &b.node, &b.channel).await?;
            checker::channel_balance(&b.node, &b.channel, got, b.local_msat)
        }
        Assertion::Htlcs(c) => {
            let n = cluster.node(&c.node)?;
            let what = format!("{}: {} HTLCs in flight", c.node, c.count);
            return until_passes(&what, lightning::STEP, || async {
                let chans = n.channels().await.map_err(|e| e.to_string())?;
                let got = chans.iter().map(|c| c.pending_htlcs.len()).sum();
                Ok(checker::htlcs(&c.node, got, c.count))
            })
            .await;
        }
        Assertion::Payments(p) => {
            let payments = cluster.node(&p.node)?.payments().await?;
            let got = payments.iter().filter(|x| x.status == p.status).count();
            checker::payments(&p.node, p.status, got, p.count, p.at_least)
        }
        Assertion::Running(r) => return running(world, r).await,
        Assertion::Log(l) => {
            let container = cluster.container(&l.component)?;
            let want = l.count.unwrap_or(1);
            let read = || async {
                let text = container.log_text().await;
                let got = text.matches(&l.contains).count();
                Ok(checker::log_lines(&l.component, &l.contains, got, want))
            };
            if want == 0 {
                // Absence is read once: waiting could only make it pass by luck.
                read().await.map_err(HarnessError::Assertion)?
            } else {
                // A log only grows, and is copied behind the component: wait for it.
                let what = format!("{} log has {want} lines with {:?}", l.component, l.contains);
                return until_passes(&what, lightning::STEP, read).await;
            }
        }
        Assertion::Clock(c) => return clock(world, c).await,
        Assertion::File(f) => file(world, f).await?,
    };
    judged(verdict)
}

fn judged(c: CheckResult) -> Result<()> {
    if c.passed() {
        Ok(())
    } else {
        Err(HarnessError::Assertion(c.detail))
    }
}

/// Polls a check until it passes; the timeout carries its last detail.
async fn until_passes<F, Fut>(what: &str, limit: Duration, mut probe: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<CheckResult, String>>,
{
    wait::until(what, limit, || {
        let check = probe();
        async move {
            let c = check.await?;
            if c.passed() {
                Ok(())
            } else {
                Err(c.detail)
            }
        }
    })
    .await
}

/// Each end's balance is in whole satoshis, so two ends that hold the same
/// commitment add up to the capacity less under a satoshi each.
const BOTH_ENDS_ROUNDING_MSAT: u64 = 2_000;

/// `node`'s balance on `channel` once the commitment exchange is over: no
/// HTLC in flight at either end, and the two ends' balances add up to the
/// capacity (mid-exchange one end already counts a payment the other does
/// not). When the other end does not answer, its own view must do.
/// `None` when `node` does not list the channel.
async fn settled_balance(world: &World<'_>, node: &str, channel: &str) -> Result<Option<u64>> {
    let id = world.channel(channel)?.id;
    let n = world.cluster.node(node)?;
    let others: Vec<_> = world.cluster.nodes().filter(|o| o.name() != node).collect();
    let what = format!("{node}: channel {channel} settled at both ends");
    let blocked_since = std::sync::Mutex::new(None::<std::time::Instant>);
    wait::until_or_never(&what, lightning::STEP, || async {
        let pending = |e: String| NotYet::Pending(e);
        let chans = n.channels().await.map_err(|e| pending(e.to_string()))?;
        let Some(mine) = chans.iter().find(|c| c.channel_id == id) else {
            return Ok(None);
        };
        // A channel a signer refused cannot settle: say so once the refusal
        // has stood for BLOCKED_GRACE, not at the deadline. Either end.
        let mut ends = vec![(node.to_string(), mine.clone())];
        for o in &others {
            if let Ok(theirs) = o.channels().await {
                if let Some(t) = theirs.into_iter().find(|c| c.channel_id == id) {
                    ends.push((o.name().to_string(), t));
                }
            }
        }
        if let Some(why) = ends.iter().find_map(|(name, c)| blocked(name, c)) {
            let since = *crate::sync::lock(&blocked_since).get_or_insert_with(std::time::Instant::now);
            return Err(if since.elapsed() >= BLOCKED_GRACE {
                NotYet::Never(why)
            } else {
                NotYet::Pending(why)
            });
        }
        *crate::sync::lock(&blocked_since) = None;
        if !mine.pending_htlcs.is_empty() {
            return Err(pending(format!("{node}: {} HTLCs in flight", mine.pending_htlcs.len())));
        }
        for o in &others {
            let Ok(theirs) = o.channels().await else {
                continue;
            };
            let Some(t) = theirs.iter().find(|c| c.channel_id == id) else {
                continue;
            };
            if !t.pending_htlcs.is_empty() {
                return Err(pending(format!(
                    "{}: {} HTLCs in flight",
                    o.name(),
                    t.pending_htlcs.len()
                )));
            }
            let sum = mine.local_balance_msat + t.local_balance_msat;
            if sum.abs_diff(mine.capacity_sat * 1000) > BOTH_ENDS_ROUNDING_MSAT {
                return Err(pending(format!(
                    "{node} {} msat + {} {} msat = {sum} msat, capacity {} sat: an update is in flight",
                    mine.local_balance_msat,
                    o.name(),
                    t.local_balance_msat,
                    mine.capacity_sat
                )));
            }
        }
        Ok(Some(mine.local_balance_msat))
    })
    .await
}

/// Why a channel end cannot move its HTLCs: its signer refused a request.
fn blocked(name: &str, c: &crate::node::ChannelSummary) -> Option<String> {
    (c.state == ChannelState::Blocked && !c.pending_htlcs.is_empty()).then(|| {
        format!(
            "{name}: the channel is blocked with {} HTLCs in flight: its signer refused {}",
            c.pending_htlcs.len(),
            c.signer_refusal
                .as_ref()
                .map(|r| format!("{}: {}", r.request, r.reason))
                .unwrap_or_else(|| "a request it needs".to_string())
        )
    })
}

/// How long a signer's refusal must stand before a balance assert stops
/// waiting on the channel it blocks (lnnode clears a refusal once vlsd
/// answers the same request).
const BLOCKED_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Channel state settles within moments of a reconnect: polled.
async fn channels(world: &World<'_>, c: &ChannelsAssert) -> Result<()> {
    let n = world.cluster.node(&c.node)?;
    let what = format!(
        "{}: {} channels{}",
        c.node,
        c.count,
        c.state.map(|s| format!(" {s:?}")).unwrap_or_default()
    );
    until_passes(&what, lightning::STEP, || async {
        let chans = n.channels().await.map_err(|e| e.to_string())?;
        let states: Vec<ChannelState> = chans.iter().map(|c| c.state).collect();
        Ok(checker::channels(&c.node, c.count, c.state, &states))
    })
    .await
}

/// Polled: a process that was told to stop takes a moment to exit.
async fn running(world: &World<'_>, r: &RunningAssert) -> Result<()> {
    let c = world.cluster.container(&r.component)?;
    let want = if r.running { "running" } else { "down" };
    until_passes(
        &format!("{} {want}", r.component),
        Duration::from_secs(30),
        || async {
            let s = c.status().await.map_err(|e| e.to_string())?;
            let up = s.running && !s.paused;
            Ok(checker::running(&r.component, r.running, up, &s.status))
        },
    )
    .await
    .map_err(|e| HarnessError::Assertion(format!("expected {want}: {e}")))
}

/// A skewed clock is read until it shows the offset (a fault may still be
/// writing the offset file).
async fn clock(world: &World<'_>, c: &ClockAssert) -> Result<()> {
    let container = world.cluster.container(&c.component)?;
    until_passes(
        &format!("{}: clock {:+}s", c.component, c.offset_secs),
        Duration::from_secs(10),
        || async {
            let out = container
                .exec(&["date", "+%s"])
                .await
                .map_err(|e| e.to_string())?;
            let theirs: i64 = out
                .stdout
                .trim()
                .parse()
                .map_err(|_| format!("date said {:?}", out.stdout))?;
            let ours = vls_recovery::backup::now_ms() as i64 / 1000;
            Ok(checker::clock(&c.component, theirs - ours, c.offset_secs))
        },
    )
    .await?;
    tracing::info!(component = %c.component, "clock offset checked");
    Ok(())
}

async fn file(world: &World<'_>, f: &FileAssert) -> Result<CheckResult> {
    let c = world.cluster.container(&f.component)?;
    let exists = c.file_exists(&f.path).await?;
    let size = match (exists, f.size) {
        (true, Some(_)) => Some(c.read_file(&f.path).await?.len() as u64),
        _ => None,
    };
    let at = format!("{}:{}", f.component, f.path);
    Ok(checker::file(&at, exists, f.exists, size, f.size))
}
