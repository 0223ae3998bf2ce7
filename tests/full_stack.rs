//! The complete Spotilike stack against the emulator: IAM, RDS, ECS behind the ALB, EKS,
//! alarms, budget. Checked through the test's own SDK clients, then updated, drifted and
//! torn down.

mod common;

use common::{sdk_config, Project, ACCOUNT, REGION};

fn step<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["plan"]["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name}"))
}

fn changed(plan: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = plan["plan"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["action"] != "no-op")
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("").to_string(),
                s["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn the_complete_stack_comes_up_with_its_key_attributes() {
    let p = Project::new("fullup");
    let up = p.ok(&["up", "--yes"], 0);
    let conf = sdk_config().await;
    let stack = &p.stack;

    // What a user wants of the stack ends `up` and is read back by `output`: the
    // database endpoint as AWS reports it, the load balancer's and distribution's
    // addresses, the bucket and the repository.
    let rds = aws_sdk_rds::Client::new(&conf);
    let described = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{stack}-postgres"))
        .send()
        .await
        .expect("db");
    let endpoint = described.db_instances()[0].endpoint().expect("endpoint");
    let address = format!(
        "{}:{}",
        endpoint.address().expect("address"),
        endpoint.port().expect("port")
    );
    let outputs = up
        .stdout
        .split("Outputs:\n")
        .nth(1)
        .expect("outputs after the report");
    let names: Vec<&str> = outputs
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "api-images.uri",
            "frontend-app.service-frontend.url",
            "frontend.endpoint",
            "media.name",
            "postgres.endpoint",
            "static.url",
            "web.dns_name"
        ],
        "{}",
        up.stdout
    );
    assert!(
        outputs
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["postgres.endpoint", address.as_str()]),
        "{outputs}"
    );
    let raw = p.ok(&["output", "postgres.endpoint"], 0);
    assert_eq!(raw.stdout, format!("{address}\n"));
    let shown = p.ok(&["output", "--json"], 0).json();
    assert_eq!(shown["outputs"]["postgres.endpoint"], address.as_str());
    assert!(
        shown["outputs"]["static.url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://") && u.ends_with(".cloudfront.net")),
        "{shown}"
    );
    let unknown = p.ok(&["output", "postgres.url"], 1);
    assert!(
        unknown.stderr.contains(
            "no output `postgres.url`; it has api-images.uri, frontend-app.service-frontend.url, frontend.endpoint, media.name, postgres.endpoint"
        ),
        "{}",
        unknown.stderr
    );
    assert!(
        up.stdout.starts_with(&format!(
            "Plan for stack {stack} in account {ACCOUNT}, region {REGION}:\n"
        )),
        "{}",
        up.stdout
    );
    let status = p.ok(&["status"], 0);
    assert!(
        status.stdout.starts_with(&format!(
            "Status of stack {stack} in account {ACCOUNT}, region {REGION}:\n"
        )),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["postgres.endpoint", address.as_str()]),
        "{}",
        status.stdout
    );

    // RDS: encrypted, private, free-tier class, backups, password managed by AWS.
    let db = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{stack}-postgres"))
        .send()
        .await
        .expect("db");
    let db = &db.db_instances()[0];
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.db_instance_class(), Some("db.t3.micro"));
    assert_eq!(db.backup_retention_period(), Some(7));
    assert_eq!(db.engine(), Some("postgres"));
    let secret = db
        .master_user_secret()
        .and_then(|s| s.secret_arn())
        .expect("managed secret")
        .to_string();
    assert_eq!(
        db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some(format!("{stack}-db-subnets").as_str())
    );

    // IAM: the task role may only touch the media bucket's objects.
    let iam = aws_sdk_iam::Client::new(&conf);
    let doc = iam
        .get_role_policy()
        .role_name(format!("{stack}-api-task"))
        .policy_name("media-objects")
        .send()
        .await
        .expect("policy");
    let text = doc
        .policy_document()
        .replace("%3A", ":")
        .replace("%2F", "/")
        .replace("%2A", "*")
        .replace("%22", "\"");
    let bucket_arn = format!("arn:aws:s3:::{}", p.bucket());
    assert!(text.contains(&format!("{bucket_arn}/*")), "{text}");
    assert!(!text.contains("\"*\""), "no wildcard resource: {text}");
    let attached = iam
        .list_attached_role_policies()
        .role_name(format!("{stack}-api-task"))
        .send()
        .await
        .expect("attached");
    assert!(
        attached.attached_policies().is_empty(),
        "the task role has no managed policy"
    );
    let exec = iam
        .get_role_policy()
        .role_name(format!("{stack}-task-execution"))
        .policy_name("database-secret")
        .send()
        .await
        .expect("exec policy");
    assert!(
        exec.policy_document().contains("secretsmanager"),
        "{}",
        exec.policy_document()
    );

    // ECS: the task definition gets the secret by ARN, the service sits behind the target group.
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let td = ecs
        .describe_task_definition()
        .task_definition(format!("{stack}-api"))
        .send()
        .await
        .expect("td");
    let td = td.task_definition().expect("td");
    assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("512")));
    let c = &td.container_definitions()[0];
    assert_eq!(c.secrets()[0].value_from(), format!("{secret}:password::"));
    let env: std::collections::BTreeMap<&str, &str> = c
        .environment()
        .iter()
        .filter_map(|kv| Some((kv.name()?, kv.value()?)))
        .collect();
    assert_eq!(
        env.get("DATABASE_HOST").copied(),
        db.endpoint().and_then(|e| e.address())
    );
    assert_eq!(env.get("MEDIA_BUCKET").copied(), Some(p.bucket().as_str()));
    let svc = ecs
        .describe_services()
        .cluster(format!("{stack}-app"))
        .services(format!("{stack}-api-service"))
        .send()
        .await
        .expect("svc");
    let svc = &svc.services()[0];
    assert_eq!(svc.desired_count(), 2);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let tgs = elb
        .describe_target_groups()
        .names(format!("{stack}-api-targets"))
        .send()
        .await
        .expect("tg");
    let tg_arn = tgs.target_groups()[0]
        .target_group_arn()
        .expect("arn")
        .to_string();
    assert_eq!(
        svc.load_balancers()[0].target_group_arn(),
        Some(tg_arn.as_str())
    );
    assert_eq!(svc.load_balancers()[0].container_port(), Some(8000));

    // EKS: the node group's scaling.
    let eks = aws_sdk_eks::Client::new(&conf);
    let ng = eks
        .describe_nodegroup()
        .cluster_name(format!("{stack}-frontend"))
        .nodegroup_name(format!("{stack}-frontend-nodes"))
        .send()
        .await
        .expect("ng");
    let sc = ng
        .nodegroup()
        .and_then(|n| n.scaling_config())
        .expect("scaling");
    assert_eq!(
        (sc.min_size(), sc.desired_size(), sc.max_size()),
        (Some(1), Some(2), Some(3))
    );

    // Alarms notify the topic.
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    let alarms = cw
        .describe_alarms()
        .alarm_name_prefix(format!("{stack}-"))
        .send()
        .await
        .expect("alarms");
    assert_eq!(alarms.metric_alarms().len(), 4);
    assert!(alarms.metric_alarms().iter().all(|a| a
        .alarm_actions()
        .iter()
        .any(|x| x.contains(&format!("{stack}-alerts")))));

    // CloudFront serves the bucket, and the bucket lets only that distribution read.
    let cf = aws_sdk_cloudfront::Client::new(&conf);
    let list = cf.list_distributions().send().await.expect("distributions");
    let dist = list
        .distribution_list()
        .map(|l| {
            l.items()
                .iter()
                .find(|d| d.comment() == format!("{stack}-static"))
                .cloned()
        })
        .unwrap_or_default()
        .expect("the distribution");
    assert!(dist
        .origins()
        .is_some_and(|o| o.items()[0].domain_name().starts_with(&p.bucket())));
    let s3 = common::s3().await;
    let policy: serde_json::Value = serde_json::from_str(
        s3.get_bucket_policy()
            .bucket(p.bucket())
            .send()
            .await
            .expect("policy")
            .policy()
            .expect("text"),
    )
    .expect("json");
    let statements = policy["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 2);
    let allow = statements
        .iter()
        .find(|s| s["Effect"] == "Allow")
        .expect("allow");
    assert_eq!(allow["Principal"]["Service"], "cloudfront.amazonaws.com");
    assert_eq!(
        allow["Condition"]["StringEquals"]["AWS:SourceArn"],
        dist.arn()
    );
    let oacs = cf.list_origin_access_controls().send().await.expect("oac");
    assert!(oacs.origin_access_control_list().is_some_and(|l| l
        .items()
        .iter()
        .any(|o| o.name() == format!("{stack}-static"))));

    // kubeconfig: an entry for the cluster, with kubectl fetching tokens itself.
    let kube = p.dir.join("kubeconfig");
    p.ok(&["kubeconfig", "--output", kube.to_str().expect("path")], 0);
    let text = std::fs::read_to_string(&kube).expect("kubeconfig");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let cluster = eks
        .describe_cluster()
        .name(format!("{stack}-frontend"))
        .send()
        .await
        .expect("cluster");
    let arn = cluster.cluster().and_then(|c| c.arn()).expect("arn");
    assert_eq!(doc["current-context"].as_str(), Some(arn));
    assert_eq!(
        doc["clusters"][0]["cluster"]["server"].as_str(),
        cluster.cluster().and_then(|c| c.endpoint())
    );
    assert_eq!(
        doc["users"][0]["user"]["exec"]["args"][3].as_str(),
        Some("get-token")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&kube).expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }

    // A second up: nothing planned, no write.
    let again = p.ok(&["up", "--yes", "--json", "--stats"], 0).json();
    assert_eq!(again["stats"]["writes"], 0, "{:#}", again["plan"]);
    assert_eq!(again["account"], ACCOUNT);
    assert_eq!(again["region"], REGION);
    assert_eq!(
        again["outputs"], shown["outputs"],
        "a second up shows the same outputs"
    );
    let down = p.ok(&["down", "--yes", "--skip-final-snapshot"], 0);
    // What was agreed to names the place and what is kept (no snapshot: skipped).
    assert!(
        down.stderr.contains(&format!(
            "resources of stack {stack} in account {ACCOUNT}, region {REGION}? (buckets and image repositories that still hold data are kept) yes (--yes)"
        )),
        "{}",
        down.stderr
    );
    let oacs = cf.list_origin_access_controls().send().await.expect("oac");
    assert!(
        !oacs.origin_access_control_list().is_some_and(|l| l
            .items()
            .iter()
            .any(|o| o.name() == format!("{stack}-static"))),
        "the OAC went with the distribution"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_are_planned_as_the_right_action_and_applied() {
    let p = Project::new("fullupdate");
    p.ok(&["up", "--yes"], 0);
    p.edit("instance_class: db.t3.micro", "instance_class: db.t3.small");
    p.edit("backup_retention_days: 7", "backup_retention_days: 14");
    p.edit(
        "image: public.ecr.aws/docker/library/python:3.12-slim",
        "image: public.ecr.aws/docker/library/python:3.13-slim",
    );
    p.edit("    desired_count: 2", "    desired_count: 3");
    p.edit(
        "    desired_size: 2\n    max_size: 3",
        "    desired_size: 3\n    max_size: 4",
    );
    p.edit("    threshold: 80\n", "    threshold: 90\n");
    let plan = p.ok(&["plan", "--json", "--detailed-exitcode"], 2).json();
    assert_eq!(
        changed(&plan),
        vec![
            ("api".into(), "update".into()),
            ("api-service".into(), "update".into()),
            ("db-cpu".into(), "update".into()),
            ("frontend-nodes".into(), "update".into()),
            ("postgres".into(), "update".into()),
        ]
    );
    let fields = |n: &str| -> Vec<String> {
        step(&plan, n)["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| c["field"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        fields("postgres"),
        vec!["backup_retention_days", "instance_class"]
    );
    assert_eq!(
        fields("api-service"),
        vec!["desired_count", "task_definition"]
    );
    assert_eq!(fields("frontend-nodes"), vec!["scaling"]);

    let up = p.ok(&["up", "--yes", "--json"], 0).json();
    assert_eq!(up["summary"]["update"], 5);
    p.ok(&["drift"], 0);

    let conf = sdk_config().await;
    let stack = &p.stack;
    let db = aws_sdk_rds::Client::new(&conf)
        .describe_db_instances()
        .db_instance_identifier(format!("{stack}-postgres"))
        .send()
        .await
        .expect("db");
    assert_eq!(
        db.db_instances()[0].db_instance_class(),
        Some("db.t3.small")
    );
    assert_eq!(db.db_instances()[0].backup_retention_period(), Some(14));
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let svc = ecs
        .describe_services()
        .cluster(format!("{stack}-app"))
        .services(format!("{stack}-api-service"))
        .send()
        .await
        .expect("svc");
    let svc = &svc.services()[0];
    assert_eq!(svc.desired_count(), 3);
    assert!(
        svc.task_definition().is_some_and(|t| t.ends_with(":2")),
        "moved to revision 2: {:?}",
        svc.task_definition()
    );
    let td = ecs
        .describe_task_definition()
        .task_definition(format!("{stack}-api:2"))
        .send()
        .await
        .expect("td");
    assert_eq!(
        td.task_definition()
            .and_then(|t| t.container_definitions()[0].image()),
        Some("public.ecr.aws/docker/library/python:3.13-slim")
    );
    let ng = aws_sdk_eks::Client::new(&conf)
        .describe_nodegroup()
        .cluster_name(format!("{stack}-frontend"))
        .nodegroup_name(format!("{stack}-frontend-nodes"))
        .send()
        .await
        .expect("ng");
    let sc = ng
        .nodegroup()
        .and_then(|n| n.scaling_config())
        .expect("scaling");
    assert_eq!((sc.desired_size(), sc.max_size()), (Some(3), Some(4)));
    let alarm = aws_sdk_cloudwatch::Client::new(&conf)
        .describe_alarms()
        .alarm_names(format!("{stack}-db-cpu"))
        .send()
        .await
        .expect("alarm");
    assert_eq!(alarm.metric_alarms()[0].threshold(), Some(90.0));

    // down deregisters every revision and takes the final snapshot.
    p.ok(&["down", "--yes"], 0);
    let revs = ecs
        .list_task_definitions()
        .family_prefix(format!("{stack}-api"))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .expect("list");
    assert!(
        revs.task_definition_arns().is_empty(),
        "{:?}",
        revs.task_definition_arns()
    );
    let snaps = aws_sdk_rds::Client::new(&conf)
        .describe_db_snapshots()
        .db_instance_identifier(format!("{stack}-postgres"))
        .send()
        .await
        .expect("snapshots");
    assert!(
        snaps.db_snapshots().iter().any(|s| s
            .db_snapshot_identifier()
            .is_some_and(|i| i.starts_with(&format!("{stack}-postgres-final-")))),
        "final snapshot: {:?}",
        snaps
            .db_snapshots()
            .iter()
            .map(|s| s.db_snapshot_identifier())
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_on_the_application_tier_is_detected_and_repaired() {
    let p = Project::new("fulldrift");
    p.ok(&["up", "--yes"], 0);
    let conf = sdk_config().await;
    let stack = &p.stack;
    let rds = aws_sdk_rds::Client::new(&conf);
    rds.modify_db_instance()
        .db_instance_identifier(format!("{stack}-postgres"))
        .backup_retention_period(1)
        .apply_immediately(true)
        .send()
        .await
        .expect("modify");
    let iam = aws_sdk_iam::Client::new(&conf);
    iam.attach_role_policy()
        .role_name(format!("{stack}-api-task"))
        .policy_arn("arn:aws:iam::aws:policy/AmazonS3FullAccess")
        .send()
        .await
        .expect("attach");
    let ecs = aws_sdk_ecs::Client::new(&conf);
    ecs.update_service()
        .cluster(format!("{stack}-app"))
        .service(format!("{stack}-api-service"))
        .desired_count(7)
        .send()
        .await
        .expect("scale");

    let drift = p.ok(&["drift", "--json"], 2).json();
    let mut names: Vec<(String, String)> = drift["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .flat_map(|r| {
            let name = r["name"].as_str().unwrap_or("").to_string();
            r["changes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |c| (name.clone(), c["field"].as_str().unwrap_or("").to_string()))
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("api-service".into(), "desired_count".into()),
            ("api-task".into(), "managed_policies".into()),
            ("postgres".into(), "backup_retention_days".into()),
        ]
    );
    p.ok(&["up", "--yes"], 0);
    p.ok(&["drift"], 0);
    let attached = iam
        .list_attached_role_policies()
        .role_name(format!("{stack}-api-task"))
        .send()
        .await
        .expect("attached");
    assert!(attached.attached_policies().is_empty());
    let db = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{stack}-postgres"))
        .send()
        .await
        .expect("db");
    assert_eq!(db.db_instances()[0].backup_retention_period(), Some(7));
    p.ok(&["down", "--yes", "--skip-final-snapshot"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_distribution_is_waited_for_with_visible_progress() {
    // The emulator's state manager keeps new distributions "InProgress" for 3 seconds.
    let url = format!(
        "{}/moto-api/state-manager/set-transition",
        common::emulator().endpoint
    );
    let body = r#"{"model_name":"cloudfront::distribution","transition":{"progression":"time","seconds":3}}"#;
    let out = std::process::Command::new("curl")
        .args(["-fsS", "-X", "POST", "-d", body, &url])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let p = Project::new("fullcdn");
    p.write(
        "stack: fullcdn\nbuckets:\n  site: {cloudfront_access: [cdn]}\ndistributions:\n  cdn: {origin_bucket: site, default_root_object: index.html}\n",
    );
    // `status` while `up` waits shows the distribution as AWS has it, not "ok".
    let endpoint = common::emulator().endpoint.clone();
    let running = common::command(&endpoint, &p.dir, &["up", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("up");
    let mut seen = Vec::new();
    let deploying = loop {
        let status = p.ok(&["status"], 0).stdout;
        let cdn = status
            .lines()
            .find(|l| l.trim_start().starts_with("distribution"))
            .map(str::to_string);
        if let Some(line) = &cdn {
            if line.ends_with("not ready: inprogress") {
                break true;
            }
            seen.push(line.clone());
            if line.ends_with("  ok") {
                break false;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    let out = running.wait_with_output().expect("up ends");
    let up = common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(up.code, 0, "{}", up.all());
    assert!(deploying, "status never showed the deployment: {seen:?}");
    let after = p.ok(&["status"], 0).stdout;
    assert!(
        after
            .lines()
            .any(|l| l.trim_start().starts_with("distribution") && l.ends_with("  ok")),
        "{after}"
    );
    assert!(
        up.stderr
            .contains("waiting for distribution cdn: inprogress"),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains("Created distribution cdn"),
        "{}",
        up.stderr
    );
    let down = p.ok(&["down", "--yes"], 0);
    assert!(
        down.stderr.contains("waiting for distribution cdn"),
        "{}",
        down.stderr
    );
    assert!(
        down.stdout.contains("Nothing of stack fullcdn remains"),
        "{}",
        down.stdout
    );
}

/// Compare `text` with the committed snapshot `tests/snapshots/NAME` (rewritten instead
/// when UPDATE_SNAPSHOTS is set).
fn snapshot(name: &str, text: &str) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, text).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    assert!(
        want == text,
        "{} differs (UPDATE_SNAPSHOTS=1 rewrites it); now:\n{text}",
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_read_like_the_file() {
    let p = Project::new("snap");
    // The whole stack: a header with the place, a legend and the tags told once; values
    // as known, each unknown leaf named; long values as blocks; no line wider than 110.
    let full = p.ok(&["plan"], 0).stdout;
    snapshot("plan-full-stack.txt", &full);
    assert!(full.lines().all(|l| l.chars().count() <= 110), "{full}");
    // A resource's own tags stay, the identity tags go to the header.
    assert!(
        full.contains("      tags = {\"data\": \"media\"}\n"),
        "{full}"
    );
    assert_eq!(
        full.matches("provision:stack=snap").count(),
        1,
        "identity tags are told once"
    );
    // A small change: only what changes, "before -> after".
    p.ok(&["up", "--yes"], 0);
    p.edit("desired_count: 2", "desired_count: 3");
    p.edit(
        "api-logs: {retention_days: 14}",
        "api-logs: {retention_days: 30}",
    );
    // A nested change (one action less in a policy statement) shows that statement, not
    // the whole policy twice.
    p.edit(
        "{actions: [s3:GetObject, s3:PutObject, s3:DeleteObject], objects_in: media}",
        "{actions: [s3:GetObject, s3:PutObject], objects_in: media}",
    );
    let small = p.ok(&["plan"], 0).stdout;
    snapshot("plan-small-change.txt", &small);
    assert!(small.lines().all(|l| l.chars().count() <= 200), "{small}");
    p.ok(&["down", "--yes", "--skip-final-snapshot"], 0);
}
