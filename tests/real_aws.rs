//! The stack against the realism layer of the test bed (scripts/realism.py): AWS's
//! catalogs, its transitional states with durations, what it makes on its own side and
//! what it refuses while in use. Each test names the AWS behaviour it stands for.
//!
//! The layer's settings are the emulator's, shared by the binary: the tests take turns.

mod common;

use common::{census, realism, sdk_config, Project, FULL};
use serde_json::json;

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn nothing_left(left: &[(&str, usize)]) -> bool {
    left.iter().all(|(_, n)| *n == 0)
}

/// The line of the first `needle` in the project's stack file (1-based).
fn line_of(p: &Project, needle: &str) -> usize {
    p.text()
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no {needle:?} in the stack file"))
}

/// EKS lists the versions it offers with their support status; RDS its PostgreSQL minors
/// and the classes orderable with them; EC2 the account's zones. A version left behind (EKS 1.31, PostgreSQL
/// 16.4), one billed as extended support, or a class RDS does not offer is refused by
/// `plan` and `up` with the file's line, before any write.
#[tokio::test(flavor = "multi_thread")]
async fn what_aws_no_longer_offers_is_refused_with_its_line_before_any_write() {
    let _turn = TURN.lock().await;
    realism(json!({}));
    let p = Project::new("catalogs");
    p.edit("engine_version: \"16\"", "engine_version: \"16.4\"");
    p.edit("version: \"1.34\"", "version: \"1.31\"");
    p.edit("instance_class: db.t3.micro", "instance_class: db.m5.large");
    for cmd in [&["plan"][..], &["up", "--yes"][..]] {
        let r = p.ok(cmd, 1);
        let out = r.all();
        let db = line_of(&p, "engine_version:");
        let eks = line_of(&p, "version: \"1.31\"");
        assert!(
            out.contains(&format!("stack.yaml:{db}"))
                && out.contains("databases.postgres.engine_version")
                && out.contains("RDS does not offer postgres 16.4")
                && out.contains("16.11, 16.10"),
            "{out}"
        );
        assert!(
            out.contains(&format!("stack.yaml:{eks}"))
                && out.contains("eks_clusters.frontend.version")
                && out.contains("EKS does not offer Kubernetes 1.31")
                && out.contains("1.34 (standard support)"),
            "{out}"
        );
        assert!(out.contains("nothing was changed"), "{out}");
    }
    // The version now offered, but a class RDS does not sell with it.
    p.edit("engine_version: \"16.4\"", "engine_version: \"16\"");
    p.edit("version: \"1.31\"", "version: \"1.33\"");
    // A zone of the region's form that the account does not have.
    p.edit(
        "zone: eu-west-3b, public: true",
        "zone: eu-west-3d, public: true",
    );
    let out = p.ok(&["up", "--yes"], 1).all();
    assert!(
        out.contains("subnets.public-b.zone")
            && out.contains("zone eu-west-3d is not available")
            && out.contains("eu-west-3a, eu-west-3b, eu-west-3c"),
        "{out}"
    );
    assert!(
        out.contains("databases.postgres.instance_class")
            && out.contains("RDS does not offer db.m5.large"),
        "{out}"
    );
    assert!(
        out.contains("past its standard support") && out.contains("extended_support: true"),
        "{out}"
    );
    assert!(!out.contains("engine_version"), "16 is offered: {out}");
    assert!(nothing_left(&census(&p.stack).await), "no write was made");
}

