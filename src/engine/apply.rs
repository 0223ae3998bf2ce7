//! The executor: runs a plan's steps as a graph of operations, concurrently where the
//! dependencies allow, waiting for each resource to be usable (or gone) before the
//! operations that depend on it start.
//!
//! On the first failure (or an interrupt) no new operation starts; running ones finish.
//! Nothing is rolled back: the next run plans from what exists.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::graph::Graph;
use super::plan::{match_observed, observed_refs, resolve_props, Action, Plan};
use super::{CloudError, Desired, Observed, Registry, ResourceKind, Status};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Create,
    Update,
    Delete,
}

/// Progress events, for the renderer.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        op: OpKind,
        kind: &'static str,
        name: String,
    },
    Waiting {
        kind: &'static str,
        name: String,
        status: String,
        elapsed: Duration,
    },
    Finished {
        op: OpKind,
        kind: &'static str,
        name: String,
        id: String,
        elapsed: Duration,
    },
    Failed {
        op: OpKind,
        kind: &'static str,
        name: String,
        error: CloudError,
    },
    Kept {
        kind: &'static str,
        name: String,
        id: String,
        reason: String,
    },
}

pub trait Progress: Send + Sync {
    fn event(&self, e: Event);
}

/// Discards events.
pub struct Quiet;
impl Progress for Quiet {
    fn event(&self, _e: Event) {}
}

#[derive(Clone)]
pub struct Options {
    pub parallelism: usize,
    /// Set (by Ctrl-C) to stop starting new operations.
    pub stop: Arc<AtomicBool>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallelism: 10,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum OpResult {
    Done {
        id: String,
    },
    Failed {
        error: String,
    },
    /// Deleting was declined on purpose (data kept); the reason says how to proceed.
    Kept {
        id: String,
        reason: String,
    },
    /// Not started: a dependency failed, or the run stopped first.
    NotStarted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub op: OpKind,
    pub kind: &'static str,
    pub name: String,
    #[serde(flatten)]
    pub result: OpResult,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    pub interrupted: bool,
}

impl Report {
    pub fn failed(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, OpResult::Failed { .. }))
    }
    pub fn not_started(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, OpResult::NotStarted))
    }
    pub fn done(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, OpResult::Done { .. }))
    }
    pub fn kept(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, OpResult::Kept { .. }))
    }
    pub fn ok(&self) -> bool {
        self.failed().next().is_none() && self.not_started().next().is_none()
    }
}

#[derive(Debug)]
struct Op {
    kind: &'static str,
    name: String,
    op: OpKind,
    /// Fields to change (updates).
    changed: Vec<String>,
    /// The existing resource (updates and deletes).
    current: Option<Observed>,
    deps: BTreeSet<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
}

/// Errors that stop an apply before any operation runs.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot order the plan: {0}")]
    Unorderable(String),
    #[error("no resource kind `{0}` is registered")]
    UnknownKind(String),
}

