//! The command line: parse arguments, run one command, report once, pick the exit code.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::aws::{Aws, Settings};
use crate::engine::apply::{self, Progress, Quiet, Report};
use crate::engine::plan::{self, Plan};
use crate::engine::schedule::ScheduleError;
use crate::engine::{CloudError, Observed, Registry};
use crate::kinds::{self, names, Context, Scope};
use crate::model::{self, Invalid, Stack};
use crate::render;

#[derive(Parser, Debug)]
#[command(
    name = "provision",
    version,
    about = "Stand up, check and tear down an AWS stack described in one YAML file"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The stack file.
    #[arg(
        short = 'f',
        long = "file",
        default_value = "stack.yaml",
        global = true
    )]
    pub file: PathBuf,
    /// AWS region (overrides the stack file's `region`).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile from the shared config files.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// One JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Do not ask for confirmation before changing or deleting resources.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Print the number of AWS calls by service and operation at the end.
    #[arg(long, global = true)]
    pub stats: bool,
    /// How many operations may run at once.
    #[arg(long, default_value_t = 10, global = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// More logs on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Seconds a delete keeps retrying while AWS reports the resource as still in use.
    #[arg(long, default_value_t = 180, global = true, hide = true)]
    pub dependency_wait: u64,
    /// How long `up` and `down` wait for another operation on the same stack to finish
    /// (seconds, or with a unit: 90s, 5m). Default: stop at once, naming the holder.
    #[arg(long, default_value = "0", global = true, value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Seconds one attempt of an AWS call may take before it is abandoned and retried.
    #[arg(long, default_value_t = 60, global = true, hide = true)]
    pub attempt_timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the stack file; no AWS call.
    Validate,
    /// Show what `up` would change.
    Plan {
        /// Exit 2 when there are changes, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Create or update the stack to match the stack file.
    Up {
        /// Allow a plan that replaces or deletes a resource holding data (database,
        /// bucket, cluster) not marked `disposable`.
        #[arg(long)]
        allow_data_loss: bool,
    },
    /// Delete everything the stack owns.
    Down {
        /// Empty buckets that still hold objects (every version) and delete them.
        #[arg(long)]
        force_empty_buckets: bool,
        /// Delete databases without a final snapshot (their data is lost).
        #[arg(long)]
        skip_final_snapshot: bool,
        /// Also remove what is not the stack's but blocks its teardown (subnets, groups,
        /// interfaces, instances, load balancers in its VPC; rules referring to its groups).
        #[arg(long)]
        force: bool,
    },
    /// Compare live resources with the stack file: exit 0 when they match, 2 when not.
    Drift,
    /// List what exists of the stack, with ids and states.
    Status,
    /// Break the stack's lock, left by an operation that died or hangs (after asking).
    Unlock,
    /// Add an entry for an EKS cluster of the stack to a kubeconfig file.
    Kubeconfig {
        /// The cluster (its name in the stack file); needed when the stack has several.
        #[arg(long)]
        cluster: Option<String>,
        /// The file to write (default: the first path of KUBECONFIG, else ~/.kube/config).
        #[arg(long)]
        output: Option<PathBuf>,
    },
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
    Refused(String),
    #[error("{0}")]
    Locked(Box<crate::lock::LockError>),
}

impl From<crate::lock::LockError> for Error {
    fn from(e: crate::lock::LockError) -> Self {
        Error::Locked(Box::new(e))
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix('m') {
        (n, 60)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600)
    } else {
        (t.strip_suffix('s').unwrap_or(t), 1)
    };
    num.trim()
        .parse::<u64>()
        .map(|n| Duration::from_secs(n * mult))
        .map_err(|_| format!("`{s}` is not a duration like 90, 90s, 5m or 1h"))
}

