//! The commands' choreography: each flow takes a connected [`Session`], does its work
//! through the engine, and returns what happened ([`Outcome`]) or why it stopped
//! ([`Error`], with typed [`Refusal`]s). Flows never print: what the user sees, and the
//! questions asked, go through the [`View`] they are given.

pub mod adopt;
pub mod down;
pub mod kubeconfig;
pub mod list;
pub mod output;
pub mod plan;
pub mod review;
pub mod saved;
pub mod snapshots;
pub mod unlock;
pub mod up;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::aws::{Aws, Settings, StatsReport};
use crate::engine::apply::{Progress, Report};
use crate::engine::plan::Plan;
use crate::engine::schedule::ScheduleError;
use crate::engine::{Artifact, CloudError, Desired, Observed, Registry};
use crate::kinds::{self, Context, Scope};
use crate::lock::{Holder, LockError, LockStore};
use crate::model::{Invalid, Stack};

/// Everything a command needs once the stack file is valid.
pub struct Session {
    pub stack: Stack,
    /// The caller's ARN, recorded in the stack lock.
    pub principal: String,
    pub registry: Registry,
    pub cx: Arc<Context>,
    pub aws: Aws,
    pub desired: Vec<Desired>,
    /// `up --ttl`: a new expiry, counted from now.
    pub ttl: Option<Duration>,
    /// The stack's expiry as recorded (or to be recorded) by the last discovery.
    pub expiry: std::sync::Mutex<Option<String>>,
    /// When the session started: a new expiry counts from here, so that the plan made
    /// before asking and the one made under the lock agree.
    pub started: u64,
}

impl Session {
    /// Clients from the standard configuration chain, the caller's account, and the
    /// stack's desired resources and kinds for it.
    pub async fn connect(
        stack: Stack,
        settings: &Settings,
        options: kinds::Options,
    ) -> Result<Session, Error> {
        crate::aws::check_profile(settings.profile.as_deref()).await?;
        let aws = Aws::connect(settings).await;
        let (account, principal) = aws.caller().await?;
        let desired = stack.desired(&kinds::models(), &account);
        let cx = Arc::new(Context {
            aws: aws.clone(),
            scope: Scope {
                stack: stack.name.clone(),
                account,
                region: stack.region.clone(),
            },
            options,
        });
        Ok(Session {
            registry: kinds::registry(cx.clone()),
            cx,
            principal,
            stack,
            aws,
            desired,
            ttl: None,
            expiry: std::sync::Mutex::new(None),
            started: crate::clock::now_secs(),
        })
    }

    /// Where this session works.
    pub fn place(&self) -> Place {
        // A part of another entry (`alb.rules`) is found at its entry, in its section.
        let sections: BTreeMap<&str, &str> = self
            .desired
            .iter()
            .filter_map(|d| Some((d.name.as_str(), self.registry.get(d.kind)?.info().section)))
            .collect();
        let entries: Vec<(&str, &str, &str)> = self
            .desired
            .iter()
            .filter_map(|d| {
                let entry = d.name.split('.').next()?;
                let section = sections.get(entry).copied().filter(|s| !s.is_empty())?;
                Some((d.name.as_str(), section, entry))
            })
            .collect();
        let found = self
            .stack
            .entry_lines(entries.iter().map(|(_, section, entry)| (*section, *entry)));
        let lines = entries
            .iter()
            .zip(found)
            .filter_map(|((name, _, _), line)| Some((name.to_string(), line?)))
            .collect();
        Place {
            stack: self.stack.name.clone(),
            account: Some(self.cx.scope.account.clone()),
            region: self.stack.region.clone(),
            lines,
            expires: self.expiry(),
        }
    }

    /// A create or update AWS refused as invalid input points at the entry of the stack
    /// file that asked for it: `[stack.yaml:14: subnets.a]` after AWS's message.
    pub fn locate_refusals(&self, report: &mut Report) {
        locate_refusals(
            &self.stack,
            &|kind| Some(self.registry.get(kind)?.info().section),
            report,
        );
    }

