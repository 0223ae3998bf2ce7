//! What a reviewer reads about a stack, from its file alone (no AWS call): the
//! architecture as boxes and traffic paths (`diagram`), what it costs (`cost`), what it
//! emits (`footprint`), and the document that gathers them (`document`).
//!
//! Everything here reads the resources as the model gives them (`Desired`, references as
//! `{"$ref": name}`), the same values `up` would create.

pub mod cost;
pub mod diagram;
pub mod document;
pub mod footprint;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::engine::Desired;
use crate::kinds::names;

/// What `diagram`, `cost`, `footprint` and `report` could not do.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Prices(#[from] cost::NoPrices),
    #[error("{0}")]
    Footprint(#[from] footprint::FootprintError),
    #[error("cannot write {file}: {reason}")]
    Write { file: String, reason: String },
    #[error("{0}")]
    Render(String),
}

/// The name a `{"$ref": name}` value points at.
pub fn target(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()
}

/// Every name a field refers to (one reference or a list of them).
pub fn targets<'a>(d: &'a Desired, field: &str) -> Vec<&'a str> {
    match d.props.get(field) {
        Some(Value::Array(items)) => items.iter().filter_map(target).collect(),
        Some(v) => target(v).into_iter().collect(),
        None => Vec::new(),
    }
}

pub fn text<'a>(d: &'a Desired, field: &str) -> &'a str {
    d.props.get(field).and_then(Value::as_str).unwrap_or("")
}

pub fn number(d: &Desired, field: &str) -> f64 {
    match d.props.get(field) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// A resource drawn as a box.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub label: String,
    /// How it is drawn: `internet`, `compute`, `database`, `storage`, `network`, `edge`,
    /// `service`.
    pub shape: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    pub name: String,
    pub zone: String,
    pub cidr: String,
}

/// Subnets that route alike (same route table, same public flag): where resources run.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    pub id: String,
    pub label: String,
    pub subnets: Vec<Subnet>,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub id: String,
    pub label: String,
    pub zones: Vec<String>,
    pub tiers: Vec<Tier>,
    /// Resources of the VPC that span tiers (or belong to the VPC itself).
    pub nodes: Vec<Node>,
}

/// A traffic path: what the security groups (or the service) let through, and on what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path {
    pub from: String,
    pub to: String,
    pub label: String,
    /// Not traffic but a relation (nodes joining a cluster, alarms notifying a topic).
    pub relation: bool,
}

/// The stack as a reviewer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    pub stack: String,
    pub region: String,
    pub internet: bool,
    pub networks: Vec<Network>,
    /// Regional services outside any VPC (buckets, repositories, logs, monitoring).
    pub regional: Vec<Node>,
    /// Global services (CloudFront, IAM, budgets).
    pub global: Vec<Node>,
    pub paths: Vec<Path>,
}

/// The internet's node. Ids of the diagram's own boxes start with `_`, which no resource
/// name can (names start with a letter), so they never meet a resource's id.
pub const INTERNET: &str = "_internet";

/// An identifier every diagram language accepts.
pub fn id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Ports of a rule as a label: `:443`, `:1024-65535`, `all`, `icmp`.
fn ports(rule: &Value) -> String {
    let protocol = rule.get("protocol").and_then(Value::as_str).unwrap_or("-1");
    let from = rule.get("from_port").and_then(Value::as_i64).unwrap_or(-1);
    let to = rule.get("to_port").and_then(Value::as_i64).unwrap_or(-1);
    match protocol {
        "-1" | "all" => "all".into(),
        "icmp" => "icmp".into(),
        p => {
            let suffix = if p == "tcp" {
                String::new()
            } else {
                format!("/{p}")
            };
            if from == to {
                format!(":{from}{suffix}")
            } else {
                format!(":{from}-{to}{suffix}")
            }
        }
    }
}

fn open_to_all(rule: &Value) -> bool {
    matches!(
        rule.get("cidr").and_then(Value::as_str),
        Some("0.0.0.0/0") | Some("::/0")
    )
}

