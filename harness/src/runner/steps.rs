//! One function per step kind. Each returns what it produced when that is
//! worth a line of the timeline; faults and heals say so as events.

use std::time::Duration;

use crate::checkpoint::read_from;
use crate::error::{HarnessError, Result};
use crate::lightning;
use crate::node::{Node, NodeEvent, PaymentStatus};
use crate::report::event::RunEvent;
use crate::scenario::{
    Action, CloseSpec, OpenChannelSpec, RecoverSpec, RefusesStartSpec, SnapshotSpec, Step, Wait,
};
use crate::wait::{self, NotYet};

use super::state::{Opened, World};
use super::{assert, cheat, disaster, pay, scb, upstream};

/// Runs one step. `Ok(Some(detail))` for steps whose effect is worth a
/// timeline line of its own.
pub async fn execute(world: &World<'_>, step: &Step) -> Result<Option<String>> {
    let cluster = world.cluster;
    match &step.action {
        Action::Mine(n) => mine(world, *n).await.map(|_| None),
        Action::Fund(f) => {
            lightning::fund(cluster, cluster.node(&f.node)?, f.sat).await?;
            Ok(None)
        }
        Action::MineUntilSettled(max) => {
            let nodes = world.live_nodes();
            let mined = lightning::mine_until_settled(cluster, &nodes, *max).await?;
            Ok(Some(format!("{mined} blocks")))
        }
        Action::OpenChannel(o) => open_channel(world, o).await.map(Some),
        Action::Pay(p) => pay::pay(world, p).await,
        Action::Settle(h) => resolve_hold(world, h, true).await.map(|_| None),
        Action::Fail(h) => resolve_hold(world, h, false).await.map(|_| None),
        Action::Close(c) => close(world, c, false).await.map(Some),
        Action::ForceClose(c) => close(world, c, true).await.map(Some),
        Action::WaitFor(w) => wait_for(world, w).await.map(|_| None),
        Action::Fault(f) => {
            let detail = world.apply_fault(f).await?;
            world.events.emit(RunEvent::FaultApplied {
                label: step.label.clone(),
                detail,
            });
            Ok(None)
        }
        Action::Heal(target) => {
            let healed = world.injector.lock().await.heal(cluster, target).await?;
            world.events.emit(RunEvent::FaultHealed {
                label: step.label.clone(),
                detail: format!("healed: {}", healed.join("; ")),
            });
            Ok(None)
        }
        Action::RefusesStart(r) => refuses_start(world, r).await.map(Some),
        Action::Snapshot(s) => snapshot(world, s).await.map(Some),
        Action::Recover(r) => recover(world, r).await.map(Some),
        Action::VlsdRecover(r) => upstream::vlsd_recover(world, r).await.map(Some),
        Action::Destroy(c) => disaster::destroy(world, c).await.map(Some),
        Action::Backup(b) => disaster::backup(world, b).await.map(Some),
        Action::RecoverOnchain(r) => disaster::recover_onchain(world, r).await.map(Some),
        Action::RecoverChannels(r) => scb::recover_channels(world, r).await.map(Some),
        Action::Withdraw(n) => scb::withdraw(world, n).await.map(Some),
        Action::Stash(s) => cheat::stash(world, s).await.map(Some),
        Action::BroadcastStash(n) => cheat::broadcast(world, n).await.map(Some),
        Action::SweepStash(n) => cheat::sweep(world, n).await.map(Some),
        Action::Assert(a) => assert::assert(world, a).await.map(|_| None),
    }
}

/// How long a refusing component gets to exit and say why after its start.
const REFUSAL: Duration = Duration::from_secs(30);
/// How far a container's log file may lag behind its exit.
const LOG_LAG: Duration = Duration::from_secs(3);