/// EKS makes a cluster security group, control-plane interfaces and (with logging) a
/// log group on its own side; a load balancer's interfaces outlive it for a while, and the
/// internet gateway cannot be detached while they map public addresses; a service drains
/// before it goes. The whole stack still comes up and goes down in one run each, the
/// waits shown as they happen, nothing left behind.
#[tokio::test(flavor = "multi_thread")]
async fn the_stack_comes_up_and_goes_down_against_aws_side_resources_and_lingers() {
    let _turn = TURN.lock().await;
    realism(json!({"durations": {
        "eks_cluster_create": 3, "eks_cluster_delete": 3,
        "eks_nodegroup_create": 2, "eks_nodegroup_delete": 2,
        "rds_create": 2, "rds_backup": 1, "rds_delete": 2,
        "nat_create": 1, "nat_delete": 2,
        "lb_create": 1, "lb_eni_linger": 4,
        "ecs_drain": 2, "iam_propagation": 1, "cloudfront_deploy": 3,
    }}));
    let p = Project::new("realistic");
    let up = p.ok(&["up", "--yes"], 0);
    assert_eq!(census(&p.stack).await, FULL.to_vec(), "{}", up.all());
    let again = p.ok(&["up", "--yes"], 0);
    assert!(again.stdout.contains("No changes"), "{}", again.all());

    let conf = sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let cluster_groups = || async {
        ec2.describe_security_groups()
            .filters(common::tag_filter(
                "aws:eks:cluster-name",
                &format!("{}-frontend", p.stack),
            ))
            .send()
            .await
            .expect("groups")
            .security_groups()
            .len()
    };
    assert_eq!(cluster_groups().await, 1, "EKS made its cluster group");

    let down = p.ok(&["down", "--yes"], 0);
    let out = down.all();
    assert!(out.contains("still in use"), "the lingers are shown: {out}");
    assert!(nothing_left(&census(&p.stack).await), "{out}");
    assert_eq!(
        cluster_groups().await,
        0,
        "EKS's group went with its cluster"
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/eks/{}-", p.stack))
        .send()
        .await
        .expect("log groups");
    assert!(groups.log_groups().is_empty(), "{:?}", groups.log_groups());
}

/// EKS takes one update at a time. Changing the endpoint access and the logging of a
/// running cluster makes two updates, the second sent once the first is done.
#[tokio::test(flavor = "multi_thread")]
async fn two_changes_to_a_cluster_are_made_one_after_the_other() {
    let _turn = TURN.lock().await;
    realism(json!({"durations": {"eks_update": 2}}));
    let p = Project::new("eksupdates");
    p.ok(&["up", "--yes"], 0);
    p.edit(
        "endpoint_public_access: true",
        "endpoint_public_access: false",
    );
    p.edit(
        "logging: [api, authenticator]",
        "logging: [api, audit, authenticator]",
    );
    let up = p.ok(&["up", "--yes"], 0);
    assert!(up.all().contains("update"), "{}", up.all());
    let eks = aws_sdk_eks::Client::new(&sdk_config().await);
    let c = eks
        .describe_cluster()
        .name(format!("{}-frontend", p.stack))
        .send()
        .await
        .expect("cluster");
    let c = c.cluster().expect("cluster");
    assert_eq!(
        c.resources_vpc_config().map(|v| v.endpoint_public_access()),
        Some(false)
    );
    let on: Vec<String> = c
        .logging()
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|s| s.enabled() == Some(true))
        .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
        .collect();
    assert!(on.contains(&"audit".to_string()), "{on:?}");
    p.ok(&["plan", "--detailed-exitcode"], 0);
    p.ok(&["down", "--yes"], 0);
}

/// A database in `failed` can only be deleted without a final snapshot: its replacement
/// is refused until the user consents to losing it, then goes through.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_database_is_replaced_only_with_consent() {
    let _turn = TURN.lock().await;
    realism(json!({}));
    let p = Project::new("faileddb");
    p.ok(&["up", "--yes"], 0);
    let id = format!("{}-postgres", p.stack);
    realism(json!({"fail": {"rds": [id]}}));
    let plan = p.ok(&["plan"], 0);
    assert!(plan.all().contains("failed"), "{}", plan.all());
    let refused = p.ok(&["up", "--yes"], 1);
    assert!(
        refused.all().contains("--skip-final-snapshot")
            || refused.all().contains("--allow-data-loss"),
        "{}",
        refused.all()
    );
    let rds = aws_sdk_rds::Client::new(&sdk_config().await);
    let still = rds
        .describe_db_instances()
        .db_instance_identifier(&id)
        .send()
        .await;
    assert!(still.is_ok(), "the failed database is kept without consent");
    realism(json!({}));
    p.ok(&["down", "--yes", "--skip-final-snapshot"], 0);
}