    /// What the user wants to see of what exists (addresses, endpoints), by name
    /// (`<resource>.<output>`), in name order.
    pub fn outputs<'a>(&self, live: impl IntoIterator<Item = &'a Observed>) -> Vec<StackOutput> {
        let mut out: Vec<StackOutput> = live
            .into_iter()
            .filter(|o| !o.deleting)
            .filter_map(|o| Some((o, self.registry.get(o.kind)?)))
            .flat_map(|(o, k)| {
                k.info().shown.iter().filter_map(move |sh| {
                    Some(StackOutput {
                        name: format!("{}.{}", o.name, sh.name),
                        kind: o.kind,
                        value: sh.render(o)?,
                        about: sh.about,
                    })
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// What exists, and the plan from it to the stack file.
    pub async fn discover(&self) -> Result<(Vec<Observed>, Plan), Error> {
        let observed = self.registry.discover_all().await?;
        let desired = self.with_expiry(&observed);
        let plan = crate::engine::plan::plan(&desired, &observed, &self.registry)?;
        Ok((observed, plan))
    }

    /// The desired resources with the stack's expiry tag, resolved from `--ttl`, the
    /// file and what the stack's resources record (kept in `self.expiry` for the views).
    pub fn with_expiry(&self, observed: &[Observed]) -> Vec<Desired> {
        use crate::model::expiry::{self, TAG_EXPIRES};
        let resolved = expiry::resolve(
            self.stack.expires,
            self.ttl,
            recorded_expiry(observed),
            self.started,
        );
        let mut desired = self.desired.clone();
        if let Some(at) = &resolved {
            for d in &mut desired {
                if let Some(serde_json::Value::Object(tags)) = d.props.get_mut("tags") {
                    tags.insert(TAG_EXPIRES.into(), serde_json::Value::String(at.clone()));
                }
            }
        }
        if let Ok(mut e) = self.expiry.lock() {
            *e = resolved;
        }
        desired
    }

    /// The expiry found by the last discovery.
    pub fn expiry(&self) -> Option<String> {
        self.expiry.lock().ok().and_then(|e| e.clone())
    }

    /// Whether AWS offers what the file asks (versions, classes, zones), from its own
    /// catalogs: each kind's read-only check, concurrently, before any write. What it does
    /// not offer is reported like the validator's findings, with file, line and field.
    pub async fn available(&self, observed: &[Observed]) -> Result<(), Error> {
        let checks = self.registry.all().map(|k| {
            let wanted: Vec<&Desired> =
                self.desired.iter().filter(|d| d.kind == k.kind()).collect();
            let existing: Vec<Observed> = observed
                .iter()
                .filter(|o| o.kind == k.kind())
                .cloned()
                .collect();
            async move {
                if wanted.is_empty() {
                    return Ok((k.info().section, Vec::new()));
                }
                k.availability(&wanted, &existing)
                    .await
                    .map(|u| (k.info().section, u))
            }
        });
        let found = futures::future::try_join_all(checks).await?;
        let mut diagnostics: Vec<crate::model::Diagnostic> = found
            .into_iter()
            .flat_map(|(section, us)| {
                us.into_iter().map(move |u| {
                    self.stack
                        .diagnostic(section, &u.name, &u.field, u.message, u.hint)
                })
            })
            .collect();
        if diagnostics.is_empty() {
            return Ok(());
        }
        diagnostics.sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)));
        Err(Error::Invalid(Invalid {
            diagnostics,
            from_aws: true,
        }))
    }

    pub fn lock_store(&self) -> Arc<dyn LockStore> {
        Arc::new(crate::lock::Ssm::new(
            self.aws.ssm.clone(),
            &self.stack.name,
        ))
    }

    /// The AWS calls made so far.
    pub fn stats(&self) -> StatsReport {
        self.aws.stats.report()
    }
}

/// The earliest expiry the stack's resources record.
pub fn recorded_expiry(observed: &[Observed]) -> Option<&str> {
    observed
        .iter()
        .filter(|o| !o.deleting)
        .filter_map(|o| {
            o.props
                .get("tags")?
                .get(crate::model::expiry::TAG_EXPIRES)?
                .as_str()
        })
        .min()
}

/// How the run goes: parallelism, the interrupt flag, the lock wait.
#[derive(Clone)]
pub struct RunOptions {
    pub parallelism: usize,
    pub stop: Arc<AtomicBool>,
    pub lock_timeout: Duration,
    /// How long a delete of something still in use is tried again.
    pub in_use_wait: Duration,
}

/// Where a command works: the stack, the account the credentials belong to (unknown for
/// `validate`, which makes no call) and the region. Shown by every view.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    pub stack: String,
    pub account: Option<String>,
    pub region: String,
    /// Each resource's line in the stack file: plans are shown in the file's order (a
    /// part of an entry, `alb.rules`, right after it).
    #[serde(skip)]
    pub lines: BTreeMap<String, usize>,
    /// The stack's expiry (RFC 3339), once discovery has read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.account {
            Some(a) => write!(
                f,
                "stack {} in account {a}, region {}",
                self.stack, self.region
            ),
            None => write!(f, "stack {} in region {}", self.stack, self.region),
        }
    }
}