/// Starts the component again (healing what is in force on it) and
/// requires it to refuse: a start that comes up ready fails the step.
async fn refuses_start(world: &World<'_>, r: &RefusesStartSpec) -> Result<String> {
    let c = &r.component;
    let container = world.cluster.container(c)?;
    let path = container.logs().path().to_path_buf();
    let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let healed = world.injector.lock().await.heal(world.cluster, c).await;
    if let Ok(h) = healed {
        return Err(HarnessError::Assertion(format!(
            "{c} came back ready ({}) where it should refuse to start; expected it to exit with `{}` in its log",
            h.join("; "),
            r.log
        )));
    }
    let exited_at = std::sync::Mutex::new(None::<std::time::Instant>);
    let line = wait::until_or_never(
        &format!("{c} exited, its log saying `{}`", r.log),
        REFUSAL,
        || async {
            let running = match container.status().await {
                Ok(st) => st.running,
                Err(e) => return Err(NotYet::Pending(e.to_string())),
            };
            let (since, _) =
                read_from(&path, offset).map_err(|e| NotYet::Pending(e.to_string()))?;
            let found = since
                .lines()
                .find(|l| l.contains(&r.log))
                .map(str::to_string);
            match (found, running) {
                (Some(line), false) => Ok(line),
                (Some(_), true) => Err(NotYet::Pending(format!(
                    "said `{}` but is still running",
                    r.log
                ))),
                (None, true) => Err(NotYet::Pending(format!("no `{}` in its log yet", r.log))),
                (None, false) => {
                    // The log is copied behind the container: give it a moment.
                    let first =
                        *crate::sync::lock(&exited_at).get_or_insert_with(std::time::Instant::now);
                    let why = format!(
                        "it exited without `{}` in its log since the start; last lines:\n{}",
                        r.log,
                        crate::log::log_excerpt(&since, 8, 4)
                    );
                    if first.elapsed() > LOG_LAG {
                        Err(NotYet::Never(why))
                    } else {
                        Err(NotYet::Pending(why))
                    }
                }
            }
        },
    )
    .await?;
    Ok(format!("{c} refused to start: {}", line.trim()))
}

async fn mine(world: &World<'_>, blocks: u64) -> Result<()> {
    let cluster = world.cluster;
    cluster.bitcoind()?.mine(blocks).await?;
    // A node partitioned from bitcoind cannot catch up until healed;
    // waiting for it would only burn the step's timeout.
    let cut_off = world.injector.lock().await.partitioned_from("bitcoind");
    let nodes: Vec<_> = world
        .live_nodes()
        .into_iter()
        .filter(|n| !cut_off.iter().any(|c| c == n.name()))
        .collect();
    lightning::wait_synced_best_effort(cluster, &nodes).await;
    Ok(())
}

/// Settles (or fails) a held payment at its payee and waits for the payer
/// to see the outcome.
async fn resolve_hold(world: &World<'_>, name: &str, settle: bool) -> Result<()> {
    let hold = world.hold(name)?;
    let payee = world.cluster.node(&hold.payee)?;
    let payer = world.cluster.node(&hold.payer)?;
    let want = if settle {
        payee.settle(&hold.hash, &hold.preimage).await?;
        PaymentStatus::Succeeded
    } else {
        payee.fail(&hold.hash).await?;
        PaymentStatus::Failed
    };
    lightning::wait_payment_status(payer, &hold.hash, want, lightning::STEP).await
}

async fn open_channel(world: &World<'_>, o: &OpenChannelSpec) -> Result<String> {
    let cluster = world.cluster;
    if !o.pending {
        return match lightning::request_open(cluster, &o.from, &o.to, o.capacity_sat).await {
            Ok(_) => Ok(format!("{} asked {} to open a channel", o.from, o.to)),
            // The opener went down while it took the request (a fault
            // fired mid-request); what became of the channel is for the
            // later steps to see.
            Err(HarnessError::Rpc { reason, .. }) => Ok(format!(
                "{} went down while asking {} to open a channel: {reason}",
                o.from, o.to
            )),
            Err(e) => Err(e),
        };
    }
    let id = lightning::open_pending(cluster, &o.from, &o.to, o.capacity_sat).await?;
    if o.confirm {
        cluster.bitcoind()?.mine(6).await?;
        lightning::wait_usable(cluster, &o.from, &o.to, &id).await?;
    }
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", o.from, o.to));
    world.state().channels.insert(
        name,
        Opened {
            id: id.clone(),
            opener: o.from.clone(),
            peer: o.to.clone(),
        },
    );
    Ok(format!("channel {id}"))
}

