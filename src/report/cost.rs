//! What a stack costs per month: each resource priced from the table kept in the
//! repository (`data/prices.json`: region, service, unit, price, source and the date it
//! was read), under usage assumptions the output names; and what would lower the bill.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::target;
use crate::engine::Props;
use crate::kinds::names;

/// Hours in an average month (365 × 24 / 12).
pub const MONTH_HOURS: f64 = 730.0;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub about: String,
    pub currency: String,
    pub source: String,
    pub read: String,
    pub free_tier: FreeTier,
    pub regions: BTreeMap<String, Prices>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeTier {
    pub ec2_t_micro_hours: f64,
    pub rds_micro_hours: f64,
    pub rds_storage_gb: f64,
    pub cloudfront_gb: f64,
    pub cloudwatch_alarms: f64,
    pub logs_gb: f64,
    pub ecr_gb: f64,
    pub s3_gb: f64,
    pub budgets: f64,
    pub sns_email: f64,
    pub note: String,
}

/// One region's prices: hourly rates per hour, storage per GB-month, transfer per GB.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub ec2_hour: BTreeMap<String, f64>,
    pub rds_hour: BTreeMap<String, f64>,
    pub rds_storage_gb_month: BTreeMap<String, f64>,
    pub rds_iops_month: BTreeMap<String, f64>,
    pub rds_extended_support_vcpu_hour: f64,
    pub secret_month: f64,
    pub eks_cluster_hour: f64,
    pub eks_extended_cluster_hour: f64,
    pub fargate_vcpu_hour: f64,
    pub fargate_gb_hour: f64,
    pub alb_hour: f64,
    pub alb_lcu_hour: f64,
    pub nat_hour: f64,
    pub nat_gb: f64,
    pub public_ipv4_hour: f64,
    pub ebs_gp3_gb_month: f64,
    pub s3_gb_month: f64,
    pub cloudfront_gb: f64,
    pub cloudfront_10k_https: f64,
    pub cloudwatch_alarm_month: f64,
    pub logs_ingest_gb: f64,
    pub logs_storage_gb_month: f64,
    pub ecr_gb_month: f64,
    pub sns_email_100k: f64,
    pub budget_month: f64,
}

/// The table kept in the repository.
pub fn table() -> Table {
    // Checked by the tests (shape, every region complete): a broken table never ships.
    serde_json::from_str(include_str!("../../data/prices.json"))
        .unwrap_or_else(|e| panic!("data/prices.json does not parse: {e}"))
}

/// How the stack is used: the assumptions every figure depends on, said with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// Hours the stack is up per month.
    pub hours: f64,
    /// How those hours were chosen (`always on`, `demo: 8 h a day, 5 days a week`).
    pub label: String,
    /// GB served to the internet per month (CloudFront, NAT processing).
    pub transfer_gb: f64,
    /// GB kept in buckets and repositories.
    pub stored_gb: f64,
    /// GB of logs written per month.
    pub logs_gb: f64,
}

impl Usage {
    pub fn always() -> Usage {
        Usage {
            hours: MONTH_HOURS,
            label: "always on (730 h/month)".into(),
            transfer_gb: 10.0,
            stored_gb: 5.0,
            logs_gb: 1.0,
        }
    }

    /// Up 8 hours a day, 5 days a week.
    pub fn demo() -> Usage {
        Usage {
            hours: 8.0 * 5.0 * 52.0 / 12.0,
            label: "demo: 8 h a day, 5 days a week (173 h/month)".into(),
            ..Usage::always()
        }
    }

    fn share(&self) -> f64 {
        self.hours / MONTH_HOURS
    }
}