/// A value the user wants of the deployed stack: `alb.dns_name`, `cdn.url`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackOutput {
    pub name: String,
    pub kind: &'static str,
    pub value: String,
    pub about: &'static str,
}

/// What a command ended with, for the views.
#[derive(Debug)]
pub enum Outcome {
    Validated {
        resources: usize,
    },
    Planned {
        plan: Plan,
        /// Exit 2 when there are changes.
        detailed: bool,
        /// What the changes do to the monthly bill.
        cost: Option<CostChange>,
    },
    Drift {
        plan: Plan,
    },
    Status {
        observed: Vec<Observed>,
        lock: Option<String>,
        outputs: Vec<StackOutput>,
        /// AWS's status of what is still changing, by `kind name`.
        settling: BTreeMap<String, String>,
        /// What the stack file has and AWS does not (`kind name`).
        missing: Vec<String>,
    },
    /// `up` or `down` ran (or found nothing to do).
    Applied {
        command: &'static str,
        plan: Plan,
        report: Option<Report>,
        /// `down`: what of the stack remains that was not kept on purpose.
        remaining: Option<Vec<Observed>>,
        /// `down`: what deletions left on purpose and AWS bills (final snapshots).
        artifacts: Vec<Artifact>,
        /// `up`: what the user wants of the stack now (addresses, endpoints).
        outputs: Vec<StackOutput>,
    },
    /// `list`, and `down --expired --dry-run` (the expired ones): stacks from their tags.
    Stacks {
        stacks: Vec<list::StackSummary>,
        regions: Vec<String>,
        dry_run: bool,
    },
    /// `output`: every output, or the one asked for.
    Outputs {
        outputs: Vec<StackOutput>,
        only: Option<String>,
    },
    /// `snapshots`: what deletions left on purpose, and what was pruned of it.
    Artifacts {
        artifacts: Vec<Artifact>,
        pruned: Vec<Artifact>,
    },
    Unlocked {
        /// The holder whose lock was broken; `None`: there was no lock.
        broken: Option<String>,
    },
    Kubeconfig {
        cluster: String,
        context: String,
        file: String,
    },
    /// `diagram`, `report`: a document, printed or written to a file.
    Document {
        text: String,
        written: Option<String>,
    },
    /// `cost`: the monthly estimate.
    Cost {
        estimate: crate::report::cost::Estimate,
    },
    /// `footprint`: Boavizta's estimate.
    Footprint {
        footprint: crate::report::footprint::Footprint,
    },
    /// `adopt`: the resource now carries the stack's tags; the plan from there.
    Adopted {
        kind: &'static str,
        name: String,
        id: String,
        plan: Plan,
    },
}