async fn close(world: &World<'_>, c: &CloseSpec, force: bool) -> Result<String> {
    let Opened { id, opener, .. } = world.channel(&c.channel)?;
    let by = c.by.clone().unwrap_or(opener);
    let node = world.cluster.node(&by)?;
    if force {
        node.force_close_channel(&id).await?;
    } else {
        node.close_channel(&id).await?;
    }
    if !c.wait {
        return Ok(format!(
            "{} of {id} asked of {by}, not waited for",
            if force { "force-close" } else { "close" }
        ));
    }
    // Closed once the node no longer lists it (the closing or commitment
    // transaction is then broadcast).
    wait::until(
        &format!("{by}: channel {} closed", c.channel),
        lightning::STEP,
        || async {
            let chans = node.channels().await.map_err(|e| e.to_string())?;
            if chans.iter().any(|ch| ch.channel_id == id) {
                Err("still listed".to_string())
            } else {
                Ok(())
            }
        },
    )
    .await?;
    Ok(format!(
        "{} {id} by {by}",
        if force { "force-closed" } else { "closed" }
    ))
}

async fn wait_for(world: &World<'_>, w: &Wait) -> Result<()> {
    match w {
        Wait::Event {
            node,
            event,
            timeout_secs,
        } => {
            let n = world.cluster.node(node)?;
            let kind = *event;
            let pred = move |e: &NodeEvent| kind.matches(e);
            n.wait_event(
                &format!("{event:?}"),
                Duration::from_secs(*timeout_secs),
                &pred,
            )
            .await
            .map(|_| ())
        }
        Wait::Checkpoint { name, timeout_secs } => {
            wait::until(
                &format!("checkpoint {name} reached"),
                Duration::from_secs(*timeout_secs),
                || async {
                    if world.state().fired.iter().any(|n| n == name) {
                        Ok(())
                    } else {
                        Err("not yet".to_string())
                    }
                },
            )
            .await
        }
        Wait::Payments { node, timeout_secs } => {
            pay::wait_unwaited(world, node, Duration::from_secs(*timeout_secs)).await
        }
    }
}

async fn snapshot(world: &World<'_>, s: &SnapshotSpec) -> Result<String> {
    let cluster = world.cluster;
    let signer = cluster.signer(&s.signer)?;
    let (snapshot, json) = crate::artifacts::snapshot_signer(signer).await?;
    let dir = cluster.run_dir().join("snapshots");
    std::fs::create_dir_all(&dir).map_err(HarnessError::io(&dir))?;
    let path = dir.join(format!("{}.json", s.name));
    std::fs::write(&path, json).map_err(HarnessError::io(&path))?;
    let detail = format!(
        "{} channels, {} store entries -> {}",
        snapshot.channels.len(),
        snapshot.store.len(),
        path.display()
    );
    world.state().snapshots.insert(s.name.clone(), snapshot);
    Ok(detail)
}

/// Restores a signer from a snapshot through the recovery library; a
/// refusal is a pass only when the step expects that very error code.
async fn recover(world: &World<'_>, r: &RecoverSpec) -> Result<String> {
    let cluster = world.cluster;
    let snapshot = world.snapshot(&r.from)?;
    let signer = cluster.signer(&r.signer)?;
    let outcome = crate::artifacts::restore_signer(signer, &snapshot, &r.from).await;
    let name = signer.container().name().to_string();
    let detail = match (outcome, &r.expect_error) {
        (Ok(d), None) => d,
        (Ok(d), Some(code)) => {
            return Err(HarnessError::Assertion(format!(
                "restore of {name} from {} succeeded ({d}), expected {code}",
                r.from
            )))
        }
        (Err(e), Some(code)) if e.code() == Some(code.as_str()) => {
            format!("refused as expected: {e}")
        }
        (Err(e), _) => return Err(e.into_harness()),
    };
    world
        .injector
        .lock()
        .await
        .after_start(cluster, &name)
        .await?;
    if let Ok(n) = cluster.node(&r.signer) {
        n.wait_ready().await?;
    }
    Ok(detail)
}