/// One resource's monthly estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub name: String,
    pub kind: &'static str,
    pub monthly: f64,
    /// How it was computed (units and assumptions).
    pub detail: String,
    /// What the free tier covers of it, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_tier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub change: String,
    pub saving: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub region: String,
    pub usage: Usage,
    pub source: String,
    pub read: String,
    pub lines: Vec<Line>,
    pub total: f64,
    /// The stack's budget limits (USD a month).
    pub budgets: Vec<(String, f64)>,
    /// What the table has no price for (named, never silently zero).
    pub unpriced: Vec<String>,
    pub suggestions: Vec<Suggestion>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no prices for region {region} in data/prices.json (it has {known}); refresh the table with scripts/refresh-prices.py")]
pub struct NoPrices {
    pub region: String,
    pub known: String,
}

/// A resource to price: as the file wants it or as it exists (references by name or id).
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub kind: &'static str,
    pub name: &'a str,
    pub id: Option<&'a str>,
    pub props: &'a Props,
}

/// The item of `kind` a value refers to: by name (the file's references) or by id (what
/// exists refers by id or ARN, such as `...:task-definition/<family>:<revision>`).
pub fn refers<'a>(items: &'a [Item<'a>], kind: &str, v: Option<&Value>) -> Option<&'a Item<'a>> {
    let v = v?;
    let key = target(v).or_else(|| v.as_str())?;
    items.iter().filter(|i| i.kind == kind).find(|i| {
        i.name == key
            || i.id.is_some_and(|id| {
                !id.is_empty()
                    && (id == key || key.contains(&format!("/{id}")) || key.ends_with(id))
            })
    })
}

/// A rate as the table gives it: cents, or the fractions of a cent hourly rates have.
fn money(x: f64) -> String {
    if x >= 1.0 {
        return format!("${x:.2}");
    }
    let s = format!("{x:.5}");
    let s = s.trim_end_matches('0');
    let decimals = s.split_once('.').map_or(0, |(_, d)| d.len());
    format!("${s}{}", "0".repeat(2usize.saturating_sub(decimals)))
}

fn p_text<'a>(p: &'a Props, f: &str) -> &'a str {
    p.get(f).and_then(Value::as_str).unwrap_or("")
}

fn p_num(p: &Props, f: &str) -> f64 {
    match p.get(f) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn p_bool(p: &Props, f: &str) -> bool {
    p.get(f).and_then(Value::as_bool) == Some(true)
}

/// vCPUs of the instance classes the suggestions and extended support need.
fn vcpus(class: &str) -> f64 {
    let size = class.rsplit('.').next().unwrap_or("");
    match size {
        "micro" | "small" | "medium" | "large" => 2.0,
        "xlarge" => 4.0,
        s => s
            .strip_suffix("xlarge")
            .and_then(|n| n.parse::<f64>().ok())
            .map_or(2.0, |n| n * 4.0),
    }
}

/// Moving from `class` to `other` when the table prices it lower: the saving is the hourly
/// difference over `instance_hours` (instances times hours).
fn cheaper(
    rates: &BTreeMap<String, f64>,
    class: &str,
    other: Option<String>,
    instance_hours: f64,
    change: impl Fn(&str) -> String,
) -> Option<Suggestion> {
    let other = other?;
    let (now, then) = (rates.get(class)?, rates.get(&other)?);
    (then < now).then(|| Suggestion {
        change: change(&other),
        saving: (now - then) * instance_hours,
    })
}

/// A smaller class enough for a demo: burstable `small` for databases and nodes larger
/// than that (a general-purpose class becomes the burstable Graviton one).
pub fn smaller(class: &str) -> Option<String> {
    let (prefix, rest) = match class.strip_prefix("db.") {
        Some(r) => ("db.", r),
        None => ("", class),
    };
    let (family, size) = rest.split_once('.')?;
    if matches!(size, "nano" | "micro" | "small") {
        return None;
    }
    let family = if family.starts_with('t') {
        family
    } else {
        "t4g"
    };
    Some(format!("{prefix}{family}.small"))
}

/// Whether anything in the subnets routed through a NAT gateway reaches out: services'
/// tasks, nodes and clusters (pulling images, calling AWS); databases answer only.
fn needs_nat(items: &[Item]) -> bool {
    let refs = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| target(x).or_else(|| x.as_str()).map(str::to_string))
                .collect(),
            Some(x) => target(x)
                .or_else(|| x.as_str())
                .map(str::to_string)
                .into_iter()
                .collect(),
            None => Vec::new(),
        }
    };
    let routed: Vec<String> = items
        .iter()
        .filter(|i| i.kind == names::ROUTE_TABLE)
        .filter(|t| {
            t.props
                .get("routes")
                .and_then(Value::as_array)
                .is_some_and(|rs| rs.iter().any(|r| r.get("nat_gateway").is_some()))
        })
        .flat_map(|t| refs(t.props.get("subnets")))
        .collect();
    items
        .iter()
        .filter(|i| {
            matches!(
                i.kind,
                names::ECS_SERVICE | names::NODE_GROUP | names::EKS_CLUSTER
            )
        })
        .any(|i| {
            refs(i.props.get("subnets"))
                .iter()
                .any(|s| routed.contains(s))
        })
}

