//! Delivery on the emulator: a CI deploy (an image tag as a variable, the stack's ECR
//! repository, the task definition moved to the new image through a saved plan), the
//! expiry recorded on every resource, `list` across regions, and teardown without the
//! stack file (`down --stack`, `down --expired`), each taking what it should and nothing
//! else.

mod common;

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};
use common::{emulator, run_at, stack_filter, Project, ACCOUNT, REGION};

async fn config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&emulator().endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// VPC ids of a stack in a region, from our own reading.
async fn vpcs(stack: &str, region: &str) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(&config(region).await);
    ec2.describe_vpcs()
        .filters(stack_filter(stack))
        .send()
        .await
        .expect("describe vpcs")
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id().map(str::to_string))
        .collect()
}

/// The image of the newest active revision of a task definition family.
async fn image_of(family: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(&config(REGION).await);
    let td = ecs
        .describe_task_definition()
        .task_definition(family)
        .send()
        .await
        .expect("describe task definition");
    td.task_definition()
        .and_then(|t| t.container_definitions().first())
        .and_then(|c| c.image())
        .unwrap_or_default()
        .to_string()
}

const DEPLOYED: &str = "\
vars:
  image_tag: {description: the API image CI built and pushed}
stack: cideploy
region: eu-west-3
iam_roles:
  exec: {trust: [ecs-tasks.amazonaws.com], managed_policies: [arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy]}
log_groups:
  api-logs: {retention_days: 7}
ecr_repositories:
  api-images: {keep_last: 10}
task_definitions:
  api:
    cpu: 256
    memory: 512
    execution_role: exec
    log_group: api-logs
    container:
      image: {repository: api-images, tag: '${var.image_tag}'}
      port: 8000
";

#[test]
fn a_ci_deploy_moves_the_task_to_the_new_image_through_a_saved_plan() {
    let p = Project::new("cideploy");
    p.write(DEPLOYED);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let uri = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/cideploy/api-images");

    // Without the tag: an error at the declaration, before any AWS call.
    let r = p.ok(&["plan"], 1);
    assert!(
        r.stderr.contains("stack.yaml:2:3: vars.image_tag")
            && r.stderr.contains("PROVISION_VAR_image_tag"),
        "{}",
        r.stderr
    );

    // The first deploy: the repository, then the task on its image.
    p.ok(&["up", "--var", "image_tag=1111aaa", "--yes"], 0);
    assert_eq!(
        rt.block_on(image_of("cideploy-api")),
        format!("{uri}:1111aaa")
    );

    // The next commit: a plan saved for review.
    let r = p.ok(
        &["plan", "--var", "image_tag=2222bbb", "--out", "deploy.plan"],
        0,
    );
    assert!(
        r.stdout.contains(":1111aaa\" -> \"") && r.stdout.contains(":2222bbb"),
        "{}",
        r.stdout
    );
    let saved = std::fs::read_to_string(p.dir.join("deploy.plan")).expect("plan file");
    assert!(saved.contains("provision-plan/1") && saved.contains("observed_sha256"));

    // Applied with other inputs: refused, nothing changed.
    let r = p.ok(
        &["up", "--plan", "deploy.plan", "--var", "image_tag=3333ccc"],
        1,
    );
    assert!(
        r.stderr.contains("the variables' values changed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        rt.block_on(image_of("cideploy-api")),
        format!("{uri}:1111aaa")
    );

    // Applied as planned: no question asked, the task moves to the new image.
    p.ok(
        &["up", "--plan", "deploy.plan", "--var", "image_tag=2222bbb"],
        0,
    );
    assert_eq!(
        rt.block_on(image_of("cideploy-api")),
        format!("{uri}:2222bbb")
    );

    // The same plan again: AWS is no longer what it was made from.
    let r = p.ok(
        &["up", "--plan", "deploy.plan", "--var", "image_tag=2222bbb"],
        1,
    );
    assert!(
        r.stderr.contains("what exists in AWS changed"),
        "{}",
        r.stderr
    );
    // And the file is the source of truth: nothing left to do.
    p.ok(
        &["plan", "--var", "image_tag=2222bbb", "--detailed-exitcode"],
        0,
    );
    // A changed stack file makes the plan stale too.
    p.ok(
        &["plan", "--var", "image_tag=4444ddd", "--out", "next.plan"],
        0,
    );
    p.edit("retention_days: 7", "retention_days: 14");
    let r = p.ok(
        &["up", "--plan", "next.plan", "--var", "image_tag=4444ddd"],
        1,
    );
    assert!(
        r.stderr.contains("the stack file stack.yaml changed"),
        "{}",
        r.stderr
    );

    p.ok(&["down", "--yes", "--force-empty"], 0);
}

#[test]
fn the_expiry_is_recorded_on_every_resource_kept_and_moved_by_ttl() {
    let p = Project::new("expiring");
    p.write(
        "stack: expiring\nregion: eu-west-3\nexpires: 8h\nvpcs:\n  main: {cidr: 10.8.0.0/16}\nsubnets:\n  a: {vpc: main, cidr: 10.8.1.0/24, zone: eu-west-3a}\nlog_groups:\n  logs: {retention_days: 7}\n",
    );
    let before = provision::clock::now_secs();
    p.ok(&["up", "--yes"], 0);
    let tagging = |stack: &str| {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let c = aws_sdk_resourcegroupstagging::Client::new(&config(REGION).await);
            c.get_resources()
                .tag_filters(
                    aws_sdk_resourcegroupstagging::types::TagFilter::builder()
                        .key("provision:stack")
                        .values(stack)
                        .build(),
                )
                .send()
                .await
                .expect("get resources")
                .resource_tag_mapping_list()
                .iter()
                .map(|m| {
                    m.tags()
                        .iter()
                        .find(|t| t.key() == "provision:expires")
                        .map(|t| t.value().to_string())
                })
                .collect::<Vec<_>>()
        })
    };
    let recorded = tagging("expiring");
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    let first = recorded[0].clone().expect("tagged");
    assert!(
        recorded
            .iter()
            .all(|e| e.as_deref() == Some(first.as_str())),
        "{recorded:?}"
    );
    let at = provision::clock::parse_rfc3339(&first).expect("RFC 3339");
    assert!(at >= before + 8 * 3600 && at <= provision::clock::now_secs() + 8 * 3600);

    // A second run keeps it (no write), and shows it.
    let r = p.ok(&["plan", "--detailed-exitcode", "--json"], 0);
    assert_eq!(r.json()["expires"], first.as_str());
    let r = p.ok(&["status"], 0);
    assert!(
        r.stdout.contains(&format!("Expires {first}")),
        "{}",
        r.stdout
    );

    // --ttl sets a new one, on every resource.
    let r = p.ok(&["up", "--ttl", "1h", "--yes"], 0);
    assert!(r.stdout.contains("Expires "), "{}", r.stdout);
    let moved = tagging("expiring");
    let new = moved[0].clone().expect("tagged");
    assert!(new < first, "{new} is not before {first}");
    assert!(moved.iter().all(|e| e.as_deref() == Some(new.as_str())));
    p.ok(&["plan", "--detailed-exitcode"], 0);
    p.ok(&["down", "--yes"], 0);
}