/// What a command ended with.
enum Outcome {
    Ok,
    Changes,
    Failed,
    Interrupted,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.global.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = cli.global.json;
    match rt.block_on(run(cli)) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(e) => {
            if json {
                let doc = match &e {
                    Error::Invalid(i) => {
                        json!({"ok": false, "error": "invalid stack file", "diagnostics": i.diagnostics})
                    }
                    other => json!({"ok": false, "error": other.to_string()}),
                };
                println!("{doc:#}");
            } else {
                match &e {
                    Error::Invalid(i) => eprint!("{}", render::invalid_text(i)),
                    other => eprintln!("error: {other}"),
                }
            }
            ExitCode::from(1)
        }
    }
}

fn init_logs(verbose: u8) {
    // Never below info for the SDK: its wire-level logs could carry secrets.
    let filter = match verbose {
        0 => "warn",
        1 => "provision=info,warn",
        _ => "provision=debug,aws_config=info,info",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .try_init();
}

/// Everything a command needs once the stack file is valid.
struct Session {
    stack: Stack,
    /// The caller's ARN, recorded in the stack lock.
    principal: String,
    registry: Registry,
    cx: Arc<Context>,
    aws: Aws,
    desired: Vec<crate::engine::Desired>,
}

async fn connect(stack: Stack, g: &Global, options: kinds::Options) -> Result<Session, Error> {
    let aws = Aws::connect(&Settings {
        region: stack.region.clone(),
        profile: g.profile.clone(),
        attempt_timeout: Duration::from_secs(g.attempt_timeout),
    })
    .await;
    let (account, principal) = aws.caller().await?;
    let desired = stack.desired(&kinds::models(), &account);
    let cx = Arc::new(Context {
        aws: aws.clone(),
        scope: Scope {
            stack: stack.name.clone(),
            account: account.clone(),
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
    })
}

async fn run(cli: Cli) -> Result<Outcome, Error> {
    let g = cli.global.clone();
    let stack =
        model::load(&g.file, &kinds::models(), g.region.as_deref()).map_err(Error::Invalid)?;
    if let Command::Validate = cli.command {
        let n = stack
            .desired(&kinds::models(), model::PLACEHOLDER_ACCOUNT)
            .len();
        if g.json {
            println!(
                "{:#}",
                json!({"ok": true, "file": stack.file, "stack": stack.name, "region": stack.region, "resources": n})
            );
        } else {
            println!(
                "{} is valid: stack {} in {}, {n} resources.",
                stack.file, stack.name, stack.region
            );
        }
        return Ok(Outcome::Ok);
    }
    let mut options = kinds::Options {
        dependency_wait: Duration::from_secs(g.dependency_wait),
        ..kinds::Options::default()
    };
    match &cli.command {
        Command::Down {
            force_empty_buckets,
            skip_final_snapshot,
            ..
        } => {
            options.force_empty_buckets = *force_empty_buckets;
            options.skip_final_snapshot = *skip_final_snapshot;
        }
        Command::Up { allow_data_loss } => options.allow_data_loss = *allow_data_loss,
        _ => {}
    }
    let s = connect(stack, &g, options).await?;
    let stop = interrupt_flag();
    let result = match cli.command {
        Command::Validate => Ok(Outcome::Ok),
        Command::Plan { detailed_exitcode } => cmd_plan(&s, &g, detailed_exitcode).await,
        Command::Drift => cmd_drift(&s, &g).await,
        Command::Status => cmd_status(&s, &g).await,
        Command::Up { allow_data_loss } => cmd_up(&s, &g, allow_data_loss, stop).await,
        Command::Down { force, .. } => cmd_down(&s, &g, force, stop).await,
        Command::Unlock => cmd_unlock(&s, &g).await,
        Command::Kubeconfig { cluster, output } => {
            cmd_kubeconfig(&s, &g, cluster.as_deref(), output.as_deref()).await
        }
    };
    if g.stats && !g.json {
        eprint!("{}", render::stats_text(&s.aws.stats.report()));
    }
    result
}

/// First Ctrl-C: stop starting new work. Second: exit at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            eprintln!("\nInterrupt: letting running operations finish, starting nothing new (Ctrl-C again to exit now).");
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("Exiting at once; run the command again to converge (it takes over the stack lock this process leaves; from elsewhere, `provision unlock`).");
                std::process::exit(130);
            }
        }
    });
    stop
}