/// EC2 answers a reused client token with what it first made, even once deleted. A NAT
/// gateway deleted behind the tool's back is made again, as a new gateway.
#[tokio::test(flavor = "multi_thread")]
async fn a_nat_gateway_deleted_outside_is_made_again_with_a_fresh_token() {
    let _turn = TURN.lock().await;
    realism(json!({}));
    let p = Project::new("natagain");
    p.ok(&["up", "--yes"], 0);
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let ours = || async {
        ec2.describe_nat_gateways()
            .filter(common::stack_filter(&p.stack))
            .send()
            .await
            .expect("nat")
            .nat_gateways()
            .iter()
            .filter(|n| {
                n.state() == Some(&aws_sdk_ec2::types::NatGatewayState::Available)
                    && n.tags()
                        .iter()
                        .any(|t| t.key() == Some("provision:stack") && t.value() == Some(&p.stack))
            })
            .filter_map(|n| n.nat_gateway_id().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let first = ours().await;
    assert_eq!(first.len(), 1);
    ec2.delete_nat_gateway()
        .nat_gateway_id(&first[0])
        .send()
        .await
        .expect("delete");
    p.ok(&["up", "--yes"], 0);
    let second = ours().await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first, "a new gateway, not the deleted one");
    p.ok(&["plan", "--detailed-exitcode"], 0);
    p.ok(&["down", "--yes"], 0);
}

/// A service whose tasks stop as soon as they start (an image that exits) never becomes
/// healthy. With the deployment circuit breaker ECS fails the deployment, and `up` stops
/// there with ECS's reason instead of waiting twenty minutes while tasks relaunch and
/// bill. The service is made with a health-check grace and its target group with a
/// short deregistration delay, so that `down` does not drain for AWS's 300 seconds.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_never_becomes_healthy_stops_at_the_circuit_breaker() {
    let _turn = TURN.lock().await;
    let p = Project::new("breaker");
    let service = format!("{}-api-service", p.stack);
    realism(json!({"durations": {"ecs_circuit_breaker": 2}, "fail": {"ecs": [service]}}));
    let up = p.ok(&["up", "--yes"], 1);
    assert!(
        up.all().contains("circuit breaker"),
        "ECS's reason is shown: {}",
        up.all()
    );
    let conf = sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let described = ecs
        .describe_services()
        .cluster(format!("{}-app", p.stack))
        .services(&service)
        .send()
        .await
        .expect("service");
    let s = &described.services()[0];
    let breaker = s
        .deployment_configuration()
        .and_then(|d| d.deployment_circuit_breaker())
        .expect("a circuit breaker");
    assert!(breaker.enable() && breaker.rollback());
    assert_eq!(s.health_check_grace_period_seconds(), Some(60));
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let tg = s.load_balancers()[0]
        .target_group_arn()
        .expect("target group");
    let attrs = elb
        .describe_target_group_attributes()
        .target_group_arn(tg)
        .send()
        .await
        .expect("attributes");
    let delay = attrs
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value());
    assert_eq!(delay, Some("30"));
    realism(json!({"drain_scale": 0.1}));
    p.ok(&["down", "--yes"], 0);
    assert!(nothing_left(&census(&p.stack).await));
}

/// EC2 is eventually consistent: a security group made a moment ago is unknown by id to
/// the next calls for a few seconds. Its rules, and rules naming it, are still made in
/// the same run.
#[tokio::test(flavor = "multi_thread")]
async fn rules_of_a_group_just_made_wait_until_ec2_knows_it() {
    let _turn = TURN.lock().await;
    realism(json!({"durations": {"sg_visible": 3}}));
    let p = Project::new("sgvisible");
    let up = p.ok(&["up", "--yes"], 0);
    assert_eq!(census(&p.stack).await, FULL.to_vec(), "{}", up.all());
    realism(json!({}));
    p.ok(&["plan", "--detailed-exitcode"], 0);
    p.ok(&["down", "--yes"], 0);
}

/// A subnet belongs to one route table at a time: moving it from one table of the stack
/// to another in one `up` moves the association (whichever table's update runs first)
/// instead of failing on the subnet the other table still holds.
#[tokio::test(flavor = "multi_thread")]
async fn a_subnet_moves_between_route_tables_in_one_run() {
    let _turn = TURN.lock().await;
    realism(json!({}));
    let p = Project::new("rtmove");
    p.ok(&["up", "--yes"], 0);
    p.edit(
        "subnets: [public-a, public-b]\n",
        "subnets: [public-a, public-b, private-b]\n",
    );
    p.edit(
        "nat_gateway: nat}\n    subnets: [private-a, private-b]\n",
        "nat_gateway: nat}\n    subnets: [private-a]\n",
    );
    let up = p.ok(&["up", "--yes"], 0);
    assert!(up.stdout.contains("route_table"), "{}", up.stdout);
    p.ok(&["plan", "--detailed-exitcode"], 0);
    let ids = common::ids(&p.stack).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let tables = ec2
        .describe_route_tables()
        .filters(common::tag_filter("provision:name", "public"))
        .filters(common::stack_filter(&p.stack))
        .send()
        .await
        .expect("tables");
    let held: Vec<&str> = tables.route_tables()[0]
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id())
        .collect();
    assert!(held.contains(&ids["private-b"].as_str()), "{held:?}");
    p.ok(&["down", "--yes"], 0);
}