/// A command that stops on purpose, before changing anything (or, for `PlanChanged`,
/// before changing anything more). Each has a stable code for scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Refusal {
    #[error("standard input is not a terminal, so nobody can confirm: pass --yes to go ahead")]
    NoTerminal,
    #[error("not confirmed; nothing was changed")]
    NotConfirmed,
    #[error("this plan destroys data held by {}; if that is intended, run again with --allow-data-loss (or mark the resource `disposable: true`)", resources.join(", "))]
    DataLoss { resources: Vec<String> },
    #[error("nothing was deleted: {}", reasons.join("; "))]
    DeletionProtected { reasons: Vec<String> },
    #[error("nothing was deleted: these are not the stack's (no stack tags) but would block its teardown:\n{}\nRemove them, or run again with --force to have them removed too", blockers.iter().map(|b| format!("  - {b}")).collect::<Vec<_>>().join("\n"))]
    ForeignBlockers { blockers: Vec<String> },
    #[error("the stack changed while the plan was shown (another operation?); nothing was {verb}. Run again to see the new plan")]
    PlanChanged { verb: String },
    #[error("{message}")]
    PlanFile { message: String },
    #[error("the saved plan is out of date, nothing was applied: {}. Make a new plan", reasons.join("; "))]
    StalePlan { reasons: Vec<String> },
    #[error("{message}")]
    Cluster { message: String },
    #[error("{message}")]
    Kubeconfig { message: String },
    #[error("the stack has no output `{name}`{}", if known.is_empty() { " (it has none: nothing that shows one exists)".to_string() } else { format!("; it has {}", known.join(", ")) })]
    NoSuchOutput { name: String, known: Vec<String> },
    #[error("the stack file has no resource `{name}`{}", hint.as_ref().map(|h| format!("; did you mean `{h}`?")).unwrap_or_default())]
    NotInFile { name: String, hint: Option<String> },
    #[error("`{name}` is a part of `{entry}`: adopt `{entry}`")]
    AdoptPart { name: String, entry: String },
    #[error("the stack already has its {kind} `{name}` ({id}); nothing was changed. Adopting is for a resource it does not have")]
    AlreadyInStack {
        kind: String,
        name: String,
        id: String,
    },
}

impl Refusal {
    /// The stable code scripts can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoTerminal => "no_terminal",
            Refusal::NotConfirmed => "not_confirmed",
            Refusal::DataLoss { .. } => "data_loss",
            Refusal::DeletionProtected { .. } => "deletion_protected",
            Refusal::ForeignBlockers { .. } => "foreign_blockers",
            Refusal::PlanChanged { .. } => "plan_changed",
            Refusal::PlanFile { .. } => "plan_file",
            Refusal::StalePlan { .. } => "stale_plan",
            Refusal::Cluster { .. } => "cluster",
            Refusal::Kubeconfig { .. } => "kubeconfig",
            Refusal::NoSuchOutput { .. } => "no_such_output",
            Refusal::NotInFile { .. } => "not_in_file",
            Refusal::AdoptPart { .. } => "adopt_part",
            Refusal::AlreadyInStack { .. } => "already_in_stack",
        }
    }
}

