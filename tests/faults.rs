//! The complete stack through a fault-injecting proxy (tests/common/proxy.rs): with 10% of
//! requests throttled, failed, reset or left unanswered, `up`, a second `up`, `drift` and
//! `down` all succeed and end in the same state as without faults, over several seeds.
//! And when retries run out, the error names the resource, the operation and the AWS
//! error, and the next run resumes.
//!
//! `PROVISION_FAULT_SEEDS=1-20` runs more seeds (default: 1-3).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::proxy::{self, Faults};
use common::{census, emulator, run_at, Project, Run, FULL};

fn seeds() -> Vec<u64> {
    let spec = std::env::var("PROVISION_FAULT_SEEDS").unwrap_or_else(|_| "1-3".into());
    match spec.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (a.parse().expect("seed"), b.parse().expect("seed"));
            (a..=b).collect()
        }
        None => spec
            .split(',')
            .map(|s| s.trim().parse().expect("seed"))
            .collect(),
    }
}

/// Run the binary through `endpoint` without blocking the runtime the proxy runs on.
async fn run(endpoint: &str, dir: &Path, args: &[&str]) -> Run {
    let (endpoint, dir) = (endpoint.to_string(), dir.to_path_buf());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_at(&endpoint, &dir, &args, &[])
    })
    .await
    .expect("join")
}

fn require(r: &Run, code: i32, what: &str) {
    assert_eq!(
        r.code, code,
        "{what} exited {}\nstdout:\n{}\nstderr:\n{}",
        r.code, r.stdout, r.stderr
    );
}

const ATTEMPT_TIMEOUT: &str = "2";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_complete_stack_survives_ten_percent_faults() {
    use futures::FutureExt;
    let mut failed = Vec::new();
    for seed in seeds() {
        // Every seed runs; the failures are listed together at the end.
        if std::panic::AssertUnwindSafe(one_seed(seed))
            .catch_unwind()
            .await
            .is_err()
        {
            failed.push(seed);
        }
    }
    assert!(
        failed.is_empty(),
        "failing seeds: {failed:?} (each one's failure is printed above)"
    );
}

async fn one_seed(seed: u64) {
    let started = Instant::now();
    let p = Project::new(&format!("faults{seed}"));
    let px = proxy::start(
        &emulator().endpoint,
        Faults {
            seed,
            rate: 0.10,
            max_latency_ms: 15,
            hang: Duration::from_secs(3),
            only: None,
            throttle_only: false,
        },
    )
    .await;
    let args = |cmd: &[&'static str]| {
        let mut a = vec!["--attempt-timeout", ATTEMPT_TIMEOUT, "--stats", "-y"];
        a.extend_from_slice(cmd);
        a
    };
    let up = run(&px.endpoint, &p.dir, &args(&["up"])).await;
    require(&up, 0, &format!("seed {seed}: up"));
    assert_eq!(
        census(&p.stack).await,
        FULL.to_vec(),
        "seed {seed}: after up"
    );
    // Judged without faults: the stack is exactly what the file says.
    let plan = p.run(&["plan", "--detailed-exitcode"]);
    require(&plan, 0, &format!("seed {seed}: plan after a faulted up"));

    let again = run(&px.endpoint, &p.dir, &args(&["up"])).await;
    require(&again, 0, &format!("seed {seed}: second up"));
    assert!(
        again.stdout.contains("No changes"),
        "seed {seed}: {}",
        again.stdout
    );
    assert!(
        again.all().contains(", 0 writes"),
        "seed {seed}: a second up sends no mutating call\n{}",
        again.all()
    );
    let drift = run(&px.endpoint, &p.dir, &args(&["drift"])).await;
    require(&drift, 0, &format!("seed {seed}: drift"));

    let down = run(&px.endpoint, &p.dir, &args(&["down"])).await;
    require(&down, 0, &format!("seed {seed}: down"));
    let left = census(&p.stack).await;
    assert!(
        left.iter().all(|(_, n)| *n == 0),
        "seed {seed}: left {left:?}\nup:\n{}\ndown:\n{}",
        up.all(),
        down.all()
    );

    let t = px.tally();
    eprintln!("seed {seed}: {:.0?}, {t:?}", started.elapsed());
    assert!(
        t.faulted() * 20 > t.requests,
        "seed {seed}: too few faults: {t:?}"
    );
    assert!(t.forwarded_then_faulted > 0, "seed {seed}: {t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_retries_run_out_the_error_names_resource_operation_and_code_and_a_rerun_resumes() {
    let p = Project::new("exhausted");
    // Every CreateTargetGroup is throttled, whatever the number of attempts.
    let px = proxy::start(
        &emulator().endpoint,
        Faults {
            seed: 7,
            rate: 1.0,
            max_latency_ms: 0,
            hang: Duration::from_secs(3),
            only: Some("Action=CreateTargetGroup".into()),
            throttle_only: true,
        },
    )
    .await;
    let up = run(&px.endpoint, &p.dir, &["-y", "--stats", "up"]).await;
    require(&up, 1, "up with CreateTargetGroup always throttled");
    assert!(
        up.stdout.contains("failed: create target_group api-targets: elasticloadbalancing:CreateTargetGroup: Rate exceeded (Throttling)"),
        "{}",
        up.all()
    );
    assert!(
        up.stdout
            .contains("  hint: AWS kept refusing for its request rate: lower --parallelism"),
        "{}",
        up.all()
    );
    // The SDK retried with its bounds, then gave up.
    let t = px.tally();
    assert_eq!(t.throttled, 8, "8 attempts: {t:?}");
    // What does not depend on the target group was created; a rerun without the fault
    // finishes the job.
    let again = p.ok(&["-y", "up"], 0);
    assert!(
        again.all().contains("Created target_group api-targets"),
        "{}",
        again.all()
    );
    assert!(
        again
            .stdout
            .contains("0 to update, 0 to replace, 0 to delete"),
        "{}",
        again.stdout
    );
    p.ok(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(census(&p.stack).await, FULL.to_vec());
    p.ok(&["-y", "down"], 0);
}
