//! The command line's arguments (clap): global options and one subcommand.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use crate::view::ColorChoice;

const AFTER_HELP: &str = "\
Examples:
  provision validate                 check stack.yaml, no AWS call
  provision plan                     what `up` would change
  provision up                       create or update the stack (asks first)
  provision drift                    exit 2 when AWS differs from the file
  provision down --region eu-west-3  delete everything the stack owns

Exit codes:
  0    success (and, for drift and plan --detailed-exitcode, no changes)
  1    failed: invalid file, AWS error, refused, locked
  2    changes found (drift, plan --detailed-exitcode)
  64   usage error (unknown command or option, bad value)
  130  interrupted

Credentials and region come from the standard AWS chain (AWS_PROFILE, --profile,
environment keys, SSO, instance roles); AWS_ENDPOINT_URL points every call elsewhere.";

#[derive(Parser, Debug)]
#[command(
    name = "provision",
    version,
    about = "Stand up, check and tear down an AWS stack described in one YAML file",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The stack file (`-` reads it from standard input).
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
    /// A value for a variable the stack file declares under `vars:` (NAME=VALUE;
    /// repeatable). Overrides --var-file and PROVISION_VAR_NAME.
    #[arg(long = "var", value_name = "NAME=VALUE", global = true)]
    pub vars: Vec<String>,
    /// A YAML file of variable values (`image_tag: 3f2a1c9`; repeatable, later ones win).
    #[arg(long = "var-file", value_name = "FILE", global = true)]
    pub var_files: Vec<PathBuf>,
    /// AWS profile from the shared config files.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// JSON on stdout instead of text: one document per line, the result last (docs/json.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// Do not ask for confirmation before changing or deleting resources.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Print the number of AWS calls by service and operation at the end.
    #[arg(long, global = true)]
    pub stats: bool,
    /// The most AWS requests in flight at once, in total; each service also keeps to its
    /// own bound (4 for IAM, CloudFront, Budgets, STS and SSM, 8 for the others).
    #[arg(long, default_value_t = 16, global = true, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_requests: u16,
    /// How many operations may run at once.
    #[arg(long, default_value_t = 10, global = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// Colours: auto (on a terminal, and not with NO_COLOR), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// More logs on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Seconds a delete keeps retrying while AWS reports the resource as still in use
    /// (interfaces AWS removes minutes after their owner).
    #[arg(long, default_value_t = 1200, global = true, hide = true)]
    pub dependency_wait: u64,
    /// How long `up` and `down` wait for another operation on the same stack to finish
    /// (seconds, or with a unit: 90s, 5m). Default: stop at once, naming the holder.
    #[arg(long, default_value = "0", global = true, value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Seconds one attempt of an AWS call may take before it is abandoned and retried.
    #[arg(long, default_value_t = 60, global = true, hide = true)]
    pub attempt_timeout: u64,
}