async fn discover(s: &Session) -> Result<(Vec<Observed>, Plan), Error> {
    let observed = s.registry.discover_all().await?;
    let plan = plan::plan(&s.desired, &observed, &s.registry)?;
    Ok((observed, plan))
}

fn emit_json(g: &Global, s: &Session, mut doc: serde_json::Value) {
    if g.json {
        if g.stats {
            doc["stats"] = serde_json::to_value(s.aws.stats.report()).unwrap_or_default();
        }
        println!("{doc:#}");
    }
}

async fn cmd_plan(s: &Session, g: &Global, detailed: bool) -> Result<Outcome, Error> {
    let (_, plan) = discover(s).await?;
    if g.json {
        emit_json(
            g,
            s,
            json!({"ok": true, "stack": s.stack.name, "summary": plan.summary(), "plan": plan}),
        );
    } else {
        print!("{}", render::plan_text(&plan));
    }
    Ok(if detailed && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Ok
    })
}

async fn cmd_drift(s: &Session, g: &Global) -> Result<Outcome, Error> {
    let (_, plan) = discover(s).await?;
    let drifted: Vec<_> = plan
        .steps
        .iter()
        .filter(|st| st.action.is_change())
        .collect();
    if g.json {
        emit_json(
            g,
            s,
            json!({"ok": true, "stack": s.stack.name, "drift": !drifted.is_empty(), "resources": drifted}),
        );
    } else {
        print!("{}", render::drift_text(&plan));
    }
    Ok(if drifted.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Changes
    })
}

async fn cmd_status(s: &Session, g: &Global) -> Result<Outcome, Error> {
    let observed = s.registry.discover_all().await?;
    let lock = match crate::lock::holder(&*lock_store(s)).await? {
        None => None,
        Some(Ok(h)) => Some(format!(
            "{}; expires {}",
            h.describe(),
            crate::lock::utc(h.expires)
        )),
        Some(Err(raw)) => Some(format!("unreadable lock {raw:?}")),
    };
    if let (Some(l), false) = (&lock, g.json) {
        println!("Locked by {l}.");
    }
    if g.json {
        let items: Vec<_> = observed
            .iter()
            .map(|o| json!({"kind": o.kind, "name": o.name, "id": o.id, "state": o.failed.as_deref().map(|f| format!("failed: {f}")).unwrap_or_else(|| "ok".into()), "outputs": o.outputs}))
            .collect();
        emit_json(
            g,
            s,
            json!({"ok": true, "stack": s.stack.name, "lock": lock, "resources": items}),
        );
    } else {
        print!("{}", render::status_text(&observed));
    }
    Ok(Outcome::Ok)
}

/// Ask before changing anything, unless `--yes`. Refuses when nobody can answer.
fn confirm(g: &Global, question: &str) -> Result<(), Error> {
    if g.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Refused(
            "standard input is not a terminal, so nobody can confirm: pass --yes to go ahead"
                .into(),
        ));
    }
    eprint!("{question} Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Refused("not confirmed; nothing was changed".into()))
    }
}

fn progress(g: &Global) -> Arc<dyn Progress> {
    if g.json {
        Arc::new(Quiet)
    } else {
        Arc::new(render::HumanProgress::new())
    }
}

