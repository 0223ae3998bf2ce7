//! The executor: runs a plan's steps as a graph of operations, concurrently where the
//! dependencies allow, waiting for each resource to be usable (or gone) before the
//! operations that depend on it start.
//!
//! On the first failure (or an interrupt) no new operation starts; running ones finish.
//! Nothing is rolled back: the next run plans from what exists.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::plan::{resolve_props, Plan};
pub use super::schedule::OpKind;
use super::schedule::Operation;
use super::{CloudError, Deletion, Observed, Registry, ResourceKind, Status};

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
    /// How many operations the run has (before the first event).
    fn planned(&self, _operations: usize) {}
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
    /// How long a delete refused because the resource is still in use is tried again
    /// (interfaces AWS removes minutes after their owner).
    pub in_use_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallelism: 10,
            stop: Arc::new(AtomicBool::new(false)),
            in_use_wait: Duration::from_secs(20 * 60),
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
        /// The cloud's error code, when there is one (for the report's advice).
        code: Option<String>,
    },
    /// Deleting was declined on purpose (data kept); the reason says how to proceed.
    Kept {
        id: String,
        reason: String,
    },
    /// Not started: a dependency failed, or the run stopped first.
    NotStarted,
    /// Asked of AWS, which was still at it when an interrupt ended the wait: it carries
    /// on there, and the next run picks it up from what it finds.
    Settling {
        id: String,
        status: String,
    },
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
    /// What exists of the stack once the operations ended (the plan's existing resources
    /// with what was created, updated and deleted since).
    #[serde(skip)]
    pub live: Vec<Observed>,
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
    pub fn settling(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, OpResult::Settling { .. }))
    }
    pub fn kept(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, OpResult::Kept { .. }))
    }
    pub fn ok(&self) -> bool {
        self.failed().next().is_none()
            && self.not_started().next().is_none()
            && self.settling().next().is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
}

