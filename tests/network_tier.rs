//! The repository's stack.yaml against the emulator, checked on its network tier and media bucket: up from empty, a second
//! up that writes nothing, drift and repair, removal from the file, and down that spares
//! what is not the stack's. Every check reads AWS through SDK clients of the test's own.

mod common;

use aws_sdk_ec2::types::{AttributeBooleanValue, IpPermission, IpRange, Tag, VpcAttributeName};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use common::{ec2, ids, s3, sdk_config, stack_filter, Project, ACCOUNT, REGION};

fn names_in(plan: &serde_json::Value, action: &str) -> Vec<String> {
    let mut v: Vec<String> = plan["plan"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["action"] == action)
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

/// Every resource of the repository's stack.yaml.
const ALL: [&str; 47] = [
    "alb",
    "alb-5xx",
    "alb.rules",
    "alerts",
    "api",
    "api-cpu",
    "api-images",
    "api-logs",
    "api-service",
    "api-targets",
    "api-task",
    "app",
    "backend",
    "backend.rules",
    "database",
    "database.rules",
    "db-cpu",
    "db-free-storage",
    "db-subnets",
    "eks-cluster",
    "eks-nodes",
    "frontend",
    "frontend-app.deployment-frontend",
    "frontend-app.service-frontend",
    "frontend-control-plane",
    "frontend-nodes",
    "http",
    "igw",
    "main",
    "media",
    "media.policy",
    "monthly",
    "nat",
    "nat-ip",
    "nodes",
    "nodes.rules",
    "postgres",
    "private",
    "private-a",
    "private-b",
    "public",
    "public-a",
    "public-b",
    "static",
    "static.oac",
    "task-execution",
    "web",
];

#[tokio::test(flavor = "multi_thread")]
async fn up_creates_the_tier_and_a_second_up_writes_nothing() {
    let p = Project::new("tierup");
    let plan = p.ok(&["plan", "--json", "--detailed-exitcode"], 2).json();
    assert_eq!(names_in(&plan, "create"), ALL.to_vec());
    let human = p.ok(&["plan"], 0).stdout;
    assert!(
        human.contains("+ vpc main: create") && human.contains(&format!("{} to create", ALL.len())),
        "{human}"
    );

    let run = p.ok(&["up", "--yes", "--json", "--stats"], 0);
    let up = run.json();
    assert_eq!(up["summary"]["create"], ALL.len());
    assert_eq!(up["format_version"], 1);
    // NDJSON: every line a document; each resource started and finished while it ran,
    // then the result.
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let (events, result) = lines.split_at(lines.len() - 1);
    assert_eq!(result[0], up);
    for name in ALL {
        let seen = |what: &str| {
            events
                .iter()
                .position(|e| e["event"] == what && e["name"] == name)
        };
        let (started, finished) = (seen("started"), seen("finished"));
        assert!(
            started.is_some() && started < finished,
            "{name}: started {started:?}, finished {finished:?}"
        );
    }

    // Check everything through our own client.
    let ec2 = ec2().await;
    let id = ids(&p.stack).await;
    let vpc = &id["main"];
    let v = ec2.describe_vpcs().vpc_ids(vpc).send().await.expect("vpc");
    assert_eq!(v.vpcs()[0].cidr_block(), Some("10.0.0.0/16"));
    let tags = v.vpcs()[0].tags();
    let tag = |k: &str| {
        tags.iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag("provision:name").as_deref(), Some("main"));
    assert_eq!(tag("project").as_deref(), Some("spotilike"));
    for attr in [
        VpcAttributeName::EnableDnsSupport,
        VpcAttributeName::EnableDnsHostnames,
    ] {
        let a = ec2
            .describe_vpc_attribute()
            .vpc_id(vpc)
            .attribute(attr.clone())
            .send()
            .await
            .expect("attr");
        let on = a
            .enable_dns_support()
            .or(a.enable_dns_hostnames())
            .and_then(|b| b.value());
        assert_eq!(on, Some(true), "{attr:?}");
    }
    let subnets = ec2
        .describe_subnets()
        .filters(stack_filter(&p.stack))
        .send()
        .await
        .expect("subnets");
    assert_eq!(subnets.subnets().len(), 4);
    for s in subnets.subnets() {
        assert_eq!(s.vpc_id(), Some(vpc.as_str()));
        let public = id["public-a"] == s.subnet_id().unwrap_or("")
            || id["public-b"] == s.subnet_id().unwrap_or("");
        assert_eq!(s.map_public_ip_on_launch(), Some(public));
    }
    let zone = |n: &str| {
        subnets
            .subnets()
            .iter()
            .find(|s| s.subnet_id() == Some(id[n].as_str()))
            .and_then(|s| s.availability_zone())
            .map(str::to_string)
    };
    assert_eq!(zone("public-a").as_deref(), Some("eu-west-3a"));
    assert_eq!(zone("private-b").as_deref(), Some("eu-west-3b"));

    let igw = ec2
        .describe_internet_gateways()
        .internet_gateway_ids(&id["igw"])
        .send()
        .await
        .expect("igw");
    assert_eq!(
        igw.internet_gateways()[0].attachments()[0].vpc_id(),
        Some(vpc.as_str())
    );
    let nat = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&id["nat"])
        .send()
        .await
        .expect("nat");
    let nat = &nat.nat_gateways()[0];
    assert_eq!(nat.subnet_id(), Some(id["public-a"].as_str()));
    assert_eq!(
        nat.nat_gateway_addresses()[0].allocation_id(),
        Some(id["nat-ip"].as_str())
    );

    let rt = ec2
        .describe_route_tables()
        .route_table_ids(&id["public"])
        .route_table_ids(&id["private"])
        .send()
        .await
        .expect("rtb");
    for t in rt.route_tables() {
        let public = t.route_table_id() == Some(id["public"].as_str());
        let default = t
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .expect("default route");
        if public {
            assert_eq!(default.gateway_id(), Some(id["igw"].as_str()));
        } else {
            assert_eq!(default.nat_gateway_id(), Some(id["nat"].as_str()));
        }
        let mut assoc: Vec<&str> = t
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id())
            .collect();
        assoc.sort();
        let mut want = if public {
            vec![id["public-a"].as_str(), id["public-b"].as_str()]
        } else {
            vec![id["private-a"].as_str(), id["private-b"].as_str()]
        };
        want.sort();
        assert_eq!(assoc, want);
    }

    let groups = ec2
        .describe_security_groups()
        .filters(stack_filter(&p.stack))
        .send()
        .await
        .expect("sg");
    let group = |n: &str| {
        groups
            .security_groups()
            .iter()
            .find(|g| g.group_id() == Some(id[n].as_str()))
            .expect("group")
            .clone()
    };
    let from_group = |g: &aws_sdk_ec2::types::SecurityGroup, port: i32| -> Vec<String> {
        g.ip_permissions()
            .iter()
            .filter(|p| p.from_port() == Some(port))
            .flat_map(|p| {
                p.user_id_group_pairs()
                    .iter()
                    .filter_map(|u| u.group_id().map(str::to_string))
            })
            .collect()
    };
    assert_eq!(from_group(&group("backend"), 8000), vec![id["alb"].clone()]);
    assert_eq!(
        from_group(&group("database"), 5432),
        vec![id["backend"].clone()]
    );
    assert!(
        group("database").ip_permissions_egress().is_empty(),
        "the database may not call out"
    );
    let alb_open: Vec<i32> = group("alb")
        .ip_permissions()
        .iter()
        .filter(|p| {
            p.ip_ranges()
                .iter()
                .any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
        })
        .filter_map(|p| p.from_port())
        .collect();
    assert_eq!(
        {
            let mut a = alb_open;
            a.sort();
            a
        },
        vec![80, 443]
    );
    let alb_out = group("alb").ip_permissions_egress().to_vec();
    assert_eq!(alb_out.len(), 1);
    assert_eq!(alb_out[0].from_port(), Some(8000));
    assert_eq!(
        alb_out[0].user_id_group_pairs()[0].group_id(),
        Some(id["backend"].as_str())
    );

    let s3 = s3().await;
    let b = p.bucket();
    let enc = s3
        .get_bucket_encryption()
        .bucket(&b)
        .send()
        .await
        .expect("encryption");
    let rule = enc
        .server_side_encryption_configuration()
        .expect("conf")
        .rules()[0]
        .apply_server_side_encryption_by_default()
        .expect("default")
        .clone();
    assert_eq!(rule.sse_algorithm().as_str(), "AES256");
    let pab = s3
        .get_public_access_block()
        .bucket(&b)
        .send()
        .await
        .expect("pab");
    let c = pab.public_access_block_configuration().expect("conf");
    assert!(
        c.block_public_acls() == Some(true)
            && c.ignore_public_acls() == Some(true)
            && c.block_public_policy() == Some(true)
            && c.restrict_public_buckets() == Some(true)
    );
    assert_eq!(
        s3.get_bucket_versioning()
            .bucket(&b)
            .send()
            .await
            .expect("v")
            .status(),
        Some(&BucketVersioningStatus::Enabled)
    );
    let lc = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&b)
        .send()
        .await
        .expect("lifecycle");
    assert_eq!(lc.rules().len(), 2);
    assert!(lc.rules().iter().any(|r| r
        .noncurrent_version_expiration()
        .and_then(|n| n.noncurrent_days())
        == Some(30)));
    let policy: serde_json::Value = serde_json::from_str(
        s3.get_bucket_policy()
            .bucket(&b)
            .send()
            .await
            .expect("policy")
            .policy()
            .expect("text"),
    )
    .expect("json");
    assert_eq!(policy["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
        "false"
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("tags");
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == "provision:stack" && t.value() == p.stack));
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == "data" && t.value() == "media"));

    // Second up: nothing planned, no write call.
    let again = p.ok(&["up", "--yes", "--json", "--stats"], 0).json();
    for action in ["create", "update", "replace", "delete"] {
        assert_eq!(again["summary"][action], 0, "{again:#}");
    }
    assert_eq!(again["stats"]["writes"], 0, "{:#}", again["stats"]);
    assert!(again["stats"]["reads"].as_u64().unwrap_or(0) > 0);
    // Discovery is one listing per kind, not one call per resource.
    let listings = [
        "DescribeVpcs",
        "DescribeSubnets",
        "DescribeSecurityGroups",
        "DescribeRouteTables",
        "DescribeNatGateways",
        "DescribeAddresses",
        "DescribeInternetGateways",
        "DescribeLoadBalancers",
        "DescribeTargetGroups",
        "DescribeDBInstances",
        "DescribeDBSubnetGroups",
        "ListRoles",
        "ListClusters",
        "GetResources",
        "DescribeLogGroups",
        "ListTaskDefinitionFamilies",
    ];
    let ops = again["stats"]["operations"].as_array().expect("ops");
    for listing in listings {
        let op = ops
            .iter()
            .find(|o| o["operation"] == listing)
            .unwrap_or_else(|| panic!("{listing} not called"));
        assert_eq!(op["calls"], 1, "{op}");
    }
    let text = p.ok(&["up", "--yes", "--stats"], 0);
    assert!(text.stdout.contains("No changes"), "{}", text.stdout);
    assert!(text.stderr.contains("0 writes"), "{}", text.stderr);

    p.ok(&["down", "--yes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_band_changes_are_reported_as_drift_and_repaired_by_up() {
    let p = Project::new("tierdrift");
    // Never deployed: said so, not "45 resources differ".
    let never = p.ok(&["drift"], 2).stdout;
    assert_eq!(
        never,
        format!("Nothing of stack tierdrift in account {ACCOUNT}, region {REGION} exists: it is not deployed (`provision up` creates it).\n")
    );
    assert_eq!(p.ok(&["drift", "--json"], 2).json()["exists"], false);
    p.ok(&["up", "--yes"], 0);
    p.ok(&["drift"], 0);
    let id = ids(&p.stack).await;
    let ec2 = ec2().await;
    let s3 = s3().await;

    // A rule added to a security group, versioning suspended, a route removed, a tag changed.
    ec2.authorize_security_group_ingress()
        .group_id(&id["alb"])
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("authorize");
    s3.put_bucket_versioning()
        .bucket(p.bucket())
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect("suspend");
    ec2.delete_route()
        .route_table_id(&id["private"])
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .expect("route");
    ec2.create_tags()
        .resources(&id["main"])
        .tags(Tag::builder().key("environment").value("prod").build())
        .send()
        .await
        .expect("tag");
    ec2.modify_subnet_attribute()
        .subnet_id(&id["private-a"])
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("subnet");

    let drift = p.ok(&["drift", "--json"], 2).json();
    let mut drifted: Vec<(String, Vec<String>)> = drift["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            let fields = r["changes"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| c["field"].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            (r["name"].as_str().unwrap_or("").to_string(), fields)
        })
        .collect();
    drifted.sort();
    assert_eq!(
        drifted,
        vec![
            ("alb.rules".into(), vec!["ingress".into()]),
            ("main".into(), vec!["tags".into()]),
            ("media".into(), vec!["versioning".into()]),
            ("private".into(), vec!["routes".into()]),
            ("private-a".into(), vec!["public".into()]),
        ]
    );
    let text = p.ok(&["drift"], 2).stdout;
    // Read as "the file says, AWS has", leaf by leaf.
    assert!(
        text.contains("security_group_rules alb.rules (sg-"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("      ingress: AWS has {")
                && l.contains("\"ports\":22")
                && l.ends_with(", the file does not")),
        "{text}"
    );
    assert!(
        text.contains("      tags.environment: the file says \"demo\", AWS has \"prod\"\n"),
        "{text}"
    );
    assert!(
        text.contains("      public: the file says false, AWS has true\n"),
        "{text}"
    );
    let json = p.ok(&["drift", "--json"], 2).json();
    let main = json["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "main"))
        .expect("main drifted");
    assert_eq!(
        main["differences"],
        serde_json::json!([{"field": "tags.environment", "file": "demo", "aws": "prod"}])
    );
    assert_eq!(json["exists"], true);

    let up = p.ok(&["up", "--yes", "--json"], 0).json();
    assert_eq!(up["summary"]["update"], 5);
    assert_eq!(up["summary"]["create"], 0);
    p.ok(&["drift"], 0);

    // Repaired in AWS itself.
    let g = ec2
        .describe_security_groups()
        .group_ids(&id["alb"])
        .send()
        .await
        .expect("sg");
    assert!(!g.security_groups()[0]
        .ip_permissions()
        .iter()
        .any(|p| p.from_port() == Some(22)));
    assert_eq!(
        s3.get_bucket_versioning()
            .bucket(p.bucket())
            .send()
            .await
            .expect("v")
            .status(),
        Some(&BucketVersioningStatus::Enabled)
    );
    let rt = ec2
        .describe_route_tables()
        .route_table_ids(&id["private"])
        .send()
        .await
        .expect("rt");
    assert!(rt.route_tables()[0]
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
            && r.nat_gateway_id() == Some(id["nat"].as_str())));
    let v = ec2
        .describe_vpcs()
        .vpc_ids(&id["main"])
        .send()
        .await
        .expect("vpc");
    assert!(v.vpcs()[0]
        .tags()
        .iter()
        .any(|t| t.key() == Some("environment") && t.value() == Some("demo")));
    assert_eq!(
        ids(&p.stack).await,
        id,
        "repairs kept every resource, no replacement"
    );

    // A resource deleted behind the tool's back is the drift; what refers to it is only
    // changed by `up` through it, not drift of its own.
    let sns = aws_sdk_sns::Client::new(&sdk_config().await);
    let topics = sns.list_topics().send().await.expect("topics");
    let alerts = topics
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .find(|a| a.ends_with(":tierdrift-alerts"))
        .expect("the alerts topic");
    sns.delete_topic()
        .topic_arn(alerts)
        .send()
        .await
        .expect("delete topic");
    let text = p.ok(&["drift"], 2).stdout;
    assert!(
        text.starts_with(&format!("Drift in stack tierdrift in account {ACCOUNT}, region {REGION}: 1 resource(s) differ from the stack file.\n  + sns_topic alerts: missing from AWS\n")),
        "{text}"
    );
    assert!(
        text.contains("(also changed by `up`, through what differs above: alarm "),
        "{text}"
    );
    let status = p.ok(&["status"], 0).stdout;
    assert!(
        status.contains("In the stack file, not in AWS (1): sns_topic alerts\n"),
        "{status}"
    );
    p.ok(&["up", "--yes"], 0);
    p.ok(&["drift"], 0);

    p.ok(&["down", "--yes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_removed_from_the_file_is_planned_as_a_delete_and_deleted() {
    let p = Project::new("tierremove");
    p.ok(&["up", "--yes"], 0);
    let before = ids(&p.stack).await;
    // The database free-storage alarm goes away (nothing references it).
    let text = p.text();
    let start = text.find("  db-free-storage:\n").expect("alarm");
    let end = text[start..]
        .find("  alb-5xx:\n")
        .map(|e| start + e)
        .expect("next alarm");
    p.write(&format!("{}{}", &text[..start], &text[end..]));
    let plan = p.ok(&["plan", "--json", "--detailed-exitcode"], 2).json();
    assert_eq!(names_in(&plan, "delete"), vec!["db-free-storage"]);
    assert_eq!(names_in(&plan, "update"), Vec::<String>::new());
    assert_eq!(names_in(&plan, "create"), Vec::<String>::new());
    let text = p.ok(&["plan"], 0).stdout;
    assert!(text.contains("- alarm db-free-storage"), "{text}");
    assert!(text.contains("no longer in the stack file"), "{text}");

    p.ok(&["up", "--yes"], 0);
    let cw = aws_sdk_cloudwatch::Client::new(&common::sdk_config().await);
    let left = cw
        .describe_alarms()
        .alarm_name_prefix(format!("{}-", p.stack))
        .send()
        .await
        .expect("alarms");
    let mut names: Vec<&str> = left
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .collect();
    names.sort();
    let s = &p.stack;
    assert_eq!(
        names,
        vec![
            format!("{s}-alb-5xx"),
            format!("{s}-api-cpu"),
            format!("{s}-db-cpu")
        ]
    );
    assert_eq!(ids(&p.stack).await, before, "nothing else changed");
    p.ok(&["drift"], 0);
    p.ok(&["down", "--yes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn down_removes_everything_of_the_stack_and_nothing_else() {
    let ec2 = ec2().await;
    let s3 = s3().await;
    // Resources that are not the stack's: untagged, and tagged for another stack.
    let foreign_vpc = ec2
        .create_vpc()
        .cidr_block("10.50.0.0/16")
        .send()
        .await
        .expect("vpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("id")
        .to_string();
    let foreign_sg = ec2
        .create_security_group()
        .group_name("tierdown-main")
        .description("not the stack's, same name as one of its groups")
        .vpc_id(&foreign_vpc)
        .send()
        .await
        .expect("sg")
        .group_id
        .expect("id");
    let other_stack = ec2
        .create_subnet()
        .vpc_id(&foreign_vpc)
        .cidr_block("10.50.1.0/24")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Subnet)
                .tags(
                    Tag::builder()
                        .key("provision:stack")
                        .value("tierdown-other")
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("provision:name")
                        .value("private-a")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("subnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("id");
    let foreign_eip = ec2
        .allocate_address()
        .send()
        .await
        .expect("eip")
        .allocation_id
        .expect("id");
    let foreign_bucket = "tierdown-not-the-stacks";
    s3.create_bucket()
        .bucket(foreign_bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                .build(),
        )
        .send()
        .await
        .expect("bucket");

    let p = Project::new("tierdown");
    p.ok(&["up", "--yes"], 0);
    assert_eq!(ids(&p.stack).await.len(), 14);
    // Before asking, every resource to delete is shown with its id and creation time;
    // unconfirmed (no terminal, no --yes), nothing is deleted.
    let today = &provision::clock::rfc3339_at(provision::clock::now_secs())[..10];
    let asked = p.run(&["down"]);
    assert_ne!(asked.code, 0, "{}", asked.all());
    let tops: Vec<&str> = asked
        .stdout
        .lines()
        .filter(|l| l.starts_with("  - "))
        .collect();
    let folded = asked.stdout.lines().filter(|l| l.starts_with("    - "));
    assert_eq!(tops.len() + folded.count(), ALL.len(), "{}", asked.stdout);
    for line in &tops {
        assert!(
            line.contains(&format!(", created {today} ")) && line.contains(" UTC): delete"),
            "{line}"
        );
    }
    assert_eq!(ids(&p.stack).await.len(), 14);
    let down = p.ok(&["down", "--yes", "--json"], 0).json();
    assert_eq!(down["summary"]["delete"], ALL.len());
    assert_eq!(down["remaining"], serde_json::json!([]));

    // Nothing of the stack, listing every kind in the account.
    assert!(ids(&p.stack).await.is_empty());
    let f = stack_filter(&p.stack);
    assert!(ec2
        .describe_vpcs()
        .filters(f.clone())
        .send()
        .await
        .expect("vpcs")
        .vpcs()
        .is_empty());
    assert!(ec2
        .describe_route_tables()
        .filters(f.clone())
        .send()
        .await
        .expect("rt")
        .route_tables()
        .is_empty());
    let nats = ec2
        .describe_nat_gateways()
        .filter(f.clone())
        .send()
        .await
        .expect("nat");
    let ours = |n: &&aws_sdk_ec2::types::NatGateway| {
        n.tags()
            .iter()
            .any(|t| t.key() == Some("provision:stack") && t.value() == Some(p.stack.as_str()))
    };
    assert!(nats
        .nat_gateways()
        .iter()
        .filter(ours)
        .all(|n| n.state().map(|s| s.as_str()) == Some("deleted")));
    assert!(ec2
        .describe_addresses()
        .filters(f)
        .send()
        .await
        .expect("eip")
        .addresses()
        .is_empty());
    let buckets = s3.list_buckets().send().await.expect("buckets");
    assert!(!buckets
        .buckets()
        .iter()
        .any(|b| b.name() == Some(p.bucket().as_str())));

    // What was not the stack's is untouched.
    assert_eq!(
        ec2.describe_vpcs()
            .vpc_ids(&foreign_vpc)
            .send()
            .await
            .expect("vpc")
            .vpcs()
            .len(),
        1
    );
    assert_eq!(
        ec2.describe_security_groups()
            .group_ids(&foreign_sg)
            .send()
            .await
            .expect("sg")
            .security_groups()
            .len(),
        1
    );
    assert_eq!(
        ec2.describe_subnets()
            .subnet_ids(&other_stack)
            .send()
            .await
            .expect("subnet")
            .subnets()
            .len(),
        1
    );
    assert_eq!(
        ec2.describe_addresses()
            .allocation_ids(&foreign_eip)
            .send()
            .await
            .expect("eip")
            .addresses()
            .len(),
        1
    );
    assert!(buckets
        .buckets()
        .iter()
        .any(|b| b.name() == Some(foreign_bucket)));

    // A second down has nothing to do.
    let again = p.ok(&["down", "--yes", "--json"], 0).json();
    assert_eq!(again["summary"]["delete"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_resources_keep_to_the_request_bounds() {
    // 5 VPCs of 199 subnets: 1,000 resources, created 64 at a time but never more than
    // the bound of requests in flight.
    let p = Project::new("many");
    let mut text = String::from("stack: many\nregion: eu-west-3\nvpcs:\n");
    for v in 0..5 {
        text.push_str(&format!("  v{v}: {{cidr: 10.{v}.0.0/16}}\n"));
    }
    text.push_str("subnets:\n");
    for v in 0..5 {
        for i in 0..199 {
            text.push_str(&format!(
                "  s{v}-{i}: {{vpc: v{v}, cidr: 10.{v}.{}.{}/26, zone: eu-west-3{}}}\n",
                i / 4,
                (i % 4) * 64,
                ["a", "b", "c"][i % 3]
            ));
        }
    }
    p.write(&text);
    let bound = |args: &[&str]| {
        let doc = p.ok(args, 0).json();
        let peak = doc["stats"]["peak_in_flight"].as_u64().expect("peak");
        (doc, peak)
    };
    let (up, peak) = bound(&[
        "up",
        "--yes",
        "--json",
        "--stats",
        "--parallelism",
        "64",
        "--max-requests",
        "6",
    ]);
    assert_eq!(up["summary"]["create"], 1000);
    assert!(
        (1..=6).contains(&peak),
        "{peak} in flight with --max-requests 6"
    );
    // The default total bound: 16.
    let (plan, peak) = bound(&["plan", "--json", "--stats"]);
    assert_eq!(plan["summary"]["unchanged"], 1000);
    assert!(peak <= 16, "{peak}");
    let (_, peak) = bound(&["down", "--yes", "--json", "--stats", "--parallelism", "64"]);
    assert!((1..=16).contains(&peak), "{peak} in flight");
}

/// A name alone never makes a resource the stack's; `adopt` does, explicitly, by id: a
/// hand-made VPC becomes the stack's `main` (and `up` builds in it, `down` deletes it),
/// another stack's VPC is refused with its owner, and so is a name the stack already has.
#[tokio::test(flavor = "multi_thread")]
async fn adopting_is_explicit_by_id_and_never_takes_another_stacks_resource() {
    let ec2 = ec2().await;
    let vpc = |cidr: &str, owner: Option<&str>| {
        let mut req = ec2.create_vpc().cidr_block(cidr);
        if let Some(o) = owner {
            req = req.tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                    .tags(Tag::builder().key("provision:stack").value(o).build())
                    .tags(Tag::builder().key("provision:name").value("main").build())
                    .build(),
            );
        }
        async move {
            req.send()
                .await
                .expect("vpc")
                .vpc()
                .and_then(|v| v.vpc_id())
                .expect("id")
                .to_string()
        }
    };
    let hand_made = vpc("10.0.0.0/16", None).await;
    let others = vpc("10.0.0.0/16", Some("otherstack")).await;
    let p = Project::new("adopting");
    p.write("stack: adopting\nvpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  a: {vpc: main, cidr: 10.0.0.0/24, zone: eu-west-3a}\n");

    // The same CIDR and no tags: not the stack's.
    let plan = p.ok(&["plan", "--json"], 0).json();
    assert_eq!(names_in(&plan, "create"), vec!["a", "main"]);

    let refused = p.ok(&["adopt", "main", &others, "--yes"], 1);
    assert!(
        refused.stderr.contains("belongs to stack otherstack"),
        "{}",
        refused.all()
    );
    let refused = p.ok(&["adopt", "a.rules", &hand_made, "--yes"], 1);
    assert!(
        refused.stderr.contains("no resource `a.rules`"),
        "{}",
        refused.all()
    );

    let adopted = p
        .ok(&["adopt", "main", &hand_made, "--yes", "--json"], 0)
        .json();
    assert_eq!(adopted["adopted"]["id"], hand_made.as_str());
    assert_eq!(names_in(&adopted, "create"), vec!["a"]);
    assert_eq!(
        names_in(&adopted, "update"),
        vec!["main"],
        "its Name tag and DNS hostnames"
    );
    let again = p.ok(&["adopt", "main", &hand_made, "--yes"], 1);
    assert!(
        again.stderr.contains("already has its vpc `main`"),
        "{}",
        again.all()
    );

    p.ok(&["up", "--yes"], 0);
    p.ok(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(ids(&p.stack).await["main"], hand_made);
    p.ok(&["down", "--yes"], 0);
    let left = ec2
        .describe_vpcs()
        .vpc_ids(&others)
        .send()
        .await
        .expect("the other stack's VPC is still there");
    let tags = left.vpcs()[0].tags();
    assert!(tags
        .iter()
        .any(|t| t.key() == Some("provision:stack") && t.value() == Some("otherstack")));
    assert!(ec2
        .describe_vpcs()
        .vpc_ids(&hand_made)
        .send()
        .await
        .is_err());
}