fn finish(
    g: &Global,
    s: &Session,
    command: &str,
    plan: &Plan,
    report: &Report,
    extra: serde_json::Value,
) -> Outcome {
    let ok = report.ok();
    if g.json {
        let mut doc = json!({"ok": ok, "command": command, "stack": s.stack.name, "summary": plan.summary(), "plan": plan, "result": report});
        if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        emit_json(g, s, doc);
    } else {
        print!("{}", render::report_text(report));
    }
    if report.interrupted {
        Outcome::Interrupted
    } else if ok {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}

async fn cmd_up(
    s: &Session,
    g: &Global,
    allow_data_loss: bool,
    stop: Arc<AtomicBool>,
) -> Result<Outcome, Error> {
    let (_, plan) = discover(s).await?;
    if !g.json {
        print!("{}", render::plan_text(&plan));
    }
    if !plan.has_changes() {
        emit_json(
            g,
            s,
            json!({"ok": true, "command": "up", "stack": s.stack.name, "summary": plan.summary(), "plan": plan}),
        );
        return Ok(Outcome::Ok);
    }
    let destructive: Vec<String> = plan
        .destructive()
        .map(|st| format!("{} {}", st.kind, st.name))
        .collect();
    if !destructive.is_empty() && !allow_data_loss {
        return Err(Error::Refused(format!(
            "this plan destroys data held by {}; if that is intended, run again with --allow-data-loss (or mark the resource `disposable: true`)",
            destructive.join(", ")
        )));
    }
    confirm(g, "Apply these changes?")?;
    let lock = take_lock(s, g, "up", stop.clone()).await?;
    let result = async {
        // Looked at again under the lock: another operation may have changed the stack
        // since the plan was shown.
        let (_, fresh) = discover(s).await?;
        unchanged(&plan, &fresh, "applied")?;
        let options = apply::Options {
            parallelism: usize::from(g.parallelism),
            stop,
        };
        let report = apply::apply(&fresh, &s.registry, &options, progress(g)).await;
        Ok(finish(g, s, "up", &fresh, &report, json!({})))
    }
    .await;
    give_back(lock).await;
    result
}

/// The plan made under the lock must be the one that was shown and confirmed: the same
/// steps with the same changed fields.
fn unchanged(shown: &Plan, fresh: &Plan, verb: &str) -> Result<(), Error> {
    if signature(shown) == signature(fresh) {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "the stack changed while the plan was shown (another operation?); nothing was {verb}. Run again to see the new plan"
    )))
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

fn lock_store(s: &Session) -> Arc<dyn crate::lock::LockStore> {
    Arc::new(crate::lock::Ssm::new(s.aws.ssm.clone(), &s.stack.name))
}

/// Take the stack's lock for a changing command, waiting up to `--lock-timeout`.
async fn take_lock(
    s: &Session,
    g: &Global,
    command: &str,
    stop: Arc<AtomicBool>,
) -> Result<crate::lock::Lock, Error> {
    let json = g.json;
    let report: crate::lock::WaitReport = Arc::new(move |holder, waited| {
        if !json {
            eprintln!(
                "Waiting for the stack lock, held by {} ({}s so far)",
                holder.describe(),
                waited.as_secs()
            );
        }
    });
    let req = crate::lock::Request {
        stack: s.stack.name.clone(),
        principal: s.principal.clone(),
        command: command.to_string(),
        wait: g.lock_timeout,
    };
    Ok(crate::lock::Lock::acquire(lock_store(s), &req, stop, report).await?)
}

async fn give_back(lock: crate::lock::Lock) {
    if let Err(e) = lock.release().await {
        eprintln!("warning: could not release the stack lock ({e}); it expires by itself, or run `provision unlock`");
    }
}

