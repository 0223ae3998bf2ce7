//! The command line: parse arguments, load the stack file, run one flow, hand what it
//! returns to the view, pick the exit code.

pub mod args;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::aws::Settings;
use crate::flows::{self, Error, Outcome, Place, RunOptions, Session, View};
use crate::kinds;
use crate::model;
use crate::view::{human, json};
pub use args::{Cli, Command, Global};

/// Exit codes (documented in `--help` and the README).
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_USAGE: u8 = 64;
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn main() -> ExitCode {
    // A usage error exits 64 (EX_USAGE), not clap's 2: 2 means "changes found" (`drift`,
    // `plan --detailed-exitcode`), and a mistyped flag must not raise a drift alert.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if let Some(hint) = usage_hint(&e) {
                eprintln!("hint: {hint}");
            }
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    // What needs no stack file.
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "provision", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            return match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the manual page: {e}");
                    ExitCode::from(EXIT_FAILED)
                }
            };
        }
        Command::Schema => {
            let schema = crate::model::schema::schema(&kinds::models());
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    human::set_color(cli.global.color);
    init_logs(cli.global.verbose, cli.global.color);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    rt.block_on(run(cli))
}

/// What a user of another tool meant, for a command or option this one spells otherwise.
fn usage_hint(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let offending = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    match e.kind() {
        ErrorKind::InvalidSubcommand => {
            let word = offending(ContextKind::InvalidSubcommand)?;
            let (ours, what) = match word {
                "apply" | "deploy" | "create" => ("up", "creates or updates the stack"),
                "destroy" | "delete" | "teardown" => ("down", "deletes everything the stack owns"),
                "diff" | "preview" => ("plan", "shows what `up` would change"),
                "refresh" | "check" => ("drift", "compares AWS with the stack file"),
                "show" | "state" | "list" => ("status", "lists what exists of the stack"),
                "outputs" => ("output", "prints the stack's outputs"),
                "init" | "lint" => ("validate", "checks the stack file (nothing to initialise)"),
                _ => return None,
            };
            Some(format!("`provision {ours}` {what}"))
        }
        ErrorKind::UnknownArgument => {
            // `-target=x` reaches clap as the short option `-t`: look at the words given.
            let given: Vec<String> = std::env::args().skip(1).collect();
            let name = given
                .iter()
                .map(|a| a.trim_start_matches('-').split('=').next().unwrap_or(""))
                .find(|n| matches!(*n, "target" | "auto-approve" | "var" | "var-file"))
                .or_else(|| {
                    let arg = offending(ContextKind::InvalidArg)?;
                    arg.trim_start_matches('-').split('=').next()
                })?;
            match name {
                "target" => Some(
                    "provision always plans the whole stack: there is no -target (a resource's \
                     `depends_on` and references decide the order)"
                        .into(),
                ),
                "auto-approve" => Some("`--yes` skips the confirmation".into()),
                "var" | "var-file" => Some("the stack file takes no variables yet".into()),
                _ => None,
            }
        }
        _ => None,
    }
}

fn init_logs(verbose: u8, choice: args::ColorChoice) {
    // Never below info for the SDK: its wire-level logs could carry secrets.
    let filter = match verbose {
        // The SDK's own warnings (a credentials provider that failed on the way, with
        // its debug dump) say nothing the error report does not: only with -v.
        0 => "warn,aws_config=error,aws_smithy_runtime=error,aws_runtime=error",
        1 => "provision=info,warn",
        _ => "provision=debug,aws_config=info,info",
    };
    // Colours only for a person at a terminal (and never with NO_COLOR set), unless told.
    let colour = human::colour_for(choice, std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .with_ansi(colour)
        .try_init();
}

/// First Ctrl-C: stop starting new work. Second: exit at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            eprintln!("\nInterrupt: starting nothing new and ending waits (what AWS is doing carries on; the next run picks it up). Ctrl-C again exits at once.");
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("Exiting at once; run the command again to converge (it takes over the stack lock this process leaves; from elsewhere, `provision unlock`).");
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    stop
}