/// Build the operation graph of a plan. `desired` gives references and explicit
/// `depends_on` edges; `observed` gives what exists (and who references whom).
fn build_ops(
    plan: &Plan,
    desired: &[Desired],
    observed: &[Observed],
) -> Result<Vec<Op>, ApplyError> {
    let matched = match_observed(desired, observed);
    let by_id: BTreeMap<&str, &Observed> = observed.iter().map(|o| (o.id.as_str(), o)).collect();
    let desired_by_name: BTreeMap<&str, &Desired> =
        desired.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut ops: Vec<Op> = Vec::new();
    // Name -> op index, for the op that makes the desired resource exist / up to date.
    let mut up_op: BTreeMap<String, usize> = BTreeMap::new();
    // Name -> delete op index (removed or replaced), one per physical id.
    let mut del_ops: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut replaced: BTreeSet<String> = BTreeSet::new();

    for step in &plan.steps {
        let current = step
            .id
            .as_deref()
            .and_then(|id| by_id.get(id).copied().cloned())
            .or_else(|| {
                matched
                    .by_name
                    .get(step.name.as_str())
                    .map(|o| (*o).clone())
            });
        match step.action {
            Action::NoOp => {}
            Action::Create | Action::Update => {
                up_op.insert(step.name.clone(), ops.len());
                ops.push(Op {
                    kind: step.kind,
                    name: step.name.clone(),
                    op: if step.action == Action::Create {
                        OpKind::Create
                    } else {
                        OpKind::Update
                    },
                    changed: step.changes.iter().map(|c| c.field.clone()).collect(),
                    current,
                    deps: BTreeSet::new(),
                });
            }
            Action::Replace => {
                replaced.insert(step.name.clone());
                del_ops
                    .entry(step.name.clone())
                    .or_default()
                    .push(ops.len());
                ops.push(Op {
                    kind: step.kind,
                    name: step.name.clone(),
                    op: OpKind::Delete,
                    changed: Vec::new(),
                    current,
                    deps: BTreeSet::new(),
                });
                let del = ops.len() - 1;
                up_op.insert(step.name.clone(), ops.len());
                ops.push(Op {
                    kind: step.kind,
                    name: step.name.clone(),
                    op: OpKind::Create,
                    changed: Vec::new(),
                    current: None,
                    deps: BTreeSet::from([del]),
                });
            }
            Action::Delete => {
                del_ops
                    .entry(step.name.clone())
                    .or_default()
                    .push(ops.len());
                ops.push(Op {
                    kind: step.kind,
                    name: step.name.clone(),
                    op: OpKind::Delete,
                    changed: Vec::new(),
                    current,
                    deps: BTreeSet::new(),
                });
            }
        }
    }

    // Creates and updates wait for what they reference.
    for (name, &i) in &up_op {
        if let Some(d) = desired_by_name.get(name.as_str()) {
            for dep in d.deps() {
                if let Some(&j) = up_op.get(&dep) {
                    ops[i].deps.insert(j);
                }
            }
        }
    }

    // Deletes wait for the resources that reference the doomed one to let go of it:
    // their own delete, or (when the target is removed, not replaced) their update.
    let refs = observed_refs(observed);
    let mut referenced_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in &refs {
        for t in targets {
            referenced_by
                .entry(t.clone())
                .or_default()
                .insert(from.clone());
        }
    }
    for d in desired {
        for t in &d.depends_on {
            referenced_by
                .entry(t.clone())
                .or_default()
                .insert(d.name.clone());
        }
    }
    for (name, dels) in &del_ops {
        for y in referenced_by.get(name).into_iter().flatten() {
            let mut waits: Vec<usize> = del_ops.get(y).cloned().unwrap_or_default();
            if !replaced.contains(name) {
                if let Some(&u) = up_op.get(y) {
                    if ops[u].op == OpKind::Update {
                        waits.push(u);
                    }
                }
            }
            for &i in dels {
                ops[i]
                    .deps
                    .extend(waits.iter().copied().filter(|&w| w != i));
            }
        }
    }

    let mut g = Graph::new();
    for (i, op) in ops.iter().enumerate() {
        g.add_node(&i.to_string());
        for d in &op.deps {
            g.add_edge(&i.to_string(), &d.to_string());
        }
    }
    if let Err(cycle) = g.topo_order() {
        let names: Vec<String> = cycle
            .iter()
            .filter_map(|i| i.parse::<usize>().ok())
            .map(|i| format!("{:?} {}", ops[i].op, ops[i].name).to_lowercase())
            .collect();
        return Err(ApplyError::Unorderable(names.join(" -> ")));
    }
    Ok(ops)
}