/// Run a plan's operations. Returns what was done, what failed and what was not started.
pub async fn apply(
    plan: &Plan,
    registry: &Registry,
    options: &Options,
    progress: Arc<dyn Progress>,
) -> Report {
    let ops = &plan.operations;
    progress.planned(ops.len());
    let live: Arc<Mutex<BTreeMap<String, Observed>>> = Arc::new(Mutex::new(plan.existing.clone()));

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
                    || !ops[i].after.iter().all(|&d| states[d] == State::Done)
                {
                    continue;
                }
                let Some(kind) = registry.get(ops[i].kind).cloned() else {
                    // The schedule checked every kind; a stranger is a failure, not a panic.
                    states[i] = State::Failed;
                    results[i] = Some(OpResult::Failed {
                        error: format!("no resource kind `{}` is registered", ops[i].kind),
                        code: None,
                    });
                    stopping = true;
                    continue;
                };
                states[i] = State::Running;
                running += 1;
                let parents: Vec<Observed> = match kind.info().parent {
                    Some(p) => live
                        .lock()
                        .map(|l| l.values().filter(|o| o.kind == p).cloned().collect())
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                let task = Task {
                    kind,
                    op: ops[i].clone(),
                    parents,
                    live: live.clone(),
                    progress: progress.clone(),
                    in_use_wait: options.in_use_wait,
                    stop: options.stop.clone(),
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
                    code: e.code.clone(),
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
    let live = live
        .lock()
        .map(|l| l.values().cloned().collect())
        .unwrap_or_default();
    Report {
        outcomes,
        interrupted: options.stop.load(Ordering::SeqCst),
        live,
    }
}

struct Task {
    kind: Arc<dyn ResourceKind>,
    op: Operation,
    /// What exists of the kind's parent kind (for a second look after a failed create).
    parents: Vec<Observed>,
    live: Arc<Mutex<BTreeMap<String, Observed>>>,
    progress: Arc<dyn Progress>,
    in_use_wait: Duration,
    /// Set by an interrupt: waits end at once.
    stop: Arc<AtomicBool>,
}

impl Task {
    /// Delete, trying again (with progress) while the cloud says the resource is still in
    /// use, up to the in-use wait.
    async fn delete(&self, cur: &Observed) -> Result<Deletion, CloudError> {
        let started = Instant::now();
        let mut interval = Duration::from_secs(2);
        loop {
            match self.kind.delete(cur).await {
                Err(e) if e.in_use && started.elapsed() + interval <= self.in_use_wait => {
                    self.progress.event(Event::Waiting {
                        kind: self.kind.kind(),
                        name: self.op.name.clone(),
                        status: format!("still in use: {}", e.message),
                        elapsed: started.elapsed(),
                    });
                    tokio::time::sleep(interval).await;
                    interval = (interval * 2).min(Duration::from_secs(30));
                }
                other => return other,
            }
        }
    }

    async fn run(self) -> Result<OpResult, CloudError> {
        let started = Instant::now();
        self.progress.event(Event::Started {
            op: self.op.op,
            kind: self.kind.kind(),
            name: self.op.name.clone(),
        });
        let res = self.execute().await;
        match &res {
            Ok(OpResult::Done { id }) => self.progress.event(Event::Finished {
                op: self.op.op,
                kind: self.kind.kind(),
                name: self.op.name.clone(),
                id: id.clone(),
                elapsed: started.elapsed(),
            }),
            Ok(OpResult::Kept { id, reason }) => self.progress.event(Event::Kept {
                kind: self.kind.kind(),
                name: self.op.name.clone(),
                id: id.clone(),
                reason: reason.clone(),
            }),
            Ok(_) => {}
            Err(e) => self.progress.event(Event::Failed {
                op: self.op.op,
                kind: self.kind.kind(),
                name: self.op.name.clone(),
                error: e.clone(),
            }),
        }
        res
    }

    fn resolved_props(&self) -> Result<super::Props, CloudError> {
        let Some(d) = &self.op.desired else {
            return Err(CloudError::new(
                "apply",
                format!("{} is not in the stack file", self.op.name),
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
        let Ok(found) = self.kind.discover(&self.parents).await else {
            return Err(error);
        };
        let mut found = found
            .into_iter()
            .filter(|o| o.name == self.op.name && o.failed.is_none() && !o.deleting);
        let (Some(current), None) = (found.next(), found.next()) else {
            return Err(error);
        };
        let info = self.kind.info();
        let changed: Vec<String> = props
            .keys()
            .filter(|f| !info.write_only.contains(&f.as_str()))
            .filter(|f| current.props.get(*f) != props.get(*f))
            .cloned()
            .collect();
        if changed.iter().any(|f| info.replace.contains(&f.as_str())) {
            return Err(error);
        }
        tracing::info!(
            "{error}; but {} {} exists ({}): carrying on from it{}",
            self.kind.kind(),
            self.op.name,
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
                .update(&self.op.name, props, &current, &changed)
                .await
        }
    }

    async fn execute(&self) -> Result<OpResult, CloudError> {
        let name = &self.op.name;
        let wait = self.kind.info().wait;
        match self.op.op {
            OpKind::Create | OpKind::Update => {
                let props = self.resolved_props()?;
                let obs = match (&self.op.op, &self.op.current) {
                    (OpKind::Update, Some(cur)) => {
                        self.kind
                            .update(name, &props, cur, &self.op.changed)
                            .await?
                    }
                    _ => match self.kind.create(name, &props).await {
                        Ok(o) => o,
                        Err(e) => self.recover_create(&props, e).await?,
                    },
                };
                let waited = match wait {
                    Some(_) => {
                        wait_for(&*self.kind, &obs, Want::Ready, &*self.progress, &self.stop)
                            .await?
                    }
                    None => Waited::Done,
                };
                // Outputs AWS gives only once it is ready: read it once more.
                let mut obs = obs;
                let lacking = self
                    .kind
                    .info()
                    .outputs
                    .iter()
                    .any(|o| *o != crate::engine::ID && !obs.outputs.contains_key(*o));
                if wait.is_some() && lacking && matches!(waited, Waited::Done) {
                    if let Ok(Some(fresh)) = self.kind.refresh(&obs).await {
                        for (k, v) in fresh.outputs {
                            obs.outputs.entry(k).or_insert(v);
                        }
                    }
                }
                let id = obs.id.clone();
                if let Ok(mut live) = self.live.lock() {
                    live.insert(name.clone(), obs);
                }
                Ok(waited.result(id))
            }
            OpKind::Delete => {
                let Some(cur) = &self.op.current else {
                    return Err(CloudError::new(
                        "apply",
                        format!("{name} has no id to delete"),
                    ));
                };
                if let Some(reason) = self.kind.keep_instead_of_delete(cur).await? {
                    return Ok(OpResult::Kept {
                        id: cur.id.clone(),
                        reason,
                    });
                }
                let waited = match self.delete(cur).await? {
                    Deletion::Gone => Waited::Done,
                    Deletion::Started | Deletion::NextStepWhenSettled => {
                        wait_for(&*self.kind, cur, Want::Missing, &*self.progress, &self.stop)
                            .await?
                    }
                };
                if let Waited::Interrupted { .. } = waited {
                    return Ok(waited.result(cur.id.clone()));
                }
                if let Ok(mut live) = self.live.lock() {
                    if live.get(name).is_some_and(|o| o.id == cur.id) {
                        live.remove(name);
                    }
                }
                Ok(OpResult::Done { id: cur.id.clone() })
            }
        }
    }
}

/// How a wait ended without error.
#[derive(Debug, Clone, PartialEq)]
pub enum Waited {
    Done,
    /// An interrupt ended it; AWS's last status.
    Interrupted {
        status: String,
    },
}

impl Waited {
    fn result(self, id: String) -> OpResult {
        match self {
            Waited::Done => OpResult::Done { id },
            Waited::Interrupted { status } => OpResult::Settling { id, status },
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
    stop: &AtomicBool,
) -> Result<Waited, CloudError> {
    let policy = kind.info().wait.unwrap_or_default();
    let started = Instant::now();
    let mut interval = policy.first_interval;
    loop {
        let status = kind.status(obs).await?;
        let pending = match (&status, want) {
            (Status::Ready, Want::Ready) | (Status::Missing, Want::Missing) => {
                return Ok(Waited::Done)
            }
            (Status::Failed(reason), Want::Ready) => {
                return Err(CloudError::new(
                    format!("waiting for {} {} ({})", kind.kind(), obs.name, obs.id),
                    format!("ended in a failed state: {reason}"),
                ))
            }
            (Status::Missing, Want::Ready) => "not visible yet".to_string(),
            (Status::Pending(s), _) => s.clone(),
            // Settled but still there: a delete of several steps (disable, then delete)
            // takes its next step.
            (Status::Ready, Want::Missing) => match kind.delete(obs).await? {
                Deletion::Gone => return Ok(Waited::Done),
                Deletion::Started | Deletion::NextStepWhenSettled => "deleting".to_string(),
            },
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
            status: pending.clone(),
            elapsed,
        });
        // An interrupt ends the pause at once (checked a few times a second).
        let pause = tokio::time::sleep(interval);
        tokio::pin!(pause);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(Waited::Interrupted { status: pending });
            }
            tokio::select! {
                _ = &mut pause => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        interval = match want {
            Want::Ready => policy.next_pause(started.elapsed(), interval),
            Want::Missing => policy.next_pause_gone(started.elapsed(), interval),
        };
    }
}