/// The Graviton (arm64) class of the same size, where the table prices one.
pub fn graviton(class: &str) -> Option<String> {
    let (prefix, rest) = match class.strip_prefix("db.") {
        Some(r) => ("db.", r),
        None => ("", class),
    };
    let (family, size) = rest.split_once('.')?;
    let arm = match family {
        "t3" | "t3a" | "t2" => "t4g",
        "m5" | "m5a" | "m6i" => "m6g",
        "c5" | "c6i" => "c6g",
        _ => return None,
    };
    Some(format!("{prefix}{arm}.{size}"))
}

pub fn estimate(
    table: &Table,
    region: &str,
    usage: &Usage,
    items: &[Item],
) -> Result<Estimate, NoPrices> {
    let Some(p) = table.regions.get(region) else {
        return Err(NoPrices {
            region: region.to_string(),
            known: table.regions.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    };
    let h = usage.hours;
    let share = usage.share();
    let mut lines = Vec::new();
    let mut unpriced = Vec::new();
    let mut suggestions = Vec::new();
    let mut budgets = Vec::new();
    let mut line = |i: &Item, monthly: f64, detail: String, free: Option<String>| {
        lines.push(Line {
            name: i.name.to_string(),
            kind: i.kind,
            monthly,
            detail,
            free_tier: free,
        });
    };
    let alarms = items.iter().filter(|i| i.kind == names::ALARM).count() as f64;
    let nats = items
        .iter()
        .filter(|i| i.kind == names::NAT_GATEWAY)
        .count();
    let private_egress = needs_nat(items);
    for i in items {
        let props = i.props;
        match i.kind {
            names::NAT_GATEWAY => {
                let hours = p.nat_hour * h;
                let gb = p.nat_gb * usage.transfer_gb;
                line(
                    i,
                    hours + gb,
                    format!(
                        "{h:.0} h x {} + {} GB processed x {}",
                        money(p.nat_hour),
                        usage.transfer_gb,
                        money(p.nat_gb)
                    ),
                    None,
                );
                if !private_egress {
                    suggestions.push(Suggestion {
                        change: format!(
                            "no NAT gateway: nothing in the subnets routed through nat_gateways.{} runs (tasks, nodes, clusters need it to reach out; databases do not); drop it and its elastic IP",
                            i.name
                        ),
                        saving: hours + gb + p.public_ipv4_hour * h,
                    });
                } else if nats > 1 {
                    suggestions.push(Suggestion {
                        change: format!(
                            "one NAT gateway for the stack instead of {nats} (a demo does not need one per zone): drop nat_gateways.{}",
                            i.name
                        ),
                        saving: hours,
                    });
                }
            }
            names::ELASTIC_IP => line(
                i,
                p.public_ipv4_hour * h,
                format!(
                    "public IPv4 address, {h:.0} h x {}",
                    money(p.public_ipv4_hour)
                ),
                None,
            ),
            names::LOAD_BALANCER => {
                let zones = props
                    .get("subnets")
                    .and_then(Value::as_array)
                    .map_or(2, Vec::len) as f64;
                let ipv4 = if p_bool(props, "internal") {
                    0.0
                } else {
                    zones
                };
                line(
                    i,
                    (p.alb_hour + p.alb_lcu_hour + ipv4 * p.public_ipv4_hour) * h,
                    format!(
                        "ALB {h:.0} h x {} + 1 LCU x {} + {ipv4} public IPv4 x {}",
                        money(p.alb_hour),
                        money(p.alb_lcu_hour),
                        money(p.public_ipv4_hour)
                    ),
                    None,
                );
            }
            names::ECS_SERVICE => {
                let count = p_num(props, "desired_count");
                let task = refers(items, names::TASK_DEFINITION, props.get("task_definition"));
                let (cpu, mem) = task.map_or((0.25, 0.5), |t| {
                    (
                        p_num(t.props, "cpu") / 1024.0,
                        p_num(t.props, "memory") / 1024.0,
                    )
                });
                let per_task = cpu * p.fargate_vcpu_hour + mem * p.fargate_gb_hour;
                let ip = if p_bool(props, "assign_public_ip") {
                    p.public_ipv4_hour
                } else {
                    0.0
                };
                line(
                    i,
                    count * (per_task + ip) * h,
                    format!(
                        "{count} Fargate tasks x ({cpu} vCPU x {} + {mem} GB x {}) x {h:.0} h",
                        money(p.fargate_vcpu_hour),
                        money(p.fargate_gb_hour)
                    ),
                    None,
                );
            }
            names::DATABASE => {
                let class = p_text(props, "instance_class");
                let Some(rate) = p.rds_hour.get(class) else {
                    unpriced.push(format!("databases.{}: class {class}", i.name));
                    continue;
                };
                let az = if p_bool(props, "multi_az") { 2.0 } else { 1.0 };
                let storage_type = p_text(props, "storage_type");
                let gb = p_num(props, "allocated_storage");
                let storage = p
                    .rds_storage_gb_month
                    .get(storage_type)
                    .copied()
                    .unwrap_or(0.0);
                let iops = p_num(props, "iops");
                let iops_rate = p.rds_iops_month.get(storage_type).copied().unwrap_or(0.0);
                // gp3 includes 3,000 IOPS (12,000 from 400 GiB).
                let billed_iops = if storage_type == "gp3" {
                    (iops - if gb >= 400.0 { 12000.0 } else { 3000.0 }).max(0.0)
                } else {
                    iops
                };
                let extended = if p_bool(props, "extended_support") {
                    vcpus(class) * p.rds_extended_support_vcpu_hour * h
                } else {
                    0.0
                };
                let monthly = az * rate * h
                    + az * gb * storage * share
                    + billed_iops * iops_rate * share
                    + p.secret_month * share
                    + extended;
                let micro = class.ends_with(".micro") && az == 1.0;
                line(
                    i,
                    monthly,
                    format!(
                        "{class}{} {h:.0} h x {} + {gb} GB {storage_type} x {}{}{} + password secret {}",
                        if az > 1.0 { " Multi-AZ x 2" } else { "" },
                        money(*rate),
                        money(storage),
                        if billed_iops > 0.0 {
                            format!(" + {billed_iops} IOPS x {}", money(iops_rate))
                        } else {
                            String::new()
                        },
                        if extended > 0.0 { " + extended support" } else { "" },
                        money(p.secret_month)
                    ),
                    micro.then(|| {
                        format!(
                            "{} h of a micro class and {} GB a month for 12 months",
                            table.free_tier.rds_micro_hours, table.free_tier.rds_storage_gb
                        )
                    }),
                );
                suggestions.extend(cheaper(
                    &p.rds_hour,
                    class,
                    graviton(class),
                    az * h,
                    |arm| {
                        format!(
                            "databases.{}.instance_class: {arm} (Graviton) instead of {class}",
                            i.name
                        )
                    },
                ));
                suggestions.extend(cheaper(
                    &p.rds_hour,
                    class,
                    smaller(class),
                    az * h,
                    |small| {
                        format!(
                            "databases.{}.instance_class: {small} for a demo instead of {class}",
                            i.name
                        )
                    },
                ));
                if az > 1.0 {
                    suggestions.push(Suggestion {
                        change: format!(
                            "databases.{}.multi_az: false for a demo (one standby less)",
                            i.name
                        ),
                        saving: rate * h + gb * storage * share,
                    });
                }
            }
            names::EKS_CLUSTER => {
                let extended = p_bool(props, "extended_support");
                let rate = if extended {
                    p.eks_extended_cluster_hour
                } else {
                    p.eks_cluster_hour
                };
                line(
                    i,
                    rate * h,
                    format!(
                        "control plane {h:.0} h x {} ({} support)",
                        money(rate),
                        if extended { "extended" } else { "standard" }
                    ),
                    None,
                );
                if extended {
                    suggestions.push(Suggestion {
                        change: format!(
                            "eks_clusters.{}: a version in standard support, extended_support: false",
                            i.name
                        ),
                        saving: (p.eks_extended_cluster_hour - p.eks_cluster_hour) * h,
                    });
                }
            }
            names::NODE_GROUP => {
                let types: Vec<&str> = props
                    .get("instance_types")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let first = types.first().copied().unwrap_or("");
                let desired = props
                    .get("scaling")
                    .and_then(|s| s.get("desired"))
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0);
                let disk = p_num(props, "disk_size").max(20.0);
                let Some(rate) = p.ec2_hour.get(first) else {
                    unpriced.push(format!("node_groups.{}: instance type {first}", i.name));
                    continue;
                };
                line(
                    i,
                    desired * (rate * h + disk * p.ebs_gp3_gb_month * share),
                    format!(
                        "{desired} x {first} {h:.0} h x {} + {disk} GB disk x {}",
                        money(*rate),
                        money(p.ebs_gp3_gb_month)
                    ),
                    None,
                );
                suggestions.extend(cheaper(
                    &p.ec2_hour,
                    first,
                    smaller(first),
                    desired * h,
                    |small| {
                        format!(
                        "node_groups.{}.instance_types: [{small}] for a demo instead of {first}",
                        i.name
                    )
                    },
                ));
                suggestions.extend(cheaper(&p.ec2_hour, first, graviton(first), desired * h, |arm| {
                    format!(
                        "node_groups.{}.instance_types: [{arm}] (Graviton; an arm64 image) instead of {first}",
                        i.name
                    )
                }));
            }
            names::BUCKET => line(
                i,
                usage.stored_gb * p.s3_gb_month * share,
                format!("{} GB stored x {}", usage.stored_gb, money(p.s3_gb_month)),
                Some(format!("{} GB for 12 months", table.free_tier.s3_gb)),
            ),
            names::ECR_REPOSITORY => line(
                i,
                1.0 * p.ecr_gb_month * share,
                format!("1 GB of images x {}", money(p.ecr_gb_month)),
                Some(format!("{} GB for 12 months", table.free_tier.ecr_gb)),
            ),
            names::DISTRIBUTION => {
                let requests = usage.transfer_gb * 100.0; // about 10 kB a request
                line(
                    i,
                    usage.transfer_gb * p.cloudfront_gb * share
                        + requests / 10_000.0 * p.cloudfront_10k_https * share,
                    format!(
                        "{} GB out x {} + {requests:.0} HTTPS requests",
                        usage.transfer_gb,
                        money(p.cloudfront_gb)
                    ),
                    Some(format!(
                        "{} GB and 10 million requests a month, always",
                        table.free_tier.cloudfront_gb
                    )),
                );
            }
            names::LOG_GROUP => {
                let retention = p_num(i.props, "retention_days");
                let kept_gb = if retention > 0.0 {
                    usage.logs_gb * (retention / 30.0).min(12.0)
                } else {
                    usage.logs_gb * 12.0
                };
                line(
                    i,
                    (usage.logs_gb * p.logs_ingest_gb + kept_gb * p.logs_storage_gb_month) * share,
                    format!(
                        "{} GB written x {} + {kept_gb:.1} GB kept x {}",
                        usage.logs_gb,
                        money(p.logs_ingest_gb),
                        money(p.logs_storage_gb_month)
                    ),
                    Some(format!("{} GB a month, always", table.free_tier.logs_gb)),
                );
                if retention <= 0.0 {
                    suggestions.push(Suggestion {
                        change: format!(
                            "log_groups.{}.retention_days: 14 (kept forever now; the figure is after a year)",
                            i.name
                        ),
                        saving: (kept_gb - usage.logs_gb * 14.0 / 30.0)
                            * p.logs_storage_gb_month
                            * share,
                    });
                }
            }
            names::ALARM => line(
                i,
                p.cloudwatch_alarm_month * share,
                format!("standard alarm x {}", money(p.cloudwatch_alarm_month)),
                (alarms <= table.free_tier.cloudwatch_alarms).then(|| {
                    format!(
                        "{} alarms a month, always (this stack has {alarms})",
                        table.free_tier.cloudwatch_alarms
                    )
                }),
            ),
            names::SNS_TOPIC => line(
                i,
                0.0,
                format!("email deliveries: {} per 100,000", money(p.sns_email_100k)),
                Some(format!(
                    "{} emails a month, always",
                    table.free_tier.sns_email
                )),
            ),
            names::BUDGET => {
                budgets.push((i.name.to_string(), p_num(props, "limit_usd")));
                line(
                    i,
                    p.budget_month,
                    "budget with alerts".into(),
                    Some(format!("{} budgets, always", table.free_tier.budgets)),
                );
            }
            // No charge of their own.
            _ => {}
        }
    }
    // `+ 0.0`: an empty sum is -0.0, printed "$-0.00".
    let total = lines.iter().map(|l| l.monthly).sum::<f64>() + 0.0;
    if usage.hours >= MONTH_HOURS {
        let demo = Usage::demo();
        let hourly = total * (1.0 - demo.share());
        if hourly > 1.0 {
            suggestions.push(Suggestion {
                change: "run it for demos only: `down` after each (8 h a day, 5 days a week), `up` again before".into(),
                saving: hourly,
            });
        }
    }
    suggestions.sort_by(|a, b| b.saving.total_cmp(&a.saving));
    suggestions.retain(|s| s.saving >= 0.01);
    lines.sort_by(|a, b| b.monthly.total_cmp(&a.monthly).then(a.name.cmp(&b.name)));
    Ok(Estimate {
        region: region.to_string(),
        usage: usage.clone(),
        source: table.source.clone(),
        read: table.read.clone(),
        lines,
        total,
        budgets,
        unpriced,
        suggestions,
    })
}

/// Items from the file's resources.
pub fn of_desired(resources: &[crate::engine::Desired]) -> Vec<Item<'_>> {
    resources
        .iter()
        .map(|d| Item {
            kind: d.kind,
            name: &d.name,
            id: None,
            props: &d.props,
        })
        .collect()
}

