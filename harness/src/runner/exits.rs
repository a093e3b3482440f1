//! Components that stop by themselves while a step runs. Without this, a
//! step waits out its whole timeout on a component that is gone (a node
//! blocked on a signer that panicked), and the run's error names the
//! timeout instead of the exit.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::error::HarnessError;
use crate::scenario::{Action, Step};

use super::state::World;

/// How long a component may be down before its exit ends the step. A
/// supervised one is started again by Docker well within it (its restart
/// backoff starts at 0.1 s and doubles: 3.1 s over the 5 restarts allowed),
/// and a fault's own kill is on the books long before.
const GRACE: Duration = Duration::from_secs(5);
/// How often the components' states are read.
const POLL: Duration = Duration::from_millis(500);

/// Resolves once a component that nothing in the scenario took down has
/// been down for [`GRACE`], with why; pends forever otherwise.
pub async fn unexpected_exit(world: &World<'_>, step: &Step) -> HarnessError {
    let mut down_since: HashMap<String, Instant> = HashMap::new();
    let mut kept_down: HashSet<String> = HashSet::new();
    loop {
        tokio::time::sleep(POLL).await;
        let expected = expected_down(world, step, &mut kept_down);
        for c in world.cluster.each_component() {
            let name = c.name();
            let running = match c.container().status().await {
                Ok(s) => s.running,
                // Docker not answering is some other step's error to report.
                Err(_) => continue,
            };
            if running || expected.contains(name) {
                down_since.remove(name);
                continue;
            }
            let since = *down_since
                .entry(name.to_string())
                .or_insert_with(Instant::now);
            if since.elapsed() >= GRACE {
                let why = c.container().not_running().await.unwrap_or_default();
                return HarnessError::component(
                    name,
                    format!("stopped by itself while this step ran (no fault or step of the scenario stopped it): {why}"),
                );
            }
        }
    }
}

/// After a step that ended well: a component down that nothing in the
/// scenario took down, and still down [`GRACE`] later (a supervised one is
/// back by then), fails the step as [`unexpected_exit`] would have, had the
/// step lasted long enough to see it.
pub async fn down_after(world: &World<'_>, step: &Step, steps: &[Step]) -> Option<HarnessError> {
    let mut kept_down = HashSet::new();
    let mut expected = expected_down(world, step, &mut kept_down);
    for s in steps {
        match &s.action {
            Action::RefusesStart(r) => {
                expected.insert(r.component.clone());
            }
            // An armed fault acts when its checkpoint fires, which may be
            // between steps (a crash restarts its component later).
            Action::Fault(f) if s.when.is_some() => {
                expected.insert(f.target().to_string());
            }
            _ => {}
        }
    }
    let deadline = Instant::now() + GRACE;
    loop {
        let mut down = Vec::new();
        for c in world.cluster.each_component() {
            if expected.contains(c.name()) {
                continue;
            }
            if let Ok(s) = c.container().status().await {
                if !s.running {
                    down.push(c);
                }
            }
        }
        let first = down.first()?;
        if Instant::now() >= deadline {
            let why = first.container().not_running().await.unwrap_or_default();
            return Some(HarnessError::component(
                first.name(),
                format!("stopped by itself while this step ran (no fault or step of the scenario stopped it): {why}"),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The components that are down on purpose: kept down by a fault, retired
/// by a step, or what this very step acts on (a fault, a heal, a start
/// that must be refused, a restore). The injector is busy for as long as
/// a fault or heal takes (a heal waits for its component to be ready):
/// then what it kept down at the last look stands, so a component dying
/// elsewhere meanwhile is still seen.
fn expected_down(
    world: &World<'_>,
    step: &Step,
    kept_down: &mut HashSet<String>,
) -> HashSet<String> {
    if let Ok(injector) = world.injector.try_lock() {
        *kept_down = injector
            .kept_down()
            .into_iter()
            .map(str::to_string)
            .collect();
    }
    let mut names = kept_down.clone();
    names.extend(world.state().retired.iter().cloned());
    names.extend(step_targets(&step.action));
    names
}

fn step_targets(action: &Action) -> Vec<String> {
    match action {
        Action::Fault(f) => vec![f.target().to_string()],
        Action::Heal(c) => vec![c.clone()],
        Action::RefusesStart(r) => vec![r.component.clone()],
        Action::Recover(r) => vec![format!("vlsd-{}", r.signer)],
        Action::VlsdRecover(r) => vec![format!("vlsd-{}", r.signer)],
        Action::Destroy(c) => vec![c.clone()],
        Action::RecoverChannels(r) => vec![r.node.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::step_targets;
    use crate::fault::Fault;
    use crate::scenario::Action;

    #[test]
    fn a_step_may_take_down_what_it_acts_on_and_nothing_else() {
        let kill = Action::Fault(Fault::Kill {
            target: "vlsd-alice".into(),
        });
        assert_eq!(step_targets(&kill), vec!["vlsd-alice".to_string()]);
        assert!(step_targets(&Action::Mine(1)).is_empty());
    }
}