/// Run a plan. Returns what was done, what failed and what was not started.
pub async fn apply(
    plan: &Plan,
    desired: &[Desired],
    observed: &[Observed],
    registry: &Registry,
    options: &Options,
    progress: Arc<dyn Progress>,
) -> Result<Report, ApplyError> {
    let ops = build_ops(plan, desired, observed)?;
    for op in &ops {
        if registry.get(op.kind).is_none() {
            return Err(ApplyError::UnknownKind(op.kind.to_string()));
        }
    }
    let matched = match_observed(desired, observed);
    let live: Arc<Mutex<BTreeMap<String, Observed>>> = Arc::new(Mutex::new(
        matched
            .by_name
            .iter()
            .map(|(n, o)| (n.to_string(), (*o).clone()))
            .collect(),
    ));
    let desired_by_name: Arc<BTreeMap<String, Desired>> = Arc::new(
        desired
            .iter()
            .map(|d| (d.name.clone(), d.clone()))
            .collect(),
    );

    let mut states = vec![State::Pending; ops.len()];
    let mut results: Vec<Option<OpResult>> = vec![None; ops.len()];
    let mut set = tokio::task::JoinSet::new();
    let mut running = 0usize;
    let mut stopping = false;
    let parallelism = options.parallelism.max(1);

    loop {
        if options.stop.load(Ordering::SeqCst) {
            stopping = true;
        }
        if !stopping {
            for i in 0..ops.len() {
                if running >= parallelism {
                    break;
                }
                if states[i] != State::Pending
                    || !ops[i].deps.iter().all(|&d| states[d] == State::Done)
                {
                    continue;
                }
                states[i] = State::Running;
                running += 1;
                let kind = registry
                    .get(ops[i].kind)
                    .cloned()
                    .ok_or_else(|| ApplyError::UnknownKind(ops[i].kind.to_string()))?;
                let task = Task {
                    kind,
                    name: ops[i].name.clone(),
                    op: ops[i].op,
                    changed: ops[i].changed.clone(),
                    current: ops[i].current.clone(),
                    desired: desired_by_name.get(&ops[i].name).cloned(),
                    live: live.clone(),
                    progress: progress.clone(),
                };
                set.spawn(async move { (i, task.run().await) });
            }
        }
        if running == 0 {
            break;
        }
        // Wake up regularly so that an interrupt stops new work promptly.
        let joined = tokio::select! {
            j = set.join_next() => j,
            _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
        };
        let Some(joined) = joined else { break };
        running -= 1;
        match joined {
            Ok((i, Ok(done))) => {
                states[i] = State::Done;
                results[i] = Some(done);
            }
            Ok((i, Err(e))) => {
                states[i] = State::Failed;
                results[i] = Some(OpResult::Failed {
                    error: e.to_string(),
                });
                stopping = true;
            }
            Err(join_err) => {
                // A panicking task: we no longer know which op it was; stop everything.
                tracing::error!("operation task ended abnormally: {join_err}");
                stopping = true;
            }
        }
    }

    let outcomes = ops
        .iter()
        .enumerate()
        .map(|(i, op)| Outcome {
            op: op.op,
            kind: op.kind,
            name: op.name.clone(),
            result: results[i].clone().unwrap_or(OpResult::NotStarted),
        })
        .collect();
    Ok(Report {
        outcomes,
        interrupted: options.stop.load(Ordering::SeqCst),
    })
}

struct Task {
    kind: Arc<dyn ResourceKind>,
    name: String,
    op: OpKind,
    changed: Vec<String>,
    current: Option<Observed>,
    desired: Option<Desired>,
    live: Arc<Mutex<BTreeMap<String, Observed>>>,
    progress: Arc<dyn Progress>,
}

impl Task {
    async fn run(self) -> Result<OpResult, CloudError> {
        let started = Instant::now();
        self.progress.event(Event::Started {
            op: self.op,
            kind: self.kind.kind(),
            name: self.name.clone(),
        });
        let res = self.execute().await;
        match &res {
            Ok(OpResult::Done { id }) => self.progress.event(Event::Finished {
                op: self.op,
                kind: self.kind.kind(),
                name: self.name.clone(),
                id: id.clone(),
                elapsed: started.elapsed(),
            }),
            Ok(OpResult::Kept { id, reason }) => self.progress.event(Event::Kept {
                kind: self.kind.kind(),
                name: self.name.clone(),
                id: id.clone(),
                reason: reason.clone(),
            }),
            Ok(_) => {}
            Err(e) => self.progress.event(Event::Failed {
                op: self.op,
                kind: self.kind.kind(),
                name: self.name.clone(),
                error: e.clone(),
            }),
        }
        res
    }

    fn resolved_props(&self) -> Result<super::Props, CloudError> {
        let Some(d) = &self.desired else {
            return Err(CloudError::new(
                "apply",
                format!("{} is not in the stack file", self.name),
            ));
        };
        let live = self
            .live
            .lock()
            .map_err(|_| CloudError::new("apply", "state lock poisoned"))?;
        let lookup = |n: &str, attr: &str| live.get(n).and_then(|o| o.outputs.get(attr).cloned());
        let (mut props, unknown) = resolve_props(&d.props, &lookup);
        if let Some(f) = unknown.iter().next() {
            return Err(CloudError::new(
                "apply",
                format!("field {f} references a resource that does not exist yet"),
            ));
        }
        self.kind.normalize(&mut props);
        Ok(props)
    }