/// The regions a command without a stack file looks in.
#[derive(Args, Debug, Clone)]
pub struct Regions {
    /// Regions to look in (comma-separated; default: --region, else the environment's).
    #[arg(long, value_delimiter = ',', value_name = "REGION,...")]
    pub regions: Vec<String>,
    /// Look in every region enabled for the account.
    #[arg(long, conflicts_with = "regions")]
    pub all_regions: bool,
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
        /// Show the plan with a new expiry this long from now (as `up --ttl`).
        #[arg(long, value_parser = parse_ttl)]
        ttl: Option<Duration>,
        /// Save the plan to FILE, for `up --plan FILE` to apply exactly it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Create or update the stack to match the stack file.
    Up {
        /// Allow a plan that replaces or deletes a resource holding data (database,
        /// bucket, cluster) not marked `disposable`.
        #[arg(long)]
        allow_data_loss: bool,
        /// Record a new expiry this long from now on every resource (8h, 2d, 90m); the
        /// scheduled `down --expired` tears the stack down after it.
        #[arg(long, value_parser = parse_ttl, conflicts_with = "plan")]
        ttl: Option<Duration>,
        /// Apply exactly the plan `plan --out FILE` saved, without asking; refused when
        /// the stack file, the variables or AWS changed since.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
    },
    /// Delete everything the stack owns.
    Down {
        /// Empty what still holds data and delete it too: buckets with objects (every
        /// version), repositories with images.
        #[arg(long, alias = "force-empty-buckets")]
        force_empty: bool,
        /// Delete databases without a final snapshot (their data is lost).
        #[arg(long)]
        skip_final_snapshot: bool,
        /// Also remove what is not the stack's but blocks its teardown (subnets, groups,
        /// interfaces, instances, load balancers in its VPC; rules referring to its groups).
        #[arg(long)]
        force: bool,
        /// Tear down the stack NAME without its file, from its tags (needs --region).
        #[arg(
            long,
            value_name = "NAME",
            conflicts_with = "expired",
            requires = "region"
        )]
        stack: Option<String>,
        /// Tear down every stack whose recorded expiry has passed (`expires:`, `up --ttl`),
        /// without their files: what a scheduled reaper runs.
        #[arg(long)]
        expired: bool,
        /// With --expired: only list what would be torn down.
        #[arg(long, requires = "expired")]
        dry_run: bool,
        #[command(flatten)]
        regions: Regions,
    },
    /// List the stacks in the account, from their tags alone (no stack file): resources,
    /// creation, expiry, lock holder, and what they cost per day.
    List {
        #[command(flatten)]
        regions: Regions,
    },
    /// Compare live resources with the stack file: exit 0 when they match, 2 when not.
    Drift,
    /// List what exists of the stack, with ids and states, and its outputs.
    Status,
    /// Print the stack's outputs (addresses, endpoints), read from AWS; with a name, only
    /// that value, raw (`provision output cdn.url`).
    Output {
        /// `<resource>.<output>`, as `provision output` lists them.
        name: Option<String>,
    },
    /// List the final snapshots `down` kept (billed until deleted); prune older ones.
    Snapshots {
        /// Delete all but the newest `--keep` of each database (after asking).
        #[arg(long)]
        prune: bool,
        /// How many of each database's final snapshots `--prune` keeps.
        #[arg(long, default_value_t = 1, requires = "prune")]
        keep: usize,
    },
    /// Break the stack's lock, left by an operation that died or hangs (after asking).
    Unlock,
    /// Make an existing resource made outside the stack the stack's resource NAME (it gets
    /// the stack's tags, after asking); `up` then brings it to the file.
    Adopt {
        /// The resource's name in the stack file (`main`, `media`).
        name: String,
        /// Its AWS id (`vpc-0abc…`, `subnet-…`, `sg-…`, a bucket's name).
        id: String,
    },
    /// Print a shell completion script (`provision completions bash > /etc/bash_completion.d/provision`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff: `provision man > provision.1; man ./provision.1`).
    Man,
    /// Print the stack file's JSON Schema (for editors: the `# yaml-language-server:
    /// $schema=` line of a stack file; docs/stack.schema.json is this output).
    Schema,
    /// Print the stack's Kubernetes objects as they will be applied (values substituted;
    /// another resource's output shown as <name.output>), one YAML document each. No AWS
    /// call: `provision manifests | kubernetes-validate --strict -`.
    Manifests {
        /// Only the objects of this `kubernetes:` entry.
        entry: Option<String>,
    },
    /// Add an entry for an EKS cluster of the stack to a kubeconfig file.
    Kubeconfig {
        /// The cluster (its name in the stack file); needed when the stack has several.
        #[arg(long)]
        cluster: Option<String>,
        /// The file to write (default: the first path of KUBECONFIG, else ~/.kube/config).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Draw the architecture from the stack file (no AWS call): the VPC with its zones and
    /// subnets, each resource where it runs, the traffic the security groups allow.
    Diagram {
        /// The language (default: from --output's extension, else mermaid).
        #[arg(long, value_enum)]
        format: Option<crate::report::diagram::Format>,
        /// Write to this file: .mmd/.md, .d2, .dot/.gv as text; .svg/.png rendered with
        /// Graphviz's `dot` when it is installed.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Estimate the stack's monthly cost from the file and the price table in the
    /// repository (no AWS call), with what would lower it.
    Cost {
        #[command(flatten)]
        usage: UsageArgs,
    },
    /// Estimate the stack's monthly carbon footprint (and primary energy, abiotic
    /// depletion) with a Boavizta API server.
    Footprint {
        #[command(flatten)]
        usage: UsageArgs,
        #[command(flatten)]
        boavizta: BoaviztaArgs,
    },
    /// Write the architecture document (Markdown): diagram, resources, security matrix,
    /// data protection, cost and, with --boavizta-url, the carbon footprint.
    Report {
        /// The file to write (default: print it); `.html` writes a page of its own.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        usage: UsageArgs,
        /// Also compute the footprint with the Boavizta API at this address.
        #[arg(long)]
        boavizta_url: Option<String>,
        /// Also read what is deployed (ids, states, outputs) from AWS.
        #[arg(long)]
        live: bool,
    },
}

/// Usage assumptions of the cost and the footprint.
#[derive(Args, Debug, Clone)]
pub struct UsageArgs {
    /// How long the stack is up: `always` (730 h a month) or `demo` (8 h a day, 5 days a
    /// week: 173 h).
    #[arg(long, value_enum, default_value = "always")]
    pub usage: UsagePreset,
    /// Hours up per month, instead of the preset.
    #[arg(long)]
    pub hours: Option<f64>,
    /// GB served to the internet per month (CloudFront, NAT).
    #[arg(long, default_value_t = 10.0)]
    pub transfer_gb: f64,
    /// GB stored in buckets.
    #[arg(long, default_value_t = 5.0)]
    pub stored_gb: f64,
    /// GB of logs written per month.
    #[arg(long, default_value_t = 1.0)]
    pub logs_gb: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsagePreset {
    Always,
    Demo,
}

impl UsageArgs {
    pub fn usage(&self) -> crate::report::cost::Usage {
        use crate::report::cost::Usage;
        let mut u = match self.usage {
            UsagePreset::Always => Usage::always(),
            UsagePreset::Demo => Usage::demo(),
        };
        if let Some(h) = self.hours {
            u.hours = h.clamp(0.0, crate::report::cost::MONTH_HOURS);
            u.label = format!("{:.0} h/month", u.hours);
        }
        u.transfer_gb = self.transfer_gb.max(0.0);
        u.stored_gb = self.stored_gb.max(0.0);
        u.logs_gb = self.logs_gb.max(0.0);
        u
    }
}

#[derive(Args, Debug, Clone)]
pub struct BoaviztaArgs {
    /// The Boavizta API server (a local one: pip install boaviztapi; uvicorn
    /// boaviztapi.main:app).
    #[arg(long, default_value = crate::report::footprint::PUBLIC_API)]
    pub boavizta_url: String,
    /// The electricity grid (ISO 3166-1 alpha-3, such as FRA), instead of the region's.
    #[arg(long)]
    pub usage_location: Option<String>,
}

/// An expiry's duration: `8h`, `2d`, `90m`.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    crate::model::expiry::duration(s)
        .ok_or_else(|| format!("`{s}` is not a duration like 8h, 2d or 90m"))
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
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