/// The options that change how resources are deleted or waited on.
fn kind_options(g: &Global, command: &Command) -> kinds::Options {
    let mut options = kinds::Options {
        dependency_wait: Duration::from_secs(g.dependency_wait),
        ..kinds::Options::default()
    };
    match command {
        Command::Down {
            force_empty,
            skip_final_snapshot,
            ..
        } => {
            options.force_empty = *force_empty;
            options.skip_final_snapshot = *skip_final_snapshot;
        }
        Command::Up {
            allow_data_loss, ..
        } => options.allow_data_loss = *allow_data_loss,
        _ => {}
    }
    options
}

async fn run(cli: Cli) -> ExitCode {
    let g = cli.global.clone();
    let inputs = match model::vars::Inputs::gather(
        g.region.clone(),
        std::env::vars(),
        &g.var_files,
        &g.vars,
    ) {
        Ok(i) => model::vars::Inputs {
            lenient: matches!(cli.command, Command::Down { .. }),
            ..i
        },
        Err(invalid) => return report_failure(&g, &Error::Invalid(invalid), None),
    };
    // Without a stack file: from the stacks' tags.
    match &cli.command {
        Command::List { regions } => return list(&g, regions, false).await,
        Command::Down {
            expired: true,
            dry_run: true,
            regions,
            ..
        } => return list(&g, regions, true).await,
        Command::Down {
            expired: true,
            regions,
            ..
        } => return down_expired(&cli, regions).await,
        Command::Down {
            stack: Some(name), ..
        } => {
            let region = g.region.clone().unwrap_or_default();
            return match tagged_stack(name, &region) {
                Ok(stack) => with_stack(&cli, stack).await,
                Err(i) => report_failure(&g, &Error::Invalid(i), None),
            };
        }
        _ => {}
    }
    let stack = match model::load(&g.file, &kinds::models(), &inputs) {
        Ok(s) => s,
        Err(i) => return report_failure(&g, &Error::Invalid(i), None),
    };
    with_stack(&cli, stack).await
}

/// A stack known only by its name and region (`down --stack`, `down --expired`): no
/// resource of its own, so `down` deletes what carries its tags.
fn tagged_stack(name: &str, region: &str) -> Result<model::Stack, model::Invalid> {
    let text = format!(
        "stack: {}\nregion: {}\n",
        yaml_text(name),
        yaml_text(region)
    );
    model::parse(
        &format!("--stack {name}"),
        &text,
        &kinds::models(),
        &Default::default(),
    )
}

/// A value as a YAML double-quoted string.
fn yaml_text(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The regions to look in: --regions, every enabled one, or the one region.
async fn regions_of(g: &Global, r: &args::Regions) -> Result<Vec<String>, Error> {
    let one = g
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| model::DEFAULT_REGION.to_string());
    if r.all_regions {
        return flows::list::enabled_regions(&settings(g, &one)).await;
    }
    if !r.regions.is_empty() {
        return Ok(r.regions.clone());
    }
    Ok(vec![one])
}

fn settings(g: &Global, region: &str) -> Settings {
    Settings {
        region: region.to_string(),
        profile: g.profile.clone(),
        attempt_timeout: Duration::from_secs(g.attempt_timeout),
        max_requests: usize::from(g.max_requests),
    }
}

/// `list`, and `down --expired --dry-run` (only the expired ones).
async fn list(g: &Global, r: &args::Regions, expired_only: bool) -> ExitCode {
    let found = async {
        crate::aws::check_profile(g.profile.as_deref()).await?;
        let regions = regions_of(g, r).await?;
        let first = regions.first().cloned().unwrap_or_default();
        let mut stacks = flows::list::stacks(&settings(g, &first), &regions).await?;
        if expired_only {
            stacks.retain(|s| s.expired);
        }
        Ok::<_, Error>(Outcome::Stacks {
            stacks,
            regions,
            dry_run: expired_only,
        })
    }
    .await;
    let place = Place {
        stack: String::new(),
        account: None,
        region: String::new(),
        lines: Default::default(),
        expires: None,
    };
    match found {
        Ok(o) => report(g, &place, "", &o, None),
        Err(e) => report_failure(g, &e, None),
    }
}

