//! The operator's IAM policy (docs/iam-policy.json) against the calls the tool makes:
//! every AWS operation the source names is allowed, every call a whole run of the example
//! stack makes is allowed, and the policy allows nothing the tool does not need (least
//! privilege: no wildcard action, no unused action).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::Project;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The actions the policy allows.
fn allowed() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("docs/iam-policy.json")).expect("policy");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("the policy is JSON");
    let mut out = BTreeSet::new();
    for st in doc["Statement"].as_array().expect("statements") {
        assert_eq!(st["Effect"], "Allow");
        match &st["Action"] {
            serde_json::Value::String(a) => {
                out.insert(a.clone());
            }
            serde_json::Value::Array(list) => {
                out.extend(list.iter().filter_map(|a| a.as_str().map(str::to_string)));
            }
            other => panic!("an Action is a string or a list, not {other}"),
        }
    }
    out
}

/// The IAM actions an operation needs: its own name under the service's IAM prefix, save
/// where IAM names it otherwise, and what AWS checks besides (passing a role, the
/// service-linked role of a first use, the secret RDS keeps the password in).
fn actions(prefix: &str, op: &str) -> Vec<String> {
    let prefix = match prefix {
        "tagging" => "tag",
        p => p,
    };
    let renamed: &[&str] = match (prefix, op) {
        ("s3", "GetBucketEncryption") => &["s3:GetEncryptionConfiguration"],
        ("s3", "PutBucketEncryption") => &["s3:PutEncryptionConfiguration"],
        ("s3", "GetBucketLifecycleConfiguration") => &["s3:GetLifecycleConfiguration"],
        ("s3", "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle") => {
            &["s3:PutLifecycleConfiguration"]
        }
        ("s3", "GetPublicAccessBlock") => &["s3:GetBucketPublicAccessBlock"],
        ("s3", "PutPublicAccessBlock" | "DeletePublicAccessBlock") => {
            &["s3:PutBucketPublicAccessBlock"]
        }
        ("s3", "ListBuckets") => &["s3:ListAllMyBuckets"],
        ("s3", "HeadBucket") => &["s3:ListBucket"],
        ("s3", "ListObjectVersions") => &["s3:ListBucketVersions"],
        ("s3", "DeleteObjects") => &["s3:DeleteObject", "s3:DeleteObjectVersion"],
        ("budgets", op) if op.starts_with("Describe") => &["budgets:ViewBudget"],
        ("budgets", op) if !op.ends_with("agResource") && op != "ListTagsForResource" => {
            &["budgets:ModifyBudget"]
        }
        ("cloudfront", "CreateDistributionWithTags") => {
            &["cloudfront:CreateDistribution", "cloudfront:TagResource"]
        }
        ("sts", "GetCallerIdentity") => &[],
        _ => &[],
    };
    let mut out: Vec<String> = if renamed.is_empty() && (prefix, op) != ("sts", "GetCallerIdentity")
    {
        vec![format!("{prefix}:{op}")]
    } else {
        renamed.iter().map(|a| a.to_string()).collect()
    };
    let also: &[&str] = match (prefix, op) {
        ("eks", "CreateCluster") | ("eks", "CreateNodegroup") => {
            &["iam:PassRole", "iam:CreateServiceLinkedRole"]
        }
        ("ecs", "RegisterTaskDefinition") => &["iam:PassRole"],
        ("ecs", "CreateCluster") | ("elasticloadbalancing", "CreateLoadBalancer") => {
            &["iam:CreateServiceLinkedRole"]
        }
        ("rds", "CreateDBInstance") => &[
            "iam:CreateServiceLinkedRole",
            "kms:DescribeKey",
            "secretsmanager:CreateSecret",
            "secretsmanager:RotateSecret",
            "secretsmanager:TagResource",
        ],
        ("ssm", "PutParameter") => &["ssm:AddTagsToResource"],
        _ => &[],
    };
    out.extend(also.iter().map(|a| a.to_string()));
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The operations the source names where it calls AWS: `err("ec2:DescribeVpcs", e)` and
/// `CloudError::new("ec2:CreateVpc", ...)` (the engine's fake cloud excepted).
fn source_operations() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        for opener in ["err(", "CloudError::new("] {
            for (i, _) in text.match_indices(opener) {
                let rest = text[i + opener.len()..].trim_start();
                let Some(lit) = rest.strip_prefix('"') else {
                    continue;
                };
                let Some(end) = lit.find('"') else { continue };
                let Some((svc, op)) = lit[..end].split_once(':') else {
                    continue;
                };
                let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
                if plain(svc)
                    && plain(op)
                    && op.starts_with(|c: char| c.is_ascii_uppercase())
                    && svc != "fake"
                {
                    out.insert((svc.to_string(), op.to_string()));
                }
            }
        }
    }
    out
}

#[test]
fn the_policy_allows_every_call_the_source_makes_and_nothing_more() {
    let allowed = allowed();
    let ops = source_operations();
    assert!(ops.len() > 150, "the scan found the calls: {}", ops.len());
    let needed: BTreeSet<String> = ops.iter().flat_map(|(s, o)| actions(s, o)).collect();
    let missing: Vec<&String> = needed.difference(&allowed).collect();
    assert!(missing.is_empty(), "the policy lacks {missing:?}");
    let unused: Vec<&String> = allowed.difference(&needed).collect();
    assert!(
        unused.is_empty(),
        "the policy allows what the tool never needs: {unused:?}"
    );
    assert!(
        allowed.iter().all(|a| !a.contains('*')),
        "no wildcard action"
    );
}

/// The SDK's service names as the call statistics give them, to IAM prefixes.
fn prefix(sdk_service: &str) -> String {
    match sdk_service {
        "Elastic Load Balancing v2" => "elasticloadbalancing".into(),
        "CloudWatch Logs" => "logs".into(),
        "Resource Groups Tagging API" => "tagging".into(),
        s => s.to_lowercase(),
    }
}

#[test]
fn a_whole_run_of_the_example_makes_only_allowed_calls() {
    let allowed = allowed();
    let p = Project::new("permissions");
    let mut seen = BTreeSet::new();
    for (cmd, code) in [
        (&["up"][..], 0),
        (&["drift"][..], 0),
        (&["snapshots"][..], 0),
        (&["down", "--skip-final-snapshot"][..], 0),
    ] {
        let mut args = vec!["--json", "--stats", "--yes"];
        args.extend_from_slice(cmd);
        let out = p.ok(&args, code).json();
        for o in out["stats"]["operations"].as_array().expect("stats") {
            let svc = prefix(o["service"].as_str().unwrap_or_default());
            let op = o["operation"].as_str().unwrap_or_default().to_string();
            seen.insert((svc, op));
        }
    }
    assert!(seen.len() > 50, "{seen:?}");
    let refused: Vec<String> = seen
        .iter()
        .flat_map(|(s, o)| actions(s, o))
        .filter(|a| !allowed.contains(a))
        .collect();
    assert!(
        refused.is_empty(),
        "a run needs {refused:?}, which the policy lacks"
    );
    let named = source_operations();
    let unnamed: Vec<&(String, String)> = seen.difference(&named).collect();
    assert!(
        unnamed.is_empty(),
        "calls the source does not name (so the static check misses them): {unnamed:?}"
    );
}