/// The tagging API is an index of its own that learns of a bucket's tags after S3 does.
/// A `down` right after `up` still finds the bucket (through S3's own listing) and
/// deletes it: nothing keeps billing.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_the_tagging_index_does_not_know_yet_is_still_found() {
    let _turn = TURN.lock().await;
    realism(json!({"durations": {"tagging_index_lag": 600}}));
    let p = Project::new("laggingindex");
    p.ok(&["up", "--yes"], 0);
    p.ok(&["plan", "--detailed-exitcode"], 0);
    p.ok(&["down", "--yes", "--force-empty"], 0);
    let left = census(&p.stack).await;
    realism(json!({}));
    assert!(nothing_left(&left), "{left:?}");
}

/// Teammates and CI operate the cluster through access entries (the access mode that
/// allows them is the one the cluster is made with). Only the entries carrying the
/// stack's tags are the stack's: removing an admin from the file removes its entry and
/// leaves the ones EKS made alone.
#[tokio::test(flavor = "multi_thread")]
async fn the_operators_in_the_file_get_access_entries_and_lose_them() {
    let _turn = TURN.lock().await;
    realism(json!({}));
    let p = Project::new("admins");
    let alice = format!("arn:aws:iam::{}:user/alice", common::ACCOUNT);
    let ci = format!("arn:aws:iam::{}:role/ci", common::ACCOUNT);
    p.edit(
        "    log_group: frontend-control-plane\n",
        &format!("    log_group: frontend-control-plane\n    admins: [\"{alice}\", \"{ci}\"]\n"),
    );
    p.ok(&["up", "--yes"], 0);
    p.ok(&["plan", "--detailed-exitcode"], 0);
    let eks = aws_sdk_eks::Client::new(&sdk_config().await);
    let cluster = format!("{}-frontend", p.stack);
    // An entry EKS (or someone) made, without the stack's tags.
    let other = format!("arn:aws:iam::{}:role/someone", common::ACCOUNT);
    eks.create_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&other)
        .send()
        .await
        .expect("entry");
    let entries = || async {
        let mut v: Vec<String> = eks
            .list_access_entries()
            .cluster_name(&cluster)
            .send()
            .await
            .expect("entries")
            .access_entries()
            .to_vec();
        v.sort();
        v
    };
    let mut all = vec![alice.clone(), ci.clone(), other.clone()];
    all.sort();
    assert_eq!(entries().await, all);
    let policies = eks
        .list_associated_access_policies()
        .cluster_name(&cluster)
        .principal_arn(&alice)
        .send()
        .await
        .expect("policies");
    assert!(policies.associated_access_policies()[0]
        .policy_arn()
        .is_some_and(|a| a.ends_with("AmazonEKSClusterAdminPolicy")));
    p.ok(&["plan", "--detailed-exitcode"], 0);

    p.edit(&format!(", \"{ci}\"]"), "]");
    p.ok(&["up", "--yes"], 0);
    let mut left = vec![alice.clone(), other.clone()];
    left.sort();
    assert_eq!(entries().await, left, "ci's entry went, the other stayed");
    p.ok(&["down", "--yes"], 0);
    assert!(nothing_left(&census(&p.stack).await));
}

