//! Interruptions and data safety against the emulator: `up` and `down` killed at many
//! points converge on the next run with exactly one of everything; Ctrl-C stops new work;
//! non-empty buckets, deletion protection and destructive plans are guarded; secrets never
//! show up in output or files.

mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use common::{census, emulator, sdk_config, Project, FULL};

/// Start the binary in the background, its stderr piped (and stdout too if asked).
fn spawn_with(p: &Project, args: &[&str], stdout: Stdio) -> std::process::Child {
    common::command(&emulator().endpoint, &p.dir, args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn spawn(p: &Project, args: &[&str]) -> std::process::Child {
    spawn_with(p, args, Stdio::null())
}

#[tokio::test(flavor = "multi_thread")]
async fn up_and_down_killed_at_many_points_converge_without_duplicates() {
    // First, how long a whole `up` takes here, to spread the kill points over it.
    let first = Project::new("kill0");
    let start = Instant::now();
    first.ok(&["up", "--yes"], 0);
    let whole = start.elapsed();
    first.ok(&["down", "--yes", "--skip-final-snapshot"], 0);

    for i in 1..=8u32 {
        // A stack of its own each time: the emulator names an instance's first automated
        // snapshot by the minute, so re-creating a database under the same name within a
        // minute collides there (not on AWS).
        let p = Project::new(&format!("kill{i}"));
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
async fn ctrl_c_ends_waits_at_once_and_starts_nothing_new() {
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
    let p = Project::new("ctrlc");
    p.write("stack: ctrlc\nbuckets:\n  site: {cloudfront_access: [cdn]}\ndistributions:\n  cdn: {origin_bucket: site}\nlog_groups:\n  after: {retention_days: 7, depends_on: [cdn]}\n");
    let mut child = spawn_with(&p, &["up", "--yes"], Stdio::piped());
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
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout)
        .expect("stdout");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Interrupt: starting nothing new and ending waits"),
        "{stderr}"
    );
    // The wait ended at once: the distribution is AWS's to finish, and said so.
    assert!(
        !stderr.contains("Created distribution cdn"),
        "the wait ended before AWS did: {stderr}"
    );
    assert!(
        stdout.contains("still settling in AWS (it carries on; the next run picks up from there): create distribution cdn (inprogress)"),
        "{stdout}"
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
    let p = Project::new("ctrlctwice");
    p.write("stack: ctrlctwice\nbuckets:\n  site: {cloudfront_access: [cdn]}\ndistributions:\n  cdn: {origin_bucket: site}\n");
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
                assert!(Command::new("kill")
                    .args(["-INT", &pid])
                    .status()
                    .expect("kill")
                    .success());
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
    assert!(
        again.stderr.contains("taking over the lock"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("on this host is gone"),
        "{}",
        again.stderr
    );
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
    put_lock(&ssm, stack, &value).await;
}

async fn put_lock(ssm: &aws_sdk_ssm::Client, stack: &str, value: &serde_json::Value) {
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
    p.write(
        "stack: locked\nlog_groups:\n  app: {retention_days: 7}\n  worker: {retention_days: 7}\n",
    );
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
    for needle in [
        "stack locked is locked",
        "user/bob",
        "bob@ci-runner-7, pid 4242",
        "running `down` since",
        "provision unlock",
        "--lock-timeout",
    ] {
        assert!(r.stderr.contains(needle), "{needle:?} in:\n{}", r.stderr);
    }
    assert_eq!(groups().await, 0);
    // drift and status are never blocked; status says who holds the lock.
    let drift = p.ok(&["drift"], 2);
    assert!(!drift.all().contains("locked by"), "{}", drift.all());
    let status = p.ok(&["status"], 0);
    assert!(
        status
            .stdout
            .contains("Locked by arn:aws:iam::123456789012:user/bob"),
        "{}",
        status.stdout
    );

    // Waiting a bounded time: the holder finishes meanwhile, `up` goes ahead.
    let release = tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let ssm = aws_sdk_ssm::Client::new(&sdk_config().await);
        ssm.delete_parameter()
            .name("/provision/locked/lock")
            .send()
            .await
            .expect("release");
    });
    let dir = p.dir.clone();
    let waited = tokio::task::spawn_blocking(move || {
        common::run_at(
            &emulator().endpoint,
            &dir,
            &["up", "--yes", "--lock-timeout", "1m"],
            &[],
        )
    })
    .await
    .expect("join");
    release.await.expect("release");
    assert_eq!(waited.code, 0, "{}", waited.all());
    assert!(
        waited
            .stderr
            .contains("Waiting for the stack lock, held by arn:aws:iam::123456789012:user/bob"),
        "{}",
        waited.stderr
    );
    assert_eq!(groups().await, 2);
    assert_eq!(lock_value("locked").await, None, "released at the end");

    // A lock that expired (its holder crashed long ago) is taken over.
    plant_lock("locked", -5).await;
    p.edit(
        "worker: {retention_days: 7}",
        "worker: {retention_days: 14}",
    );
    let r = p.ok(&["up", "--yes", "-v"], 0);
    assert!(r.stderr.contains("taking over the lock"), "{}", r.stderr);
    assert_eq!(lock_value("locked").await, None);

    // `unlock` names the holder and breaks the lock.
    plant_lock("locked", 600).await;
    let r = p.ok(&["unlock"], 1);
    assert!(r.all().contains("pass --yes"), "{}", r.all());
    assert!(
        lock_value("locked").await.is_some(),
        "not broken without consent"
    );
    let r = p.ok(&["unlock", "--yes"], 0);
    assert!(
        r.stdout
            .contains("locked by arn:aws:iam::123456789012:user/bob"),
        "{}",
        r.stdout
    );
    assert_eq!(lock_value("locked").await, None);
    p.ok(&["unlock", "--yes"], 0);

    // Two operations started together: one applies, the other stops naming the first;
    // nothing is duplicated.
    p.edit(
        "worker: {retention_days: 14}",
        "worker: {retention_days: 30}",
    );
    let a = spawn_with(&p, &["up", "--yes"], Stdio::piped());
    let b = spawn_with(&p, &["up", "--yes"], Stdio::piped());
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    let codes = [a.status.code(), b.status.code()];
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    match codes {
        [Some(0), Some(1)] | [Some(1), Some(0)] => {
            assert!(
                text.contains("is locked")
                    || text.contains("the stack changed while the plan was shown"),
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

/// A lock as this machine's process `pid` would write it; `pid_ns` overrides the PID
/// namespace (another container with the same hostname).
async fn plant_local_lock(stack: &str, pid: u32, pid_ns: Option<&str>) {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let value = serde_json::json!({
        "id": "local", "principal": "arn:aws:iam::123456789012:user/me", "user": "me",
        "host": read("/proc/sys/kernel/hostname"), "boot": read("/proc/sys/kernel/random/boot_id"),
        "pid_ns": pid_ns.map(str::to_string).unwrap_or(ns), "started": 0,
        "pid": pid, "command": "up", "since": now - 60, "expires": now + 600,
    });
    put_lock(
        &aws_sdk_ssm::Client::new(&sdk_config().await),
        stack,
        &value,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_holder_is_judged_only_where_it_can_be_and_a_waiter_whose_work_was_done_succeeds() {
    let p = Project::new("lockwho");
    p.write("stack: lockwho\nlog_groups:\n  app: {retention_days: 7}\n");
    p.ok(&["up", "--yes"], 0);
    // A pid no process has.
    let dead = 4_290_000_000;

    // Same hostname, another PID namespace (a container): the pid proves nothing, the
    // lease decides, so the lock holds.
    plant_local_lock("lockwho", dead, Some("pid:[1]")).await;
    p.edit("{retention_days: 7}", "{retention_days: 14}");
    let r = p.ok(&["up", "--yes"], 1);
    assert!(r.stderr.contains("stack lockwho is locked"), "{}", r.all());

    // The same host, boot and namespace: that process is gone. Even a run with nothing
    // to do gives its lock back.
    plant_local_lock("lockwho", dead, None).await;
    p.edit("{retention_days: 14}", "{retention_days: 7}");
    let r = p.ok(&["up", "--yes"], 0);
    assert!(
        r.stderr.contains("Released the stack lock left by"),
        "{}",
        r.all()
    );
    assert_eq!(lock_value("lockwho").await, None);

    // `unlock` says a running holder is running (here: this test process).
    plant_local_lock("lockwho", std::process::id(), None).await;
    p.ok(&["unlock"], 1);
    assert!(lock_value("lockwho").await.is_some(), "not broken unasked");
    let r = p.ok(&["unlock", "--yes"], 0);
    assert!(
        r.all().contains("is still running on this machine"),
        "{}",
        r.all()
    );
    // Someone else's lock: nobody here can tell.
    plant_lock("lockwho", 600).await;
    let r = p.ok(&["unlock", "--yes"], 0);
    assert!(r.all().contains("cannot be told from here"), "{}", r.all());

    // A waiter whose work another operation did meanwhile ends with success.
    plant_lock("lockwho", 600).await;
    p.edit("{retention_days: 7}", "{retention_days: 30}");
    let dir = p.dir.clone();
    let waiter = tokio::task::spawn_blocking(move || {
        common::run_at(
            &emulator().endpoint,
            &dir,
            &["up", "--yes", "--lock-timeout", "1m"],
            &[],
        )
    });
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    aws_sdk_cloudwatchlogs::Client::new(&sdk_config().await)
        .put_retention_policy()
        .log_group_name("/lockwho/app")
        .retention_in_days(30)
        .send()
        .await
        .expect("the other operation's change");
    aws_sdk_ssm::Client::new(&sdk_config().await)
        .delete_parameter()
        .name("/provision/lockwho/lock")
        .send()
        .await
        .expect("release");
    let waited = waiter.await.expect("join");
    assert_eq!(waited.code, 0, "{}", waited.all());
    assert!(
        waited.stderr.contains("nothing left to do"),
        "{}",
        waited.all()
    );
    assert_eq!(lock_value("lockwho").await, None);
    p.ok(&["down", "--yes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_lives_in_one_region_and_another_region_never_claims_its_global_resources() {
    let p = Project::new("homed");
    p.write(
        "stack: homed\nregion: eu-west-3\niam_roles:\n  exec: {trust: [ecs-tasks.amazonaws.com]}\nbuckets:\n  media: {}\nbudgets:\n  monthly: {limit_usd: 10, alerts: [{type: actual, threshold_percent: 80}], email: [a@example.com]}\nlog_groups:\n  app: {retention_days: 7}\n",
    );
    p.ok(&["up", "--yes"], 0);
    let iam = aws_sdk_iam::Client::new(&sdk_config().await);
    let role = iam
        .list_roles()
        .path_prefix("/provision/homed/")
        .send()
        .await
        .expect("roles");
    assert_eq!(role.roles().len(), 1);

    // The same file run against another region: every command stops before any write
    // and says where the stack lives; nothing global is touched.
    for args in [
        vec!["--region", "eu-west-1", "plan"],
        vec!["--region", "eu-west-1", "up", "--yes"],
        vec!["--region", "eu-west-1", "down", "--yes", "--force-empty"],
        vec!["--region", "eu-west-1", "status"],
    ] {
        let r = p.ok(&args, 1);
        assert!(
            r.stderr.contains("stack homed lives in region eu-west-3")
                && r.stderr.contains("--region eu-west-3"),
            "{args:?}: {}",
            r.all()
        );
        assert!(
            !r.all().contains("Created") && !r.all().contains("Deleted"),
            "{}",
            r.all()
        );
    }
    let role = iam
        .list_roles()
        .path_prefix("/provision/homed/")
        .send()
        .await
        .expect("roles");
    assert_eq!(role.roles().len(), 1, "the role stays");
    // At home, nothing changed.
    p.ok(&["plan", "--detailed-exitcode"], 0);
    p.ok(&["down", "--yes", "--force-empty"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn names_held_by_something_else_are_never_adopted_changed_or_deleted() {
    let conf = sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    // Made by hand (or by another stack) under the names this stack would use.
    ecs.create_cluster()
        .cluster_name("taken-app")
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("team")
                .value("other")
                .build(),
        )
        .send()
        .await
        .expect("cluster");
    logs.create_log_group()
        .log_group_name("/taken/api")
        .send()
        .await
        .expect("log group");
    logs.put_retention_policy()
        .log_group_name("/taken/api")
        .retention_in_days(365)
        .send()
        .await
        .expect("retention");

    let p = Project::new("taken");
    p.write("stack: taken\nsns_topics:\n  alerts: {}\necs_clusters:\n  app: {}\nlog_groups:\n  api: {retention_days: 14}\n");
    let r = p.ok(&["up", "--yes"], 1);
    // Both named at their line of the file, before any write: the free topic is not
    // created either.
    for (line, what) in [
        (5, "ecs cluster `taken-app`"),
        (7, "log group `/taken/api`"),
    ] {
        assert!(
            r.stderr.contains(&format!("stack.yaml:{line}:"))
                && r.stderr
                    .contains(&format!("{what} already exists and is not this stack's")),
            "{what}: {}",
            r.all()
        );
    }
    let sns = aws_sdk_sns::Client::new(&conf);
    let topics = sns.list_topics().send().await.expect("topics");
    assert!(
        !topics
            .topics()
            .iter()
            .any(|t| t.topic_arn().is_some_and(|a| a.ends_with(":taken-alerts"))),
        "nothing was created"
    );
    let cluster = ecs
        .describe_clusters()
        .clusters("taken-app")
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .expect("describe");
    let tags: Vec<_> = cluster.clusters()[0]
        .tags()
        .iter()
        .map(|t| t.key().unwrap_or_default().to_string())
        .collect();
    assert_eq!(tags, vec!["team".to_string()], "not retagged");
    let retention = || async {
        logs.describe_log_groups()
            .log_group_name_prefix("/taken/api")
            .send()
            .await
            .expect("groups")
            .log_groups()[0]
            .retention_in_days()
    };
    assert_eq!(retention().await, Some(365), "retention untouched");

    // Not the stack's, so `down` leaves them.
    p.ok(&["down", "--yes"], 0);
    let cluster = ecs
        .describe_clusters()
        .clusters("taken-app")
        .send()
        .await
        .expect("describe");
    assert_eq!(cluster.clusters()[0].status(), Some("ACTIVE"));
    assert_eq!(retention().await, Some(365));
}

#[tokio::test(flavor = "multi_thread")]
async fn data_is_kept_unless_emptying_is_asked_for() {
    let p = Project::new("keepdata");
    p.write("stack: keepdata\nbuckets:\n  media: {deny_insecure_transport: false}\necr_repositories:\n  images: {}\nlog_groups:\n  logs: {retention_days: 7}\n");
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
    // An image pushed to the repository (by CI, say).
    let ecr = aws_sdk_ecr::Client::new(&sdk_config().await);
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "config": {"digest": "sha256:1", "size": 1, "mediaType": "application/vnd.docker.container.image.v1+json"}, "layers": []});
    ecr.put_image()
        .repository_name("keepdata/images")
        .image_manifest(manifest.to_string())
        .image_tag("v1")
        .send()
        .await
        .expect("push an image");

    let down = p.ok(&["down", "--yes", "--json"], 0).json();
    let kept: Vec<&serde_json::Value> = down["result"]["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter(|o| o["result"] == "kept")
        .collect();
    assert_eq!(kept.len(), 2, "{down:#}");
    let reasons: Vec<&str> = kept.iter().filter_map(|k| k["reason"].as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains(&bucket)
            && r.contains("4 object version(s)")
            && r.contains("--force-empty")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("keepdata/images") && r.contains("1 image(s)")),
        "{reasons:?}"
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
        text.stdout.contains("kept: bucket media")
            && text.stdout.contains("kept: ecr_repository images"),
        "{}",
        text.stdout
    );

    // The flag of old still works for buckets and repositories alike.
    p.ok(&["down", "--yes", "--force-empty-buckets"], 0);
    assert!(
        s3.head_bucket().bucket(&bucket).send().await.is_err(),
        "emptied and deleted"
    );
    let left = ecr
        .describe_repositories()
        .repository_names("keepdata/images")
        .send()
        .await;
    assert!(left.is_err(), "the repository went with its images");
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
    let first = p.ok(&["down", "--yes"], 0);
    let db = format!("{}-postgres", p.stack);
    assert!(
        first
            .stdout
            .contains("Kept on purpose, billed until deleted")
            && first
                .stdout
                .contains(&format!("final snapshot {db}-final-"))
            && first.stdout.contains("20 GiB"),
        "down names the snapshot it kept: {}",
        first.stdout
    );
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

    // A second cycle keeps a second one; `snapshots --prune` keeps the newest.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.ok(&["up", "--yes"], 0);
    // Someone's own snapshot, named like ours but without the stack's tags.
    let foreign = format!("{db}-final-someone");
    rds.create_db_snapshot()
        .db_instance_identifier(&db)
        .db_snapshot_identifier(&foreign)
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("owner")
                .value("someone")
                .build(),
        )
        .send()
        .await
        .expect("a foreign snapshot");
    p.ok(&["down", "--yes"], 0);
    let listed = p.ok(&["--json", "snapshots"], 0).json();
    let ids: Vec<String> = listed["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    let pruned = p.ok(&["--yes", "snapshots", "--prune"], 0);
    assert!(
        pruned.stdout.contains(&ids[0]),
        "the older one: {}",
        pruned.stdout
    );
    let left = rds
        .describe_db_snapshots()
        .db_instance_identifier(&db)
        .snapshot_type("manual")
        .send()
        .await
        .expect("snapshots");
    let mut left: Vec<&str> = left
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier())
        .collect();
    left.sort();
    let mut expected = vec![ids[1].as_str(), foreign.as_str()];
    expected.sort();
    assert_eq!(
        left, expected,
        "the newest is kept, and a snapshot without the stack's tags is never the stack's"
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
        vec!["unlock", "--yes", "-vv", "--json"],
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
async fn foreign_blockers_stop_down_before_anything_is_deleted_unless_forced() {
    let p = Project::new("blocked");
    p.write("stack: blocked\nvpcs:\n  main: {cidr: 10.7.0.0/16}\nsubnets:\n  a: {vpc: main, cidr: 10.7.0.0/24, zone: eu-west-3a}\nsecurity_groups:\n  app: {vpc: main, description: app}\n");
    p.ok(&["up", "--yes"], 0);
    let ec2 = common::ec2().await;
    let ids = common::ids("blocked").await;
    let (vpc, subnet, app) = (ids["main"].clone(), ids["a"].clone(), ids["app"].clone());
    // Someone else's subnet, interface and group inside the stack's VPC, and a rule in a
    // group of another VPC that refers to the stack's group.
    let foreign_subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.7.9.0/24")
        .send()
        .await
        .expect("subnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("id");
    let foreign_eni = ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .description("bastion")
        .send()
        .await
        .expect("eni")
        .network_interface
        .and_then(|n| n.network_interface_id)
        .expect("id");
    let foreign_group = ec2
        .create_security_group()
        .group_name("tooling")
        .description("someone's")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("sg")
        .group_id
        .expect("id");
    let other_vpc = ec2
        .create_vpc()
        .cidr_block("10.70.0.0/16")
        .send()
        .await
        .expect("vpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("id");
    let outside = ec2
        .create_security_group()
        .group_name("monitoring")
        .description("someone's")
        .vpc_id(&other_vpc)
        .send()
        .await
        .expect("sg")
        .group_id
        .expect("id");
    ec2.authorize_security_group_ingress()
        .group_id(&outside)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(9100)
                .to_port(9100)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&app)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("rule");

    let r = p.ok(&["down", "--yes"], 1);
    let text = r.all();
    for needle in [
        "nothing was deleted".to_string(),
        format!("subnet {foreign_subnet} (10.7.9.0/24)"),
        format!("network interface {foreign_eni} (bastion)"),
        format!("security group {foreign_group} (tooling)"),
        format!("rules in security group {outside} (monitoring) referring to {app}"),
        "--force".to_string(),
    ] {
        assert!(text.contains(&needle), "{needle:?} in:\n{text}");
    }
    assert_eq!(
        common::ids("blocked").await.len(),
        3,
        "nothing of the stack was deleted"
    );

    // --force removes them too; what is not in the way (the other VPC, its group) stays.
    let r = p.ok(&["down", "--yes", "--force"], 0);
    assert!(
        r.stdout.contains("not the stack's, --force"),
        "{}",
        r.stdout
    );
    assert!(common::ids("blocked").await.is_empty());
    assert!(
        ec2.describe_subnets()
            .subnet_ids(&foreign_subnet)
            .send()
            .await
            .is_err(),
        "foreign subnet removed"
    );
    assert!(
        ec2.describe_network_interfaces()
            .network_interface_ids(&foreign_eni)
            .send()
            .await
            .is_err(),
        "interface removed"
    );
    let kept = ec2
        .describe_security_groups()
        .group_ids(&outside)
        .send()
        .await
        .expect("the outside group stays");
    let g = &kept.security_groups()[0];
    assert!(
        g.ip_permissions()
            .iter()
            .all(|p| p.user_id_group_pairs().is_empty()),
        "only the rule referring to the stack's group went: {g:?}"
    );
    assert_eq!(
        ec2.describe_vpcs()
            .vpc_ids(&other_vpc)
            .send()
            .await
            .expect("vpc")
            .vpcs()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_aws_or_the_cluster_made_for_the_stack_is_cleared_by_down() {
    let p = Project::new("swept");
    p.write(
        "stack: swept
vpcs:
  main: {cidr: 10.8.0.0/16}
subnets:
  a: {vpc: main, cidr: 10.8.0.0/24, zone: eu-west-3a}
  b: {vpc: main, cidr: 10.8.1.0/24, zone: eu-west-3b}
security_groups:
  app: {vpc: main, description: app}
iam_roles:
  eks-cluster:
    trust: [eks.amazonaws.com]
    managed_policies: [arn:aws:iam::aws:policy/AmazonEKSClusterPolicy]
eks_clusters:
  k8s: {version: \"1.34\", role: eks-cluster, subnets: [a, b], security_groups: [app]}
",
    );
    p.ok(&["up", "--yes"], 0);
    let conf = sdk_config().await;
    let ec2 = common::ec2().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let ids = common::ids("swept").await;
    let (vpc, a, b, app) = (
        ids["main"].clone(),
        ids["a"].clone(),
        ids["b"].clone(),
        ids["app"].clone(),
    );
    let cluster_tag = |k: &str, v: &str| {
        aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
            .tags(aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
            .build()
    };
    // What the cluster's load balancer controller makes for a Service of type
    // LoadBalancer: a group, tagged with the cluster, allowed into the nodes' group, and
    // a load balancer.
    let lb_group = ec2
        .create_security_group()
        .group_name("k8s-default-web")
        .description("made by the controller")
        .vpc_id(&vpc)
        .tag_specifications(cluster_tag("elbv2.k8s.aws/cluster", "swept-k8s"))
        .send()
        .await
        .expect("sg")
        .group_id
        .expect("id");
    ec2.authorize_security_group_ingress()
        .group_id(&app)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(30000)
                .to_port(32767)
                .user_id_group_pairs(
                    aws_sdk_ec2::types::UserIdGroupPair::builder()
                        .group_id(&lb_group)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("rule");
    let lb = elb
        .create_load_balancer()
        .name("k8s-default-web-1a2b3c")
        .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
        .subnets(&a)
        .subnets(&b)
        .security_groups(&lb_group)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("elbv2.k8s.aws/cluster")
                .value("swept-k8s")
                .build(),
        )
        .send()
        .await
        .expect("lb")
        .load_balancers()[0]
        .load_balancer_arn()
        .expect("arn")
        .to_string();
    // An interface the network plugin left behind, detached.
    let eni = ec2
        .create_network_interface()
        .subnet_id(&a)
        .description("aws-K8S-i-0abc")
        .send()
        .await
        .expect("eni")
        .network_interface
        .and_then(|n| n.network_interface_id)
        .expect("id");
    // And a load balancer of someone else, in another VPC: untouched.
    let other_vpc = ec2
        .create_vpc()
        .cidr_block("10.80.0.0/16")
        .send()
        .await
        .expect("vpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("id");
    let other_subnet = ec2
        .create_subnet()
        .vpc_id(&other_vpc)
        .cidr_block("10.80.0.0/24")
        .availability_zone("eu-west-3a")
        .send()
        .await
        .expect("subnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("id");
    let other_subnet_b = ec2
        .create_subnet()
        .vpc_id(&other_vpc)
        .cidr_block("10.80.1.0/24")
        .availability_zone("eu-west-3b")
        .send()
        .await
        .expect("subnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("id");
    let other_lb = elb
        .create_load_balancer()
        .name("someone-else")
        .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
        .subnets(&other_subnet)
        .subnets(&other_subnet_b)
        .send()
        .await
        .expect("lb")
        .load_balancers()[0]
        .load_balancer_arn()
        .expect("arn")
        .to_string();

    let r = p.ok(&["down", "--yes"], 0);
    assert!(
        r.stdout.contains("load balancer k8s-default-web-1a2b3c"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("(made for the stack): delete"),
        "{}",
        r.stdout
    );
    assert!(common::ids("swept").await.is_empty());
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    let left: Vec<&str> = lbs
        .load_balancers()
        .iter()
        .filter_map(|l| l.load_balancer_arn())
        .collect();
    assert!(
        !left.contains(&lb.as_str()),
        "the cluster's load balancer is gone"
    );
    assert!(left.contains(&other_lb.as_str()), "someone else's stays");
    assert!(
        ec2.describe_security_groups()
            .group_ids(&lb_group)
            .send()
            .await
            .is_err(),
        "the controller's group is gone"
    );
    assert!(
        ec2.describe_network_interfaces()
            .network_interface_ids(&eni)
            .send()
            .await
            .is_err(),
        "the leftover interface is gone"
    );
}

/// CloudFront's origin access control is a resource of its own: when a `down` is cut
/// after the distribution is gone and before the control is deleted, `status` still shows
/// the control and the next `down` deletes it: nothing is left behind unseen.
#[tokio::test(flavor = "multi_thread")]
async fn an_origin_access_control_left_by_a_cut_down_is_shown_and_deleted() {
    let p = Project::new("oacleft");
    p.write("stack: oacleft\nbuckets:\n  site: {cloudfront_access: [cdn]}\ndistributions:\n  cdn: {origin_bucket: site}\n");
    p.ok(&["up", "--yes"], 0);
    let cf = aws_sdk_cloudfront::Client::new(&sdk_config().await);
    // The cut: the distribution disabled and deleted as `down` does it, the rest left.
    let list = cf.list_distributions().send().await.expect("distributions");
    let d = list
        .distribution_list()
        .map(|l| l.items())
        .unwrap_or_default()
        .iter()
        .find(|d| d.comment() == "oacleft-cdn")
        .expect("the stack's distribution")
        .id()
        .to_string();
    let current = cf
        .get_distribution_config()
        .id(&d)
        .send()
        .await
        .expect("config");
    let mut config = current.distribution_config.expect("config");
    config.enabled = false;
    let disabled = cf
        .update_distribution()
        .id(&d)
        .if_match(current.e_tag.unwrap_or_default())
        .distribution_config(config)
        .send()
        .await
        .expect("disable");
    let etag = disabled.e_tag.unwrap_or_default();
    cf.delete_distribution()
        .id(&d)
        .if_match(etag)
        .send()
        .await
        .expect("delete");
    let oacs = || async {
        cf.list_origin_access_controls()
            .send()
            .await
            .expect("oacs")
            .origin_access_control_list()
            .map(|l| {
                l.items()
                    .iter()
                    .filter(|o| o.name() == "oacleft-cdn")
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(oacs().await, 1);

    let status = p.ok(&["status"], 0);
    assert!(status.stdout.contains("cdn.oac"), "{}", status.stdout);
    p.ok(&["down", "--yes"], 0);
    assert_eq!(oacs().await, 0, "the control went with the rest");
}