/// `down --expired`: every stack past its expiry, one after the other, each as
/// `down --stack` would.
async fn down_expired(cli: &Cli, r: &args::Regions) -> ExitCode {
    let g = &cli.global;
    let found = async {
        crate::aws::check_profile(g.profile.as_deref()).await?;
        let regions = regions_of(g, r).await?;
        let first = regions.first().cloned().unwrap_or_default();
        flows::list::stacks(&settings(g, &first), &regions).await
    }
    .await;
    let expired: Vec<flows::list::StackSummary> = match found {
        Ok(all) => all.into_iter().filter(|s| s.expired).collect(),
        Err(e) => return report_failure(g, &e, None),
    };
    if expired.is_empty() {
        return list(g, r, true).await;
    }
    let mut worst = ExitCode::SUCCESS;
    for s in expired {
        tracing::info!(
            "stack {} in {} expired at {:?}",
            s.name,
            s.region,
            s.expires
        );
        let code = match tagged_stack(&s.name, &s.region) {
            Ok(stack) => with_stack(cli, stack).await,
            Err(i) => report_failure(g, &Error::Invalid(i), None),
        };
        if code != ExitCode::SUCCESS {
            worst = code;
        }
    }
    worst
}

async fn with_stack(cli: &Cli, stack: model::Stack) -> ExitCode {
    let g = cli.global.clone();
    let (name, region, file) = (stack.name.clone(), stack.region.clone(), stack.file.clone());
    if let Command::Validate = cli.command {
        // No AWS call: the file alone.
        let resources = stack
            .desired(&kinds::models(), model::PLACEHOLDER_ACCOUNT)
            .len();
        let place = Place {
            stack: name,
            account: None,
            region,
            lines: Default::default(),
            expires: None,
        };
        return report(&g, &place, &file, &Outcome::Validated { resources }, None);
    }
    // From the file alone (and a Boavizta server for the footprint): no AWS call.
    let review = match &cli.command {
        Command::Diagram { format, output } => {
            Some(flows::review::diagram(&stack, *format, output.as_ref()))
        }
        Command::Cost { usage } => Some(flows::review::cost(&stack, &usage.usage())),
        Command::Manifests { entry } => Some(flows::review::manifests(&stack, entry.as_deref())),
        Command::Footprint { usage, boavizta } => Some(
            flows::review::footprint(
                &stack,
                &usage.usage(),
                &boavizta.boavizta_url,
                boavizta.usage_location.as_deref(),
            )
            .await,
        ),
        Command::Report {
            output,
            usage,
            boavizta_url,
            live: false,
        } => Some(
            flows::review::report(
                &stack,
                &usage.usage(),
                boavizta_url.as_deref(),
                output.as_ref(),
                None,
            )
            .await,
        ),
        _ => None,
    };
    if let Some(result) = review {
        let place = Place {
            stack: name,
            account: None,
            region,
            lines: Default::default(),
            expires: None,
        };
        return match result {
            Ok(o) => report(&g, &place, &file, &o, None),
            Err(e) => report_failure(&g, &e, None),
        };
    }
    let settings = settings(&g, &stack.region);
    let mut s = match Session::connect(stack, &settings, kind_options(&g, &cli.command)).await {
        Ok(s) => s,
        Err(e) => return report_failure(&g, &e, None),
    };
    let mut saved = None;
    match &cli.command {
        Command::Plan { ttl, .. }
        | Command::Up {
            ttl, plan: None, ..
        } => s.ttl = *ttl,
        Command::Up {
            plan: Some(path), ..
        } => match flows::saved::read(path) {
            // The plan's own clock and --ttl: a new expiry comes out as it was shown.
            Ok(p) => {
                s.started = p.made;
                s.ttl = p.ttl.map(Duration::from_secs);
                saved = Some(p);
            }
            Err(e) => return report_failure(&g, &e, None),
        },
        _ => {}
    }
    let place = s.place();
    let view: Arc<dyn View> = if g.json {
        Arc::new(json::Json { yes: g.yes })
    } else {
        Arc::new(human::Human {
            yes: g.yes,
            place: place.clone(),
        })
    };
    let run = RunOptions {
        parallelism: usize::from(g.parallelism),
        stop: interrupt_flag(),
        lock_timeout: g.lock_timeout,
        in_use_wait: Duration::from_secs(g.dependency_wait),
    };
    let result = match &cli.command {
        Command::Validate => Ok(Outcome::Validated {
            resources: s.desired.len(),
        }),
        Command::Plan {
            detailed_exitcode,
            out,
            ..
        } => flows::plan::plan(&s, *detailed_exitcode, out.as_deref()).await,
        Command::Drift => flows::plan::drift(&s).await,
        Command::Status => flows::plan::status(&s).await,
        Command::Output { name } => flows::output::output(&s, name.as_deref()).await,
        Command::Up {
            allow_data_loss, ..
        } => flows::up::up(&s, &view, &run, *allow_data_loss, saved.as_ref()).await,
        Command::Down { force, .. } => flows::down::down(&s, &view, &run, *force).await,
        Command::Unlock => flows::unlock::unlock(&s, &view).await,
        Command::Adopt { name, id } => flows::adopt::adopt(&s, &view, &run, name, id).await,
        Command::Completions { .. }
        | Command::List { .. }
        | Command::Manifests { .. }
        | Command::Man
        | Command::Schema
        | Command::Diagram { .. }
        | Command::Cost { .. }
        | Command::Footprint { .. } => Ok(Outcome::Validated {
            resources: s.desired.len(),
        }),
        Command::Snapshots { prune, keep } => {
            flows::snapshots::snapshots(&s, &view, *prune, *keep).await
        }
        Command::Report {
            output,
            usage,
            boavizta_url,
            ..
        } => match s.registry.discover_all().await {
            Ok(observed) => {
                let outputs = s.outputs(&observed);
                flows::review::report(
                    &s.stack,
                    &usage.usage(),
                    boavizta_url.as_deref(),
                    output.as_ref(),
                    Some((&observed, &outputs)),
                )
                .await
            }
            Err(e) => Err(e.into()),
        },
        Command::Kubeconfig { cluster, output } => {
            flows::kubeconfig::kubeconfig(
                &s,
                cluster.as_deref(),
                output.as_deref(),
                g.profile.clone(),
            )
            .await
        }
    };
    let stats = g.stats.then(|| s.stats());
    // The expiry the discovery found or set (plan, up, status).
    let place = Place {
        expires: s.expiry(),
        ..place
    };
    match &result {
        Ok(o) => report(&g, &place, &file, o, stats.as_ref()),
        Err(e) => report_failure(&g, e, stats.as_ref()),
    }
}