async fn cmd_unlock(s: &Session, g: &Global) -> Result<Outcome, Error> {
    let store = lock_store(s);
    let holder = match crate::lock::holder(&*store).await? {
        None => {
            if g.json {
                emit_json(
                    g,
                    s,
                    json!({"ok": true, "stack": s.stack.name, "locked": false}),
                );
            } else {
                println!("Stack {} is not locked.", s.stack.name);
            }
            return Ok(Outcome::Ok);
        }
        Some(Ok(h)) => h.describe(),
        Some(Err(raw)) => format!("an unreadable lock ({raw:?})"),
    };
    if !g.json {
        println!("Stack {} is locked by {holder}.", s.stack.name);
    }
    confirm(
        g,
        "Break this lock? Only do so if that operation is no longer running.",
    )?;
    store.remove().await?;
    if g.json {
        emit_json(
            g,
            s,
            json!({"ok": true, "stack": s.stack.name, "locked": false, "broken": holder}),
        );
    } else {
        println!("Lock broken.");
    }
    Ok(Outcome::Ok)
}

/// The stack's network as observed: what blockers are looked for around.
fn network_scope(observed: &[Observed]) -> crate::teardown::blockers::Scope {
    let ids = |kind: &str| -> std::collections::BTreeSet<String> {
        observed
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.id.clone())
            .collect()
    };
    crate::teardown::blockers::Scope {
        vpcs: ids(names::VPC),
        groups: ids(names::SECURITY_GROUP),
        subnets: ids(names::SUBNET),
        clusters: ids(names::EKS_CLUSTER),
    }
}

async fn cmd_down(
    s: &Session,
    g: &Global,
    force: bool,
    stop: Arc<AtomicBool>,
) -> Result<Outcome, Error> {
    let observed = s.registry.discover_all().await?;
    let plan = plan::teardown(&observed, &s.desired, &s.registry)?;
    if !g.json {
        if plan.has_changes() {
            print!("{}", render::plan_text(&plan));
        } else {
            println!("Nothing of stack {} exists.", s.stack.name);
        }
    }
    if !plan.has_changes() {
        emit_json(
            g,
            s,
            json!({"ok": true, "command": "down", "stack": s.stack.name, "summary": plan.summary(), "plan": plan, "remaining": []}),
        );
        return Ok(Outcome::Ok);
    }
    // Deletion protection stops the teardown before anything is deleted.
    let protected: Vec<String> = observed
        .iter()
        .filter_map(|o| s.registry.get(o.kind)?.delete_guard(o))
        .collect();
    if !protected.is_empty() {
        return Err(Error::Refused(format!(
            "nothing was deleted: {}",
            protected.join("; ")
        )));
    }
    // What is not the stack's but would block its teardown: named before anything is
    // deleted, and removed only with --force. What was made for the stack goes with it.
    let blockers = crate::teardown::blockers::find(&s.cx, &network_scope(&observed)).await?;
    let (foreign, derived): (Vec<_>, Vec<_>) = blockers
        .into_iter()
        .partition(|b| b.sort == crate::teardown::blockers::Sort::Foreign);
    if !foreign.is_empty() && !force {
        return Err(Error::Refused(format!(
            "nothing was deleted: these are not the stack's (no stack tags) but would block its teardown:\n{}\nRemove them, or run again with --force to have them removed too",
            foreign
                .iter()
                .map(|b| format!("  - {}", b.what))
                .collect::<Vec<_>>()
                .join("\n")
        )));
    }
    if !g.json {
        for b in &derived {
            println!("  - {} (made for the stack): delete", b.what);
        }
        for b in &foreign {
            println!("  - {} (not the stack's, --force): delete", b.what);
        }
    }
    confirm(
        g,
        &format!(
            "Delete these {} resources of stack {}?",
            plan.steps.len() + derived.len() + foreign.len(),
            s.stack.name
        ),
    )?;
    let lock = take_lock(s, g, "down", stop.clone()).await?;
    let mut sweep = derived;
    sweep.extend(foreign);
    sweep.sort_by(|a, b| a.item.cmp(&b.item));
    let result = match crate::teardown::blockers::clear(&s.cx, &sweep).await {
        Ok(()) => down_locked(s, g, &plan, stop).await,
        Err(e) => Err(e.into()),
    };
    give_back(lock).await;
    result
}