/// A short description of what each drawn resource is.
fn label(d: &Desired, by_name: &BTreeMap<&str, &Desired>) -> Option<(String, &'static str)> {
    let n = &d.name;
    Some(match d.kind {
        names::LOAD_BALANCER => {
            let listeners: Vec<String> = by_name
                .values()
                .filter(|l| l.kind == names::LISTENER && targets(l, "load_balancer") == [n])
                .map(|l| format!("listener :{}", number(l, "port")))
                .collect();
            (
                format!("{n}\\nload balancer (ALB){}", lines(&listeners)),
                "network",
            )
        }
        names::NAT_GATEWAY => (format!("{n}\\nNAT gateway"), "network"),
        names::INTERNET_GATEWAY => (format!("{n}\\ninternet gateway"), "network"),
        names::ECS_SERVICE => {
            let task = targets(d, "task_definition")
                .first()
                .and_then(|t| by_name.get(t))
                .map(|t| {
                    format!(
                        ", {} vCPU / {} GB",
                        number(t, "cpu") / 1024.0,
                        number(t, "memory") / 1024.0
                    )
                })
                .unwrap_or_default();
            (
                format!(
                    "{n}\\nECS Fargate service\\n{} tasks{task}",
                    number(d, "desired_count")
                ),
                "compute",
            )
        }
        names::DATABASE => (
            format!(
                "{n}\\nRDS {} {}\\n{}, {} GB {}",
                text(d, "engine"),
                text(d, "engine_version"),
                text(d, "instance_class"),
                number(d, "allocated_storage"),
                text(d, "storage_type")
            ),
            "database",
        ),
        names::EKS_CLUSTER => (
            format!("{n}\\nEKS control plane {}", text(d, "version")),
            "compute",
        ),
        names::NODE_GROUP => {
            let types: Vec<&str> = d
                .props
                .get("instance_types")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let desired = d
                .props
                .get("scaling")
                .and_then(|s| s.get("desired"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            (
                format!("{n}\\nEKS nodes {desired} x {}", types.join("/")),
                "compute",
            )
        }
        names::BUCKET => (format!("{n}\\nS3 bucket"), "storage"),
        names::DISTRIBUTION => (format!("{n}\\nCloudFront"), "edge"),
        names::ECR_REPOSITORY => (format!("{n}\\nECR repository"), "storage"),
        names::LOG_GROUP => (format!("{n}\\nCloudWatch logs"), "service"),
        names::SNS_TOPIC => (format!("{n}\\nSNS topic"), "service"),
        names::ALARM => (format!("{n}\\nCloudWatch alarm"), "service"),
        names::BUDGET => (
            format!("{n}\\nbudget ${}/month", number(d, "limit_usd")),
            "service",
        ),
        names::IAM_ROLE => (format!("{n}\\nIAM role"), "service"),
        _ => return None,
    })
}

fn lines(items: &[String]) -> String {
    items.iter().map(|i| format!("\\n{i}")).collect()
}

impl Architecture {
    pub fn of(stack: &str, region: &str, resources: &[Desired]) -> Architecture {
        let by_name: BTreeMap<&str, &Desired> =
            resources.iter().map(|d| (d.name.as_str(), d)).collect();
        let of_kind = |k: &'static str| resources.iter().filter(move |d| d.kind == k);

        // Subnets, and how each one routes (its table, public or not).
        let mut table_of: BTreeMap<&str, &str> = BTreeMap::new();
        let mut via_nat: BTreeSet<&str> = BTreeSet::new();
        for t in of_kind(names::ROUTE_TABLE) {
            let nat = t
                .props
                .get("routes")
                .and_then(Value::as_array)
                .is_some_and(|rs| rs.iter().any(|r| r.get("nat_gateway").is_some()));
            for s in targets(t, "subnets") {
                table_of.insert(s, &t.name);
                if nat {
                    via_nat.insert(s);
                }
            }
        }
        // Where each drawn resource runs.
        let mut runs_in: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for d in resources {
            let subnets = match d.kind {
                names::NAT_GATEWAY => targets(d, "subnet"),
                names::LOAD_BALANCER
                | names::ECS_SERVICE
                | names::EKS_CLUSTER
                | names::NODE_GROUP => targets(d, "subnets"),
                names::DATABASE => targets(d, "subnet_group")
                    .first()
                    .and_then(|g| by_name.get(g))
                    .map(|g| targets(g, "subnets"))
                    .unwrap_or_default(),
                _ => continue,
            };
            runs_in.insert(&d.name, subnets);
        }

        let mut networks = Vec::new();
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        for vpc in of_kind(names::VPC) {
            let subnets: Vec<&Desired> = of_kind(names::SUBNET)
                .filter(|s| targets(s, "vpc") == [vpc.name.as_str()])
                .collect();
            let mut tiers: BTreeMap<(bool, &str), Vec<&Desired>> = BTreeMap::new();
            for s in &subnets {
                let public = s.props.get("public").and_then(Value::as_bool) == Some(true);
                let table = table_of.get(s.name.as_str()).copied().unwrap_or("");
                tiers.entry((!public, table)).or_default().push(s);
            }
            let mut tier_boxes = Vec::new();
            let mut tier_of: BTreeMap<&str, usize> = BTreeMap::new();
            for ((private, table), members) in &tiers {
                for s in members {
                    tier_of.insert(&s.name, tier_boxes.len());
                }
                let route = if table.is_empty() {
                    String::new()
                } else {
                    format!(", route table {table}")
                };
                let side = if *private { "private" } else { "public" };
                tier_boxes.push(Tier {
                    id: format!("_tier_{}", id(&format!("{}_{side}_{table}", vpc.name))),
                    label: format!(
                        "{} subnets{route}",
                        if *private { "private" } else { "public" }
                    ),
                    subnets: members
                        .iter()
                        .map(|s| Subnet {
                            name: s.name.clone(),
                            zone: text(s, "zone").to_string(),
                            cidr: text(s, "cidr").to_string(),
                        })
                        .collect(),
                    nodes: Vec::new(),
                });
            }
            let mut spanning = Vec::new();
            for d in resources {
                let Some(subnets) = runs_in.get(d.name.as_str()) else {
                    continue;
                };
                let in_tiers: BTreeSet<usize> = subnets
                    .iter()
                    .filter_map(|s| tier_of.get(s))
                    .copied()
                    .collect();
                if in_tiers.is_empty() {
                    continue;
                }
                let Some((label, shape)) = label(d, &by_name) else {
                    continue;
                };
                placed.insert(&d.name);
                let mut label = label;
                let tier_size = |t: usize| tier_boxes[t].subnets.len();
                match in_tiers.iter().next() {
                    Some(&t) if in_tiers.len() == 1 => {
                        if subnets.len() < tier_size(t) {
                            label.push_str(&format!("\\nin {}", subnets.join(", ")));
                        }
                        tier_boxes[t].nodes.push(Node {
                            id: id(&d.name),
                            label,
                            shape,
                        });
                    }
                    _ => {
                        label.push_str(&format!("\\nin {}", subnets.join(", ")));
                        spanning.push(Node {
                            id: id(&d.name),
                            label,
                            shape,
                        });
                    }
                }
            }
            for igw in of_kind(names::INTERNET_GATEWAY)
                .filter(|g| targets(g, "vpc") == [vpc.name.as_str()])
            {
                if let Some((label, shape)) = label(igw, &by_name) {
                    placed.insert(&igw.name);
                    spanning.push(Node {
                        id: id(&igw.name),
                        label,
                        shape,
                    });
                }
            }
            let zones: BTreeSet<String> = subnets
                .iter()
                .map(|s| text(s, "zone").to_string())
                .collect();
            networks.push(Network {
                id: format!("_vpc_{}", id(&vpc.name)),
                label: format!("VPC {} {}", vpc.name, text(vpc, "cidr")),
                zones: zones.into_iter().collect(),
                tiers: tier_boxes,
                nodes: spanning,
            });
        }

        let mut regional = Vec::new();
        let mut global = Vec::new();
        for d in resources
            .iter()
            .filter(|d| !placed.contains(d.name.as_str()))
        {
            let Some((label, shape)) = label(d, &by_name) else {
                continue;
            };
            let node = Node {
                id: id(&d.name),
                label,
                shape,
            };
            match d.kind {
                names::DISTRIBUTION | names::IAM_ROLE | names::BUDGET => global.push(node),
                _ => regional.push(node),
            }
        }

        // Traffic paths, from the security groups' rules: who may reach whom, on what.
        let members = |group: &str| -> Vec<String> {
            resources
                .iter()
                .filter(|d| runs_in.contains_key(d.name.as_str()))
                .filter(|d| targets(d, "security_groups").contains(&group))
                .map(|d| id(&d.name))
                .collect()
        };
        let mut labels: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let mut internet = false;
        let nat = of_kind(names::NAT_GATEWAY).next().map(|n| id(&n.name));
        for rules in of_kind(names::SECURITY_GROUP_RULES) {
            let Some(group) = targets(rules, "group").first().copied() else {
                continue;
            };
            let to = members(group);
            for rule in rules
                .props
                .get("ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let from = if open_to_all(rule) {
                    internet = true;
                    vec![INTERNET.to_string()]
                } else if let Some(peer) = rule.get("group").and_then(target) {
                    members(peer)
                } else {
                    // A CIDR inside the network: drawn only when it is the internet.
                    continue;
                };
                for f in &from {
                    for t in to.iter().filter(|t| *t != f) {
                        labels
                            .entry((f.clone(), t.clone()))
                            .or_default()
                            .insert(ports(rule));
                    }
                }
            }
            // Egress to the internet, through the NAT gateway from private subnets.
            for rule in rules
                .props
                .get("egress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| open_to_all(r))
            {
                for d in resources
                    .iter()
                    .filter(|d| targets(d, "security_groups").contains(&group))
                {
                    let private = runs_in
                        .get(d.name.as_str())
                        .is_some_and(|s| s.iter().any(|s| via_nat.contains(s)));
                    if let (true, Some(nat)) = (private, &nat) {
                        labels
                            .entry((id(&d.name), nat.clone()))
                            .or_default()
                            .insert(format!("egress {}", ports(rule)));
                    }
                }
            }
        }
        let mut paths: Vec<Path> = labels
            .into_iter()
            .map(|((from, to), l)| Path {
                from,
                to,
                label: l.into_iter().collect::<Vec<_>>().join(" "),
                relation: false,
            })
            .collect();
        // Out through the internet gateway when the stack has one.
        if let Some(nat) = &nat {
            internet = true;
            let igw = of_kind(names::INTERNET_GATEWAY).next().map(|g| id(&g.name));
            let mut hop = nat.clone();
            if let Some(igw) = igw {
                paths.push(Path {
                    from: hop,
                    to: igw.clone(),
                    label: "egress".into(),
                    relation: false,
                });
                hop = igw;
            }
            paths.push(Path {
                from: hop,
                to: INTERNET.into(),
                label: "egress".into(),
                relation: false,
            });
        }
        for d in of_kind(names::DISTRIBUTION) {
            internet = true;
            paths.push(Path {
                from: INTERNET.into(),
                to: id(&d.name),
                label: ":443".into(),
                relation: false,
            });
            for b in targets(d, "origin") {
                paths.push(Path {
                    from: id(&d.name),
                    to: id(b),
                    label: "origin (signed)".into(),
                    relation: false,
                });
            }
        }
        for n in of_kind(names::NODE_GROUP) {
            for c in targets(n, "cluster") {
                paths.push(Path {
                    from: id(&n.name),
                    to: id(c),
                    label: "joins".into(),
                    relation: true,
                });
            }
        }
        for a in of_kind(names::ALARM) {
            for t in targets(a, "actions") {
                paths.push(Path {
                    from: id(&a.name),
                    to: id(t),
                    label: "notifies".into(),
                    relation: true,
                });
            }
        }
        paths.sort();
        paths.dedup();
        Architecture {
            stack: stack.to_string(),
            region: region.to_string(),
            internet,
            networks,
            regional,
            global,
            paths,
        }
    }
}