/// Show a command's result through the view, and say how it ended.
fn report(
    g: &Global,
    place: &Place,
    file: &str,
    o: &Outcome,
    stats: Option<&crate::aws::StatsReport>,
) -> ExitCode {
    if g.json {
        json::emit(json::outcome(place, file, o), stats);
    } else {
        human::outcome(place, file, o);
        if let Some(st) = stats {
            eprint!("{}", human::stats_text(st));
        }
    }
    exit_code(o)
}

fn report_failure(g: &Global, e: &Error, stats: Option<&crate::aws::StatsReport>) -> ExitCode {
    if g.json {
        json::emit(json::failure(e), stats);
    } else {
        human::failure(e);
        if let Some(st) = stats {
            eprint!("{}", human::stats_text(st));
        }
    }
    ExitCode::from(EXIT_FAILED)
}

/// 0 success, 1 failed, 2 changes found (drift, plan --detailed-exitcode), 130 interrupted
/// (64, a usage error, is decided before any flow runs).
fn exit_code(o: &Outcome) -> ExitCode {
    match o {
        Outcome::Planned { plan, detailed, .. } if *detailed && plan.has_changes() => {
            ExitCode::from(EXIT_CHANGES)
        }
        Outcome::Drift { plan } if plan.has_changes() => ExitCode::from(EXIT_CHANGES),
        Outcome::Applied {
            report: Some(r),
            remaining,
            ..
        } => {
            if r.interrupted {
                ExitCode::from(EXIT_INTERRUPTED)
            } else if !r.ok() || remaining.as_ref().is_some_and(|l| !l.is_empty()) {
                ExitCode::from(EXIT_FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => ExitCode::SUCCESS,
    }
}
