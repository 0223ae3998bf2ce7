//! Interruptions and data safety against the emulator: `up` and `down` killed at many
//! points converge on the next run with exactly one of everything; Ctrl-C stops new work;
//! non-empty buckets, deletion protection and destructive plans are guarded; secrets never
//! show up in output or files.

mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use common::{census, emulator, sdk_config, Project, FULL};

fn spawn(p: &Project, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(args)
        .current_dir(&p.dir)
        .env("AWS_ENDPOINT_URL", &emulator().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[tokio::test(flavor = "multi_thread")]
async fn up_and_down_killed_at_many_points_converge_without_duplicates() {
    // First, how long a whole `up` takes here, to spread the kill points over it.
    let first = Project::new("kill-0");
    let start = Instant::now();
    first.ok(&["up", "--yes"], 0);
    let whole = start.elapsed();
    first.ok(&["down", "--yes", "--skip-final-snapshot"], 0);

    for i in 1..=8u32 {
        // A stack of its own each time: the emulator names an instance's first automated
        // snapshot by the minute, so re-creating a database under the same name within a
        // minute collides there (not on AWS).
        let p = Project::new(&format!("kill-{i}"));
        let at = whole.mul_f64(f64::from(i) / 9.0);
        let mut child = spawn(&p, &["up", "--yes"]);
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        p.ok(&["up", "--yes"], 0);
        assert_eq!(
            census(&p.stack).await,
            FULL.to_vec(),
            "after a kill at {at:?} and a rerun"
        );
        let again = p.ok(&["plan", "--json", "--detailed-exitcode"], 0).json();
        assert_eq!(again["summary"]["create"], 0);

        // Kill the teardown part-way too; the rerun finishes it.
        let mut child = spawn(&p, &["down", "--yes", "--skip-final-snapshot"]);
        std::thread::sleep(at / 2);
        let _ = child.kill();
        let _ = child.wait();
        p.ok(&["down", "--yes", "--skip-final-snapshot"], 0);
        assert!(
            census(&p.stack).await.iter().all(|(_, n)| *n == 0),
            "after a killed down and a rerun: {:?}",
            census(&p.stack).await
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_lets_running_work_finish_and_starts_nothing_new() {
    // Distributions stay "InProgress" for 3 s: the interrupt lands while one is being waited on.
    let url = format!(
        "{}/moto-api/state-manager/set-transition",
        emulator().endpoint
    );
    let body = r#"{"model_name":"cloudfront::distribution","transition":{"progression":"time","seconds":3}}"#;
    assert!(Command::new("curl")
        .args(["-fsS", "-X", "POST", "-d", body, &url])
        .status()
        .expect("curl")
        .success());
    let p = Project::new("ctrl-c");
    p.write("stack: ctrl-c\nbuckets:\n  site: {cloudfront_access: [cdn]}\ndistributions:\n  cdn: {origin_bucket: site}\nlog_groups:\n  after: {retention_days: 7, depends_on: [cdn]}\n");
    let mut child = spawn(&p, &["up", "--yes"]);
    // Read the progress; once the distribution is being waited on, interrupt once.
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut stderr = String::new();
    let pid = child.id().to_string();
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut err, &mut line).expect("read") > 0 {
        stderr.push_str(&line);
        if line.contains("waiting for distribution cdn") {
            assert!(Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .expect("kill")
                .success());
        }
        line.clear();
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Interrupt: letting running operations finish"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Created distribution cdn"),
        "the running create finished: {stderr}"
    );
    assert!(
        !stderr.contains("Create log_group after"),
        "nothing new started: {stderr}"
    );
    // The next run picks up from there.
    let plan = p.ok(&["plan", "--json"], 0).json();
    assert_eq!(
        plan["summary"]["create"], 2,
        "the log group and the bucket policy, both waiting on the distribution"
    );
    p.ok(&["up", "--yes"], 0);
    p.ok(&["down", "--yes"], 0);

    // Twice: the second interrupt exits at once, without waiting for the running create.
    let p = Project::new("ctrl-c-twice");
    p.write("stack: ctrl-c-twice\nbuckets:\n  site: {cloudfront_access: [cdn]}\ndistributions:\n  cdn: {origin_bucket: site}\n");
    let mut child = spawn(&p, &["up", "--yes"]);
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut stderr = String::new();
    let pid = child.id().to_string();
    let mut line = String::new();
    let mut sent = None;
    while std::io::BufRead::read_line(&mut err, &mut line).expect("read") > 0 {
        stderr.push_str(&line);
        if line.contains("waiting for distribution cdn") && sent.is_none() {
            for _ in 0..2 {
                assert!(Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            sent = Some(Instant::now());
        }
        line.clear();
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Exiting at once"), "{stderr}");
    assert!(
        !stderr.contains("Created distribution cdn"),
        "the second interrupt did not wait for the running create: {stderr}"
    );
    // The lock the dead process left behind is recognised (same host, process gone) and
    // the next run converges.
    let again = p.ok(&["up", "--yes"], 0);
    assert!(again.stderr.contains("taking over the lock"), "{}", again.stderr);
    assert!(again.stderr.contains("on this host is gone"), "{}", again.stderr);
    p.ok(&["plan", "--detailed-exitcode"], 0);
    p.ok(&["down", "--yes"], 0);
}

/// The stack lock's parameter, read through our own client.
async fn lock_value(stack: &str) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config().await);
    ssm.get_parameter()
        .name(format!("/provision/{stack}/lock"))
        .send()
        .await
        .ok()
        .and_then(|o| o.parameter.and_then(|p| p.value))
}

async fn plant_lock(stack: &str, expires_in: i64) {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config().await);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let value = serde_json::json!({
        "id": "planted", "principal": "arn:aws:iam::123456789012:user/bob", "user": "bob",
        "host": "ci-runner-7", "pid": 4242, "command": "down",
        "since": now - 120, "expires": now + expires_in,
    });
    ssm.put_parameter()
        .name(format!("/provision/{stack}/lock"))
        .value(value.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("plant lock");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_operation_at_a_time_per_stack_with_the_lock_in_the_account() {
    let p = Project::new("locked");
    p.write("stack: locked\nlog_groups:\n  app: {retention_days: 7}\n  worker: {retention_days: 7}\n");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk_config().await);
    let groups = || async {
        logs.describe_log_groups()
            .log_group_name_prefix("/locked/")
            .send()
            .await
            .expect("log groups")
            .log_groups()
            .len()
    };

    // Someone else's operation holds the stack: `up` stops, naming the holder, and
    // changes nothing.
    plant_lock("locked", 600).await;
    let r = p.ok(&["up", "--yes"], 1);
    for needle in ["stack locked is locked", "user/bob", "bob@ci-runner-7, pid 4242", "running `down` since", "provision unlock", "--lock-timeout"] {
        assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
    }
    assert_eq!(groups().await, 0);
    // drift and status are never blocked; status says who holds the lock.
    let drift = p.ok(&["drift"], 2);
    assert!(!drift.all().contains("locked by"), "{}", drift.all());
    let status = p.ok(&["status"], 0);
    assert!(status.stdout.contains("Locked by arn:aws:iam::123456789012:user/bob"), "{}", status.stdout);

    // Waiting a bounded time: the holder finishes meanwhile, `up` goes ahead.
    let release = tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let ssm = aws_sdk_ssm::Client::new(&sdk_config().await);
        ssm.delete_parameter().name("/provision/locked/lock").send().await.expect("release");
    });
    let dir = p.dir.clone();
    let waited = tokio::task::spawn_blocking(move || {
        common::run_at(&emulator().endpoint, &dir, &["up", "--yes", "--lock-timeout", "1m"], &[])
    })
    .await
    .expect("join");
    release.await.expect("release");
    assert_eq!(waited.code, 0, "{}", waited.all());
    assert!(waited.stderr.contains("Waiting for the stack lock, held by arn:aws:iam::123456789012:user/bob"), "{}", waited.stderr);
    assert_eq!(groups().await, 2);
    assert_eq!(lock_value("locked").await, None, "released at the end");

    // A lock that expired (its holder crashed long ago) is taken over.
    plant_lock("locked", -5).await;
    p.edit("worker: {retention_days: 7}", "worker: {retention_days: 14}");
    let r = p.ok(&["up", "--yes", "-v"], 0);
    assert!(r.stderr.contains("taking over the lock"), "{}", r.stderr);
    assert_eq!(lock_value("locked").await, None);

    // `unlock` names the holder and breaks the lock.
    plant_lock("locked", 600).await;
    let r = p.ok(&["unlock"], 1);
    assert!(r.all().contains("pass --yes"), "{}", r.all());
    assert!(lock_value("locked").await.is_some(), "not broken without consent");
    let r = p.ok(&["unlock", "--yes"], 0);
    assert!(r.stdout.contains("locked by arn:aws:iam::123456789012:user/bob"), "{}", r.stdout);
    assert_eq!(lock_value("locked").await, None);
    p.ok(&["unlock", "--yes"], 0);

    // Two operations started together: one applies, the other stops naming the first;
    // nothing is duplicated.
    p.edit("worker: {retention_days: 14}", "worker: {retention_days: 30}");
    let a = spawn_out(&p, &["up", "--yes"]);
    let b = spawn_out(&p, &["up", "--yes"]);
    let (a, b) = (a.wait_with_output().expect("a"), b.wait_with_output().expect("b"));
    let codes = [a.status.code(), b.status.code()];
    let text = format!("{}{}", String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
    match codes {
        [Some(0), Some(1)] | [Some(1), Some(0)] => {
            assert!(
                text.contains("is locked") || text.contains("the stack changed while the plan was shown"),
                "{text}"
            )
        }
        // The second saw the first's result when it looked (no changes left): fine too.
        [Some(0), Some(0)] => {}
        other => panic!("{other:?}\n{text}"),
    }
    assert_eq!(groups().await, 2);
    p.ok(&["plan", "--detailed-exitcode"], 0);
    p.ok(&["down", "--yes"], 0);
    assert_eq!(lock_value("locked").await, None);
}

fn spawn_out(p: &Project, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_provision"))
        .args(args)
        .current_dir(&p.dir)
        .env("AWS_ENDPOINT_URL", &emulator().endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_with_objects_is_kept_unless_emptying_is_asked_for() {
    let p = Project::new("keep-data");
    p.write("stack: keep-data\nbuckets:\n  media: {deny_insecure_transport: false}\nlog_groups:\n  logs: {retention_days: 7}\n");
    p.ok(&["up", "--yes"], 0);
    let s3 = common::s3().await;
    let bucket = p.bucket();
    for (k, body) in [("a.mp3", "one"), ("a.mp3", "two"), ("b.mp3", "three")] {
        s3.put_object()
            .bucket(&bucket)
            .key(k)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put");
    }
    s3.delete_object()
        .bucket(&bucket)
        .key("b.mp3")
        .send()
        .await
        .expect("delete marker");

    let down = p.ok(&["down", "--yes", "--json"], 0).json();
    let kept: Vec<&serde_json::Value> = down["result"]["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter(|o| o["result"] == "kept")
        .collect();
    assert_eq!(kept.len(), 1, "{down:#}");
    let reason = kept[0]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains(&bucket)
            && reason.contains("4 object version(s)")
            && reason.contains("--force-empty-buckets"),
        "{reason}"
    );
    assert_eq!(
        down["remaining"],
        serde_json::json!([]),
        "kept on purpose is not a leak"
    );
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_ok(),
        "the bucket and its data are still there"
    );
    let text = p.ok(&["down", "--yes"], 0);
    assert!(
        text.stdout.contains("kept: bucket media"),
        "{}",
        text.stdout
    );

    p.ok(&["down", "--yes", "--force-empty-buckets"], 0);
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_err(),
        "emptied and deleted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn destroying_data_needs_explicit_consent() {
    let p = Project::new("consent");
    p.write("stack: consent\nbuckets:\n  media: {name: consent-media-one}\n");
    p.ok(&["up", "--yes"], 0);
    // Renaming the bucket replaces it: refused even with --yes...
    p.edit("consent-media-one", "consent-media-two");
    let r = p.ok(&["up", "--yes"], 1);
    assert!(
        r.stderr.contains("destroys data held by bucket media")
            && r.stderr.contains("--allow-data-loss"),
        "{}",
        r.stderr
    );
    let plan = p.ok(&["plan"], 0).stdout;
    assert!(plan.contains("destroys the data it holds"), "{plan}");
    // ...unless the file says the bucket is disposable, or the flag is given.
    p.edit(
        "{name: consent-media-two}",
        "{name: consent-media-two, disposable: true}",
    );
    p.ok(&["up", "--yes"], 0);
    p.ok(&["down", "--yes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_protection_stops_down_with_directions_and_a_final_snapshot_is_taken() {
    let p = Project::new("protect");
    p.edit(
        "    deletion_protection: false",
        "    deletion_protection: true",
    );
    p.ok(&["up", "--yes"], 0);
    let before = census(&p.stack).await;
    let r = p.ok(&["down", "--yes"], 1);
    assert!(
        r.stderr
            .contains("deletion protection is on for database postgres")
            && r.stderr.contains("deletion_protection: false"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was deleted"), "{}", r.stderr);
    assert_eq!(census(&p.stack).await, before, "nothing was deleted");
    p.edit(
        "    deletion_protection: true",
        "    deletion_protection: false",
    );
    p.ok(&["up", "--yes"], 0);
    p.ok(&["down", "--yes"], 0);
    let rds = aws_sdk_rds::Client::new(&sdk_config().await);
    let snaps = rds
        .describe_db_snapshots()
        .db_instance_identifier(format!("{}-postgres", p.stack))
        .send()
        .await
        .expect("snapshots");
    assert_eq!(
        snaps
            .db_snapshots()
            .iter()
            .filter(|s| s.snapshot_type() == Some("manual"))
            .count(),
        1,
        "one final snapshot"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_value_never_appears_in_output_or_files() {
    let p = Project::new("secrets");
    p.ok(&["up", "--yes"], 0);
    let rds = aws_sdk_rds::Client::new(&sdk_config().await);
    let db = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{}-postgres", p.stack))
        .send()
        .await
        .expect("db");
    let secret = db.db_instances()[0]
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("secret")
        .to_string();
    // Seed a known value through the emulator's Secrets Manager API.
    let value = "S3cr3t-Value-That-Must-Not-Leak-42";
    let body = serde_json::json!({"SecretId": secret, "SecretString": format!("{{\"username\":\"spotilike\",\"password\":\"{value}\"}}")}).to_string();
    let ok = Command::new("curl")
        .args(["-fsS", "-X", "POST", "-H", "X-Amz-Target: secretsmanager.PutSecretValue", "-H", "Content-Type: application/x-amz-json-1.1"])
        .args(["-H", "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-3/secretsmanager/aws4_request, SignedHeaders=host, Signature=0"])
        .args(["-d", &body, &emulator().endpoint])
        .output()
        .expect("curl");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    p.edit("    desired_count: 2", "    desired_count: 1");
    let mut seen = String::new();
    for args in [
        vec!["validate", "-v"],
        vec!["plan", "-vv", "--json"],
        vec!["up", "--yes", "-vv"],
        vec!["up", "--yes", "--json", "-v", "--stats"],
        vec!["drift", "-vv"],
        vec!["drift", "--json"],
        vec!["status", "-vv", "--json"],
        vec!["kubeconfig", "-vv", "--output", "kubeconfig"],
        vec!["down", "--yes", "-vv", "--skip-final-snapshot"],
    ] {
        let r = p.run(&args);
        seen.push_str(&r.stdout);
        seen.push_str(&r.stderr);
    }
    assert!(
        seen.contains(&secret) || seen.contains("secret"),
        "the commands ran and referenced the secret by ARN"
    );
    assert!(
        !seen.contains(value),
        "the secret value leaked into the output"
    );
    for entry in std::fs::read_dir(&p.dir).expect("dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read(&path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&text).contains(value),
            "the secret value was written to {}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_resource_blocking_the_teardown_is_named_and_left_alone() {
    let p = Project::new("blocked");
    p.write("stack: blocked\nvpcs:\n  main: {cidr: 10.7.0.0/16}\nsubnets:\n  a: {vpc: main, cidr: 10.7.0.0/24, zone: eu-west-3a}\n");
    p.ok(&["up", "--yes"], 0);
    let ec2 = common::ec2().await;
    let vpc = common::ids("blocked").await["main"].clone();
    // Someone else's subnet inside the stack's VPC.
    let foreign = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.7.9.0/24")
        .send()
        .await
        .expect("subnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("id");
    let r = p.ok(&["down", "--yes", "--dependency-wait", "1"], 1);
    assert!(r.all().contains("DependencyViolation"), "{}", r.all());
    assert!(
        r.all()
            .contains(&format!("still in the VPC: subnet {foreign}")),
        "the blocker is named: {}",
        r.all()
    );
    // The foreign subnet is untouched; the stack's own subnet is gone.
    assert_eq!(
        ec2.describe_subnets()
            .subnet_ids(&foreign)
            .send()
            .await
            .expect("subnet")
            .subnets()
            .len(),
        1
    );
    assert_eq!(
        common::ids("blocked").await.keys().collect::<Vec<_>>(),
        vec!["main"]
    );
    // Once it is gone, down finishes.
    ec2.delete_subnet()
        .subnet_id(&foreign)
        .send()
        .await
        .expect("delete");
    p.ok(&["down", "--yes"], 0);
}