/// Items from what exists.
pub fn of_observed(resources: &[crate::engine::Observed]) -> Vec<Item<'_>> {
    resources
        .iter()
        .map(|o| Item {
            kind: o.kind,
            name: &o.name,
            id: Some(&o.id),
            props: &o.props,
        })
        .collect()
}

/// Kinds priced above.
pub const PRICED: &[&str] = &[
    names::NAT_GATEWAY,
    names::ELASTIC_IP,
    names::LOAD_BALANCER,
    names::ECS_SERVICE,
    names::DATABASE,
    names::EKS_CLUSTER,
    names::NODE_GROUP,
    names::BUCKET,
    names::ECR_REPOSITORY,
    names::DISTRIBUTION,
    names::LOG_GROUP,
    names::ALARM,
    names::SNS_TOPIC,
    names::BUDGET,
];

/// Kinds AWS does not charge for (what runs in them is priced with what runs).
pub const NO_CHARGE: &[&str] = &[
    names::VPC,
    names::SUBNET,
    names::INTERNET_GATEWAY,
    names::ROUTE_TABLE,
    names::SECURITY_GROUP,
    names::SECURITY_GROUP_RULES,
    names::TARGET_GROUP,
    names::LISTENER,
    names::ECS_CLUSTER,
    names::TASK_DEFINITION,
    names::EKS_ACCESS,
    names::DB_SUBNET_GROUP,
    names::BUCKET_POLICY,
    names::ORIGIN_ACCESS_CONTROL,
    names::IAM_ROLE,
    names::OIDC_PROVIDER,
    // Its Service of type LoadBalancer makes a load balancer AWS bills; it is Kubernetes's,
    // not the stack file's, and the estimate does not count it.
    names::KUBERNETES_OBJECT,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_priced_or_free_and_every_region_prices_the_same_things() {
        for m in crate::kinds::models() {
            let k = m.kind();
            assert!(
                PRICED.contains(&k) != NO_CHARGE.contains(&k),
                "{k}: priced or free, exactly one"
            );
        }
        let t = table();
        for want in ["eu-west-3", "eu-west-1", "us-east-1"] {
            assert!(t.regions.contains_key(want), "{want}");
        }
        let first = t.regions.values().next().expect("a region");
        for (region, p) in &t.regions {
            let keys = |m: &BTreeMap<String, f64>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&p.ec2_hour), keys(&first.ec2_hour), "{region}");
            assert_eq!(keys(&p.rds_hour), keys(&first.rds_hour), "{region}");
            assert_eq!(
                keys(&p.rds_storage_gb_month),
                keys(&first.rds_storage_gb_month),
                "{region}"
            );
            assert!(p
                .ec2_hour
                .values()
                .chain(p.rds_hour.values())
                .all(|v| *v > 0.0));
            // Every Graviton suggestion has its price.
            for class in p.ec2_hour.keys().chain(p.rds_hour.keys()) {
                if let Some(arm) = graviton(class) {
                    assert!(
                        p.ec2_hour.contains_key(&arm) || p.rds_hour.contains_key(&arm),
                        "{region}: {class} -> {arm} unpriced"
                    );
                }
            }
        }
        assert!(t.read.len() >= 7 && !t.source.is_empty());
    }

    #[test]
    fn rates_keep_their_fractions_of_a_cent() {
        assert_eq!(money(0.052), "$0.052");
        assert_eq!(money(0.0236), "$0.0236");
        assert_eq!(money(0.1), "$0.10");
        assert_eq!(money(0.004445), "$0.00445");
        assert_eq!(money(73.0), "$73.00");
    }

    #[test]
    fn smaller_classes_for_a_demo() {
        assert_eq!(smaller("db.m5.large").as_deref(), Some("db.t4g.small"));
        assert_eq!(smaller("t3.large").as_deref(), Some("t3.small"));
        assert_eq!(smaller("db.t3.micro"), None);
        assert_eq!(smaller("t3.small"), None);
    }

    #[test]
    fn graviton_classes_keep_the_size() {
        assert_eq!(graviton("db.t3.micro").as_deref(), Some("db.t4g.micro"));
        assert_eq!(graviton("t3.small").as_deref(), Some("t4g.small"));
        assert_eq!(graviton("m5.large").as_deref(), Some("m6g.large"));
        assert_eq!(graviton("t4g.small"), None);
    }
}