fn small(stack: &str, region: &str, cidr: u8, expires: Option<&str>) -> String {
    let expires = expires
        .map(|e| format!("expires: '{e}'\n"))
        .unwrap_or_default();
    format!(
        "stack: {stack}\nregion: {region}\n{expires}vpcs:\n  main: {{cidr: 10.{cidr}.0.0/16}}\nsubnets:\n  a: {{vpc: main, cidr: 10.{cidr}.1.0/24, zone: {region}a}}\nlog_groups:\n  logs: {{retention_days: 7}}\n"
    )
}

#[test]
fn stacks_are_listed_and_torn_down_from_their_tags_alone() {
    let expired = Project::new("reapold");
    // With a NAT gateway: billed by the hour, and still listed by AWS once deleted.
    expired.write(&format!(
        "{}internet_gateways:\n  igw: {{vpc: main}}\nelastic_ips:\n  ip: {{}}\nnat_gateways:\n  nat: {{subnet: a, eip: ip}}\n",
        small("reapold", "eu-west-3", 21, Some("2026-01-01T00:00:00Z"))
    ));
    let later = Project::new("reaplater");
    later.write(&small("reaplater", "eu-west-1", 22, Some("8h")));
    let kept = Project::new("reapkeep");
    kept.write(&small("reapkeep", "eu-west-3", 23, None));
    for p in [&expired, &later, &kept] {
        p.ok(&["up", "--yes"], 0);
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Somewhere without any stack file.
    let elsewhere = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-stack-file");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let run = |args: &[&str], code: i32| {
        let r = run_at(&emulator().endpoint, &elsewhere, args, &[]);
        assert_eq!(r.code, code, "{args:?}\n{}\n{}", r.stdout, r.stderr);
        r
    };
    let regions = "eu-west-3,eu-west-1";

    let r = run(&["list", "--regions", regions, "--json"], 0);
    let stacks = r.json()["stacks"].as_array().cloned().expect("stacks");
    let get = |name: &str| {
        stacks
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {stacks:?}"))
            .clone()
    };
    let (old, lat, kep) = (get("reapold"), get("reaplater"), get("reapkeep"));
    assert_eq!(old["region"], "eu-west-3");
    assert!(old["resources"].as_u64() >= Some(4), "{old}");
    assert!(
        old["cost_per_day"].as_f64() > Some(1.0),
        "a NAT gateway: {old}"
    );
    assert_eq!(kep["cost_per_day"].as_f64(), Some(0.0));
    assert_eq!(lat["region"], "eu-west-1");
    assert_eq!(
        (old["expired"].as_bool(), lat["expired"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(kep["expires"].is_null() && kep["created"].is_string());
    let r = run(&["list", "--regions", regions], 0);
    assert!(
        r.stdout.contains("(expired)") && r.stdout.contains("reaplater"),
        "{}",
        r.stdout
    );

    // The reaper's dry run names only the expired stack and deletes nothing.
    let r = run(
        &[
            "down",
            "--expired",
            "--dry-run",
            "--regions",
            regions,
            "--json",
        ],
        0,
    );
    let doc = r.json();
    let names: Vec<&str> = doc["stacks"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"reapold") && !names.contains(&"reaplater") && !names.contains(&"reapkeep"),
        "{names:?}"
    );
    assert_eq!(rt.block_on(vpcs("reapold", "eu-west-3")).len(), 1);

    // The reaper: the expired stack goes, the others stay.
    run(&["down", "--expired", "--regions", regions, "--yes"], 0);
    assert!(rt.block_on(vpcs("reapold", "eu-west-3")).is_empty());
    assert_eq!(rt.block_on(vpcs("reaplater", "eu-west-1")).len(), 1);
    assert_eq!(rt.block_on(vpcs("reapkeep", "eu-west-3")).len(), 1);
    let r = run(&["down", "--expired", "--regions", regions, "--yes"], 0);
    assert!(r.stdout.contains("No expired stack"), "{}", r.stdout);

    // A stack without its file: everything of it, nothing of the one beside it.
    let r = run(&["down", "--stack", "reaplater"], 64);
    assert!(r.stderr.contains("--region"), "{}", r.stderr);
    run(
        &[
            "down",
            "--stack",
            "reaplater",
            "--region",
            "eu-west-1",
            "--yes",
        ],
        0,
    );
    assert!(rt.block_on(vpcs("reaplater", "eu-west-1")).is_empty());
    assert_eq!(rt.block_on(vpcs("reapkeep", "eu-west-3")).len(), 1);
    let r = run(&["list", "--regions", regions, "--json"], 0);
    let left: Vec<String> = r.json()["stacks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !left
            .iter()
            .any(|n| n.starts_with("reapold") || n == "reaplater"),
        "{left:?}"
    );
    assert!(left.contains(&"reapkeep".to_string()));
    kept.ok(&["down", "--yes"], 0);
}

#[test]
fn the_ci_access_stack_trusts_only_the_repository_s_tokens() {
    let p = Project::new("spotilikeci");
    let text = std::fs::read_to_string(common::repo().join("examples/ci-cd/access.yaml"))
        .expect("access.yaml");
    p.write(&text);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let iam = rt.block_on(async { aws_sdk_iam::Client::new(&config(REGION).await) });
    // The operator policy, made once by hand as docs/ci-cd.md says.
    let policy =
        std::fs::read_to_string(common::repo().join("docs/iam-policy.json")).expect("policy");
    let made = rt.block_on(
        iam.create_policy()
            .policy_name("provision-operator")
            .policy_document(policy)
            .send(),
    );
    if let Err(e) = made {
        let text = format!("{e:?}");
        assert!(text.contains("EntityAlreadyExists"), "{text}");
    }
    let account = ["--var", "account_id=123456789012"];
    p.ok(&[&["up", "--yes"][..], &account[..]].concat(), 0);

    let role = rt
        .block_on(iam.get_role().role_name("spotilikeci-deploy").send())
        .expect("deploy role");
    let doc = role
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .unwrap_or_default()
        .to_string();
    let doc = provision::kinds::iam::role::decode_policy(&doc).to_string();
    assert!(
        doc.contains("oidc-provider/token.actions.githubusercontent.com")
            && doc.contains("sts:AssumeRoleWithWebIdentity")
            && doc.contains("repo:spotilike/spotilike:ref:refs/heads/main")
            && !doc.contains("pull_request"),
        "{doc}"
    );
    let providers = rt
        .block_on(iam.list_open_id_connect_providers().send())
        .expect("providers");
    assert_eq!(providers.open_id_connect_provider_list().len(), 1);
    // Nothing to do on a second run; the provider goes with the stack.
    p.ok(
        &[&["plan", "--detailed-exitcode"][..], &account[..]].concat(),
        0,
    );
    p.ok(&["down", "--yes"], 0);
    let providers = rt
        .block_on(iam.list_open_id_connect_providers().send())
        .expect("providers");
    assert!(providers.open_id_connect_provider_list().is_empty());
}