/// After a storage change RDS optimizes the storage for hours, while the instance works:
/// `up` ends when the change is made, not when the optimization is.
#[tokio::test(flavor = "multi_thread")]
async fn up_does_not_wait_for_a_storage_optimization() {
    let _turn = TURN.lock().await;
    realism(json!({}));
    let p = Project::new("storage");
    p.ok(&["up", "--yes"], 0);
    realism(json!({"durations": {"rds_modify": 1, "rds_storage_optimization": 36000}}));
    p.edit("allocated_storage: 20", "allocated_storage: 25");
    p.ok(&["up", "--yes"], 0);
    let rds = aws_sdk_rds::Client::new(&sdk_config().await);
    let db = rds
        .describe_db_instances()
        .db_instance_identifier(format!("{}-postgres", p.stack))
        .send()
        .await
        .expect("db");
    let db = &db.db_instances()[0];
    assert_eq!(db.allocated_storage(), Some(25));
    assert_eq!(db.db_instance_status(), Some("storage-optimization"));
    p.ok(&["plan", "--detailed-exitcode"], 0);
    realism(json!({}));
    p.ok(&["down", "--yes", "--skip-final-snapshot"], 0);
}

/// A `down` interrupted while the database is being deleted: the next `down` sees the
/// instance still deleting, waits for it before the subnet group it sits in (which RDS
/// refuses to delete until then) and ends with nothing left.
#[tokio::test(flavor = "multi_thread")]
async fn a_down_interrupted_while_the_database_is_deleted_converges() {
    let _turn = TURN.lock().await;
    realism(json!({}));
    let p = Project::new("interrupted");
    p.ok(&["up", "--yes"], 0);
    realism(json!({"durations": {"rds_delete": 15}}));
    let mut first = common::command(
        &common::emulator().endpoint,
        &p.dir,
        &["down", "--yes", "--skip-final-snapshot"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("down");
    let rds = aws_sdk_rds::Client::new(&sdk_config().await);
    let id = format!("{}-postgres", p.stack);
    let started = std::time::Instant::now();
    loop {
        let status = rds
            .describe_db_instances()
            .db_instance_identifier(&id)
            .send()
            .await
            .ok()
            .and_then(|o| {
                o.db_instances()
                    .first()
                    .and_then(|d| d.db_instance_status().map(str::to_string))
            });
        if status.as_deref() == Some("deleting") {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 120,
            "the database never started deleting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    first.kill().expect("kill");
    let _ = first.wait();
    let plan = p.ok(&["--json", "status"], 0).json();
    let db = plan["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|o| o["kind"] == "database"))
        .cloned();
    assert!(
        db.is_some(),
        "the database being deleted is visible: {plan}"
    );
    p.ok(&["unlock", "--yes"], 0);
    let again = p.ok(&["down", "--yes", "--skip-final-snapshot"], 0);
    assert!(nothing_left(&census(&p.stack).await), "{}", again.all());
}

/// EC2 refuses to delete a security group a database or another group's rules still
/// use, and a group's description can only change by replacing the group. The new group
/// is made first (under another name while the old one holds it), the database and the
/// rules that refer to it move to it, and the old group goes last; a second change goes
/// back to the plain name. Each `up` converges in one run.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_in_use_is_replaced_by_making_the_new_one_first() {
    let _turn = TURN.lock().await;
    realism(json!({}));
    let p = Project::new("sgreplace");
    p.ok(&["up", "--yes"], 0);
    let conf = sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let rds = aws_sdk_rds::Client::new(&conf);
    let group_of_database = || async {
        rds.describe_db_instances()
            .db_instance_identifier(format!("{}-postgres", p.stack))
            .send()
            .await
            .expect("db")
            .db_instances()[0]
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let first = common::ids(&p.stack).await["database"].clone();
    assert_eq!(group_of_database().await, vec![first.clone()]);

    for (from, to) in [
        (
            "PostgreSQL, reachable from the backend only",
            "PostgreSQL from the backend",
        ),
        (
            "PostgreSQL from the backend",
            "PostgreSQL, reachable from the backend only",
        ),
    ] {
        let before = common::ids(&p.stack).await["database"].clone();
        p.edit(from, to);
        let plan = p.ok(&["plan", "--json"], 0).json();
        let ops: Vec<(String, String)> = plan["plan"]["operations"]
            .as_array()
            .expect("operations")
            .iter()
            .map(|o| {
                let s = |k: &str| o[k].as_str().unwrap_or_default().to_string();
                (s("op"), s("name"))
            })
            .collect();
        let at = |op: &str, n: &str| {
            ops.iter()
                .position(|(o, m)| o == op && m == n)
                .unwrap_or_else(|| panic!("no {op} {n} in {ops:?}"))
        };
        assert!(
            at("create", "database") < at("update", "postgres"),
            "{ops:?}"
        );
        assert!(
            at("update", "postgres") < at("delete", "database"),
            "{ops:?}"
        );
        assert!(
            at("update", "backend.rules") < at("delete", "database"),
            "{ops:?}"
        );

        let up = p.ok(&["up", "--yes"], 0);
        p.ok(&["plan", "--detailed-exitcode"], 0);
        let after = common::ids(&p.stack).await["database"].clone();
        assert_ne!(after, before, "{}", up.stdout);
        assert_eq!(group_of_database().await, vec![after.clone()]);
        let old = ec2
            .describe_security_groups()
            .group_ids(&before)
            .send()
            .await;
        assert!(old.is_err(), "the old group is gone: {old:?}");
        let name = ec2
            .describe_security_groups()
            .group_ids(&after)
            .send()
            .await
            .expect("new group")
            .security_groups()[0]
            .group_name()
            .unwrap_or_default()
            .to_string();
        let plain = format!("{}-database", p.stack);
        if before == first {
            assert!(name.starts_with(&format!("{plain}-")), "{name}");
        } else {
            assert_eq!(name, plain);
        }
    }
    p.ok(&["down", "--yes"], 0);
}

/// Calls of one operation in a `--stats` document.
fn calls(doc: &serde_json::Value, operation: &str) -> u64 {
    doc["stats"]["operations"]
        .as_array()
        .expect("stats")
        .iter()
        .filter(|o| o["operation"] == operation)
        .map(|o| o["calls"].as_u64().unwrap_or(0))
        .sum()
}

/// Many topics and log groups: their tags come from the tagging API's index in a few
/// pages, not one read per resource. What the index does not hold yet (it lags) is read
/// directly, so a run right after `up` still finds every one (no duplicate, no change);
/// and a tag changed in the file is seen and set.
#[tokio::test(flavor = "multi_thread")]
async fn many_resources_of_a_kind_are_read_in_a_few_calls_and_the_index_lag_loses_none() {
    let _turn = TURN.lock().await;
    realism(json!({"durations": {"tagging_index_lag": 3}}));
    let p = Project::new("indexed");
    let mut text =
        String::from("stack: indexed\nregion: eu-west-3\ntags: {team: a}\nlog_groups:\n");
    for i in 0..20 {
        text.push_str(&format!("  l{i}: {{retention_days: 7}}\n"));
    }
    text.push_str("sns_topics:\n");
    for i in 0..20 {
        text.push_str(&format!("  n{i}: {{}}\n"));
    }
    p.write(&text);
    p.ok(&["up", "--yes"], 0);
    // The index does not hold them yet: each one is read directly, none is missed.
    let fresh = p.ok(&["plan", "--json", "--stats"], 0).json();
    assert_eq!(fresh["summary"]["unchanged"], 40, "{:#}", fresh["plan"]);
    assert_eq!(
        calls(&fresh, "ListTagsForResource"),
        40,
        "{:#}",
        fresh["stats"]
    );
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    // Once it does: a few pages per kind, nothing per resource.
    let settled = p.ok(&["plan", "--json", "--stats"], 0).json();
    assert_eq!(settled["summary"]["unchanged"], 40, "{:#}", settled["plan"]);
    assert_eq!(
        calls(&settled, "ListTagsForResource"),
        0,
        "{:#}",
        settled["stats"]
    );
    assert_eq!(calls(&settled, "ListSubscriptionsByTopic"), 0);
    // At most two pages for each kind asking the index (log groups, topics, buckets).
    assert!(
        calls(&settled, "GetResources") <= 6,
        "{:#}",
        settled["stats"]
    );
    assert!(
        settled["stats"]["reads"].as_u64().unwrap_or(99) <= 40,
        "{:#}",
        settled["stats"]
    );
    // A tag changed in the file is seen through the index and set.
    p.edit("tags: {team: a}", "tags: {team: b}");
    let changed = p.ok(&["plan", "--json"], 0).json();
    assert_eq!(changed["summary"]["update"], 40, "{:#}", changed["plan"]);
    p.ok(&["up", "--yes"], 0);
    p.ok(&["down", "--yes"], 0);
    realism(json!({}));
    assert!(common::ids(&p.stack).await.is_empty());
}