    /// A create that failed may still have happened: the SDK retried a call whose first
    /// attempt went through (its answer was lost) and the retry was refused as a
    /// duplicate, or a later step of a multi-call create failed. Look once more: if
    /// exactly one resource of that name now exists, carry on from it (updating what
    /// differs) instead of failing; otherwise the original error stands.
    async fn recover_create(
        &self,
        props: &super::Props,
        error: CloudError,
    ) -> Result<Observed, CloudError> {
        let Ok(found) = self.kind.discover().await else {
            return Err(error);
        };
        let mut found = found
            .into_iter()
            .filter(|o| o.name == self.name && o.failed.is_none());
        let (Some(current), None) = (found.next(), found.next()) else {
            return Err(error);
        };
        let changed: Vec<String> = props
            .keys()
            .filter(|f| !self.kind.write_only().contains(&f.as_str()))
            .filter(|f| current.props.get(*f) != props.get(*f))
            .cloned()
            .collect();
        if changed
            .iter()
            .any(|f| self.kind.replace_fields().contains(&f.as_str()))
        {
            return Err(error);
        }
        tracing::info!(
            "{error}; but {} {} exists ({}): carrying on from it{}",
            self.kind.kind(),
            self.name,
            current.id,
            if changed.is_empty() {
                String::new()
            } else {
                format!(", updating {}", changed.join(", "))
            }
        );
        if changed.is_empty() {
            Ok(current)
        } else {
            self.kind
                .update(&self.name, props, &current, &changed)
                .await
        }
    }

    async fn execute(&self) -> Result<OpResult, CloudError> {
        match self.op {
            OpKind::Create | OpKind::Update => {
                let props = self.resolved_props()?;
                let obs = match (&self.op, &self.current) {
                    (OpKind::Update, Some(cur)) => {
                        self.kind
                            .update(&self.name, &props, cur, &self.changed)
                            .await?
                    }
                    _ => match self.kind.create(&self.name, &props).await {
                        Ok(o) => o,
                        Err(e) => self.recover_create(&props, e).await?,
                    },
                };
                if self.kind.needs_wait() {
                    wait_for(&*self.kind, &obs, Want::Ready, &*self.progress).await?;
                }
                let id = obs.id.clone();
                if let Ok(mut live) = self.live.lock() {
                    live.insert(self.name.clone(), obs);
                }
                Ok(OpResult::Done { id })
            }
            OpKind::Delete => {
                let Some(cur) = &self.current else {
                    return Err(CloudError::new(
                        "apply",
                        format!("{} has no id to delete", self.name),
                    ));
                };
                if let Some(reason) = self.kind.keep_instead_of_delete(cur).await? {
                    return Ok(OpResult::Kept {
                        id: cur.id.clone(),
                        reason,
                    });
                }
                self.kind.delete(cur).await?;
                if self.kind.needs_wait() {
                    wait_for(&*self.kind, cur, Want::Missing, &*self.progress).await?;
                }
                if let Ok(mut live) = self.live.lock() {
                    if live
                        .get(&self.name)
                        .map(|o| o.id == cur.id)
                        .unwrap_or(false)
                    {
                        live.remove(&self.name);
                    }
                }
                Ok(OpResult::Done { id: cur.id.clone() })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Want {
    Ready,
    Missing,
}

/// Poll a resource until it is ready (or gone), with growing intervals, a timeout and
/// progress events. A resource that is not visible right after its creation is treated
/// as pending (eventual consistency), within the same timeout.
pub async fn wait_for(
    kind: &dyn ResourceKind,
    obs: &Observed,
    want: Want,
    progress: &dyn Progress,
) -> Result<(), CloudError> {
    let policy = kind.wait_policy();
    let started = Instant::now();
    let mut interval = policy.first_interval;
    loop {
        let status = kind.status(obs).await?;
        let pending = match (&status, want) {
            (Status::Ready, Want::Ready) | (Status::Missing, Want::Missing) => return Ok(()),
            (Status::Failed(reason), Want::Ready) => {
                return Err(CloudError::new(
                    format!("waiting for {} {} ({})", kind.kind(), obs.name, obs.id),
                    format!("ended in a failed state: {reason}"),
                ))
            }
            (Status::Missing, Want::Ready) => "not visible yet".to_string(),
            (Status::Pending(s), _) => s.clone(),
            // Settled but still there: deletes that take several steps (disable, then delete)
            // are driven by calling delete again once the previous step has settled.
            (Status::Ready, Want::Missing) => {
                kind.delete(obs).await?;
                "deleting".to_string()
            }
            (Status::Failed(s), Want::Missing) => format!("failed: {s}"),
        };
        let elapsed = started.elapsed();
        if elapsed >= policy.timeout {
            return Err(CloudError::new(
                format!("waiting for {} {} ({})", kind.kind(), obs.name, obs.id),
                format!(
                    "still {pending} after {}s (limit {}s)",
                    elapsed.as_secs(),
                    policy.timeout.as_secs()
                ),
            )
            .with_code("WaitTimeout"));
        }
        progress.event(Event::Waiting {
            kind: kind.kind(),
            name: obs.name.clone(),
            status: pending,
            elapsed,
        });
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(policy.max_interval);
    }
}