/// Errors that end a command, reported once at the top.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(Invalid),
    #[error("{0}")]
    Cloud(#[from] CloudError),
    #[error("{0}")]
    Schedule(#[from] ScheduleError),
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Locked(Box<LockError>),
    /// `diagram`, `cost`, `footprint`, `report`: what they could not do.
    #[error("{0}")]
    Report(#[from] crate::report::ReportError),
}

impl From<LockError> for Error {
    fn from(e: LockError) -> Self {
        Error::Locked(Box::new(e))
    }
}

/// The monthly cost before and after a plan (always on, the price table's region).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CostChange {
    pub monthly_before: f64,
    pub monthly_after: f64,
    pub usage: String,
    /// Budgets of the stack (name, USD a month) the estimate after the plan exceeds.
    pub over_budgets: Vec<(String, f64)>,
}

/// What the user sees and answers while a flow runs. The views implement it; the flows
/// only call it.
pub trait View: Send + Sync {
    /// The plan a command is about to carry out (before confirmation).
    fn proposal(&self, plan: &Plan);
    /// What `down` will also remove besides the stack's resources.
    fn sweep(&self, derived: &[String], forced: &[String]);
    /// Ask before changing anything; a refusal when nobody can or does agree.
    fn confirm(&self, question: &str) -> Result<(), Refusal>;
    /// The stack lock is held by another operation and this one waits.
    fn lock_waiting(&self, holder: &Holder, waited: Duration);
    /// The lock could not be given back.
    fn lock_not_released(&self, error: &CloudError);
    /// A lock left by a dead run of this machine was given back by a run with nothing to do.
    fn stale_lock_released(&self, holder: &Holder);
    /// Another operation, waited for under `--lock-timeout`, already did everything.
    fn done_meanwhile(&self);
    /// Where operations report their progress.
    fn progress(&self) -> Arc<dyn Progress>;
}

/// The plan made under the lock must be the one that was shown and confirmed: the same
/// steps with the same changed fields.
pub fn unchanged(shown: &Plan, fresh: &Plan, verb: &str) -> Result<(), Refusal> {
    if signature(shown) == signature(fresh) {
        return Ok(());
    }
    Err(Refusal::PlanChanged {
        verb: verb.to_string(),
    })
}

/// What a plan would do, to compare two plans: each step's action and changed fields.
fn signature(plan: &Plan) -> Vec<(String, String, String, Vec<String>)> {
    plan.steps
        .iter()
        .filter(|st| st.action.is_change())
        .map(|st| {
            (
                st.kind.to_string(),
                st.name.clone(),
                format!("{:?}", st.action),
                st.changes.iter().map(|c| c.field.clone()).collect(),
            )
        })
        .collect()
}

/// Take the stack's lock for a changing command, waiting up to the lock timeout.
pub async fn take_lock(
    s: &Session,
    view: &Arc<dyn View>,
    command: &str,
    run: &RunOptions,
) -> Result<crate::lock::Lock, Error> {
    let v = view.clone();
    let report: crate::lock::WaitReport =
        Arc::new(move |holder, waited| v.lock_waiting(holder, waited));
    let req = crate::lock::Request {
        stack: s.stack.name.clone(),
        principal: s.principal.clone(),
        command: command.to_string(),
        wait: run.lock_timeout,
    };
    Ok(crate::lock::Lock::acquire(s.lock_store(), &req, run.stop.clone(), report).await?)
}

/// A run with nothing to do gives back a lock its own machine's dead process left, so that
/// the next one does not meet it. Reading it is the only call; failures are only logged.
pub async fn release_dead_lock(s: &Session, view: &Arc<dyn View>) {
    match crate::lock::release_dead(&*s.lock_store()).await {
        Ok(Some(holder)) => view.stale_lock_released(&holder),
        Ok(None) => {}
        Err(e) => tracing::warn!("could not look at the stack lock: {e}"),
    }
}

/// Give the lock back; a failure is only reported (the lock expires by itself).
pub async fn give_back(view: &Arc<dyn View>, lock: crate::lock::Lock) {
    if let Err(e) = lock.release().await {
        view.lock_not_released(&e);
    }
}

fn locate_refusals(
    stack: &Stack,
    section_of: &dyn Fn(&str) -> Option<&'static str>,
    report: &mut Report,
) {
    use crate::engine::apply::OpResult;
    for o in &mut report.outcomes {
        let OpResult::Failed {
            error,
            code: Some(code),
        } = &mut o.result
        else {
            continue;
        };
        if !crate::aws::is_invalid_input(code) {
            continue;
        }
        // A part of another entry (`alb.rules`) is found under its entry.
        let (section, name) = match section_of(o.kind) {
            Some(s) if !s.is_empty() => (s, o.name.as_str()),
            _ => continue,
        };
        let d = stack.diagnostic(section, name, "", String::new(), None);
        if let Some(line) = d.line {
            error.push_str(&format!(" [{}:{line}: {section}.{name}]", d.file));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::apply::{OpKind, OpResult, Outcome as Done};

    #[test]
    fn what_aws_refuses_as_invalid_points_at_the_file() {
        let text = "stack: app\nregion: eu-west-3\nvpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n";
        let stack = crate::model::parse(
            "stack.yaml",
            text,
            &crate::kinds::models(),
            &Default::default(),
        )
        .expect("valid");
        let failed = |kind, name: &str, code: &str| Done {
            op: OpKind::Create,
            kind,
            name: name.into(),
            result: OpResult::Failed {
                error: format!("ec2:Create: refused ({code})"),
                code: Some(code.into()),
            },
        };
        let mut report = Report {
            outcomes: vec![
                failed("subnet", "a", "InvalidParameterValue"),
                failed("subnet", "a", "Throttling"),
                failed("vpc", "main", "InvalidVpcID.NotFound"),
            ],
            ..Report::default()
        };
        let sections = |k: &str| match k {
            "subnet" => Some("subnets"),
            "vpc" => Some("vpcs"),
            _ => None,
        };
        locate_refusals(&stack, &sections, &mut report);
        let errors: Vec<String> = report
            .outcomes
            .iter()
            .map(|o| match &o.result {
                OpResult::Failed { error, .. } => error.clone(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            errors,
            [
                "ec2:Create: refused (InvalidParameterValue) [stack.yaml:6: subnets.a]",
                "ec2:Create: refused (Throttling)",
                "ec2:Create: refused (InvalidVpcID.NotFound)",
            ]
        );
    }
}