async fn down_locked(
    s: &Session,
    g: &Global,
    shown: &Plan,
    stop: Arc<AtomicBool>,
) -> Result<Outcome, Error> {
    let observed = s.registry.discover_all().await?;
    // The file's references and depends_on also order the deletes of what it still names.
    let plan = plan::teardown(&observed, &s.desired, &s.registry)?;
    unchanged(shown, &plan, "deleted")?;
    let options = apply::Options {
        parallelism: usize::from(g.parallelism),
        stop,
    };
    let report = apply::apply(&plan, &s.registry, &options, progress(g)).await;
    // Final check: what of the stack is left, apart from what was kept on purpose.
    let kept: Vec<&str> = report.kept().map(|o| o.name.as_str()).collect();
    let left = s.registry.discover_all().await?;
    let leaks: Vec<&Observed> = left
        .iter()
        .filter(|o| !kept.contains(&o.name.as_str()))
        .collect();
    let remaining: Vec<_> = leaks
        .iter()
        .map(|o| json!({"kind": o.kind, "name": o.name, "id": o.id}))
        .collect();
    let mut outcome = finish(
        g,
        s,
        "down",
        &plan,
        &report,
        json!({"remaining": remaining}),
    );
    if !leaks.is_empty() {
        if !g.json {
            eprintln!("error: {} resource(s) of the stack remain:", leaks.len());
            for o in &leaks {
                eprintln!("  {} {} ({})", o.kind, o.name, o.id);
            }
        }
        if matches!(outcome, Outcome::Ok) {
            outcome = Outcome::Failed;
        }
    } else if !g.json && report.ok() {
        println!(
            "Nothing of stack {} remains{}.",
            s.stack.name,
            if kept.is_empty() {
                String::new()
            } else {
                format!(" but what was kept on purpose ({})", kept.join(", "))
            }
        );
    }
    Ok(outcome)
}

async fn cmd_kubeconfig(
    s: &Session,
    g: &Global,
    cluster: Option<&str>,
    output: Option<&std::path::Path>,
) -> Result<Outcome, Error> {
    let kind = s
        .registry
        .get(names::EKS_CLUSTER)
        .ok_or_else(|| Error::Refused("no EKS support registered".into()))?;
    let clusters: Vec<Observed> = kind
        .discover(&[])
        .await?
        .into_iter()
        .filter(|o| o.kind == names::EKS_CLUSTER)
        .collect();
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let chosen = match (cluster, clusters.as_slice()) {
        (Some(n), _) => clusters.iter().find(|c| c.name == n).ok_or_else(|| {
            Error::Refused(format!(
                "stack {} has no EKS cluster `{n}` (it has: {})",
                s.stack.name,
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
        })?,
        (None, [one]) => one,
        (None, []) => {
            return Err(Error::Refused(format!(
                "stack {} has no EKS cluster; run `provision up` first",
                s.stack.name
            )))
        }
        (None, _) => {
            return Err(Error::Refused(format!(
                "stack {} has several EKS clusters ({}): pick one with --cluster",
                s.stack.name,
                names.join(", ")
            )))
        }
    };
    let out = |k: &str| chosen.outputs.get(k).cloned().unwrap_or_default();
    let entry = crate::kubeconfig::Entry {
        arn: out("arn"),
        cluster_name: chosen.id.clone(),
        endpoint: out("endpoint"),
        certificate_authority: out("certificate_authority"),
        region: s.stack.region.clone(),
        profile: g.profile.clone(),
    };
    let path = crate::kubeconfig::default_path(output);
    crate::kubeconfig::write(&path, &entry).map_err(Error::Refused)?;
    if g.json {
        emit_json(
            g,
            s,
            json!({"ok": true, "cluster": chosen.name, "context": entry.arn, "file": path.display().to_string()}),
        );
    } else {
        println!(
            "Added context {} for cluster {} to {}.",
            entry.arn,
            chosen.name,
            path.display()
        );
    }
    Ok(Outcome::Ok)
}
