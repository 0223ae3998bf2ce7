//! `provision list`: the stacks in the account, found from their tags alone (no stack
//! file): one tagging-API listing per region, the lock of each stack, and the classes of
//! what is billed by the hour (databases in one call per region, node groups one each).
//! What `down --stack` and `down --expired` start from.

use std::collections::BTreeMap;

use aws_sdk_resourcegroupstagging::types::TagFilter;
use serde::Serialize;

use super::Error;
use crate::aws::{err, Aws, Settings};
use crate::model::expiry::{self, TAG_EXPIRES};
use crate::model::{TAG_CREATED, TAG_REGION, TAG_STACK};

/// One stack, as its tags show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StackSummary {
    pub name: String,
    pub region: String,
    /// Resources the tagging API lists (regional ones, and global ones homed here that
    /// it indexes).
    pub resources: usize,
    /// The earliest `provision:created`.
    pub created: Option<String>,
    /// The earliest `provision:expires`.
    pub expires: Option<String>,
    pub expired: bool,
    /// Who holds the stack's lock, if anyone.
    pub lock: Option<String>,
    /// What its hourly-billed resources cost per day (NAT gateways, public addresses, load
    /// balancers, EKS clusters, databases, node groups; not usage, not Fargate tasks).
    pub cost_per_day: Option<f64>,
}

/// A region's tagged resources: ARN and tags.
type Tagged = Vec<(String, BTreeMap<String, String>)>;

async fn tagged(aws: &Aws) -> Result<Tagged, Error> {
    let mut out = Vec::new();
    let mut pages = aws
        .tagging
        .get_resources()
        .tag_filters(TagFilter::builder().key(TAG_STACK).build())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err("tagging:GetResources", e))?;
        for m in page.resource_tag_mapping_list() {
            let Some(arn) = m.resource_arn() else {
                continue;
            };
            let tags = m
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            out.push((arn.to_string(), tags));
        }
    }
    Ok(out)
}

/// The stacks of one region.
pub async fn in_region(settings: &Settings, region: &str) -> Result<Vec<StackSummary>, Error> {
    let aws = Aws::connect(&Settings {
        region: region.to_string(),
        ..settings.clone()
    })
    .await;
    let mut found = tagged(&aws).await?;
    // NAT gateways stay listed for a while once deleted: those are not the stack's any more.
    let nat_ids: Vec<String> = found
        .iter()
        .filter_map(|(arn, _)| arn.split_once(":natgateway/").map(|(_, id)| id.to_string()))
        .collect();
    if !nat_ids.is_empty() {
        let gone = gone_nat_gateways(&aws, nat_ids).await?;
        found.retain(|(arn, _)| {
            !arn.split_once(":natgateway/")
                .is_some_and(|(_, id)| gone.contains(&id.to_string()))
        });
    }
    let mut by_stack: BTreeMap<String, Tagged> = BTreeMap::new();
    for (arn, tags) in found {
        // A global resource of a stack homed elsewhere is that stack's.
        if tags.get(TAG_REGION).is_some_and(|r| r != region) {
            continue;
        }
        if let Some(stack) = tags.get(TAG_STACK) {
            by_stack.entry(stack.clone()).or_default().push((arn, tags));
        }
    }
    let prices = crate::report::cost::table().regions.get(region).cloned();
    let classes = if by_stack
        .values()
        .flatten()
        .any(|(arn, _)| arn.contains(":rds:") && arn.contains(":db:"))
    {
        database_classes(&aws).await?
    } else {
        BTreeMap::new()
    };
    let now = crate::clock::now_secs();
    let mut out = Vec::new();
    for (name, resources) in by_stack {
        let created = resources
            .iter()
            .filter_map(|(_, t)| t.get(TAG_CREATED))
            .min()
            .cloned();
        let expires = resources
            .iter()
            .filter_map(|(_, t)| t.get(TAG_EXPIRES))
            .min()
            .cloned();
        let lock = match crate::lock::holder(&crate::lock::Ssm::new(aws.ssm.clone(), &name)).await?
        {
            None => None,
            Some(Ok(h)) => Some(h.describe()),
            Some(Err(raw)) => Some(format!("unreadable lock {raw:?}")),
        };
        let cost_per_day = match &prices {
            Some(p) => Some(hourly(&aws, p, &resources, &classes).await? * 24.0),
            None => None,
        };
        out.push(StackSummary {
            expired: expires.as_deref().is_some_and(|e| expiry::is_past(e, now)),
            name,
            region: region.to_string(),
            resources: resources.len(),
            created,
            expires,
            lock,
            cost_per_day,
        });
    }
    Ok(out)
}

/// The stacks of several regions, each region asked at once.
pub async fn stacks(settings: &Settings, regions: &[String]) -> Result<Vec<StackSummary>, Error> {
    let asks = regions.iter().map(|r| in_region(settings, r));
    let found = futures::future::try_join_all(asks).await?;
    let mut all: Vec<StackSummary> = found.into_iter().flatten().collect();
    all.sort_by(|a, b| (&a.name, &a.region).cmp(&(&b.name, &b.region)));
    Ok(all)
}

/// The regions enabled for the account (opted-in ones included).
pub async fn enabled_regions(settings: &Settings) -> Result<Vec<String>, Error> {
    let aws = Aws::connect(settings).await;
    let answer = aws
        .ec2
        .describe_regions()
        .send()
        .await
        .map_err(|e| err("ec2:DescribeRegions", e))?;
    let mut regions: Vec<String> = answer
        .regions()
        .iter()
        .filter_map(|r| r.region_name().map(str::to_string))
        .collect();
    regions.sort();
    Ok(regions)
}

/// Which of these NAT gateways are deleted, being deleted or forgotten, in one call.
async fn gone_nat_gateways(aws: &Aws, ids: Vec<String>) -> Result<Vec<String>, Error> {
    use aws_sdk_ec2::types::NatGatewayState;
    let answer = aws
        .ec2
        .describe_nat_gateways()
        // A filter, not ids: one that AWS has already forgotten fails no call.
        .filter(
            aws_sdk_ec2::types::Filter::builder()
                .name("nat-gateway-id")
                .set_values(Some(ids.clone()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| err("ec2:DescribeNatGateways", e))?;
    let live: Vec<&str> = answer
        .nat_gateways()
        .iter()
        .filter(|n| {
            !matches!(
                n.state(),
                Some(
                    NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed
                )
            )
        })
        .filter_map(|n| n.nat_gateway_id())
        .collect();
    Ok(ids
        .into_iter()
        .filter(|id| !live.contains(&id.as_str()))
        .collect())
}

/// Database ARN -> (class, Multi-AZ), in one call.
async fn database_classes(aws: &Aws) -> Result<BTreeMap<String, (String, bool)>, Error> {
    let mut out = BTreeMap::new();
    let mut pages = aws.rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err("rds:DescribeDBInstances", e))?;
        for db in page.db_instances() {
            if let (Some(arn), Some(class)) = (db.db_instance_arn(), db.db_instance_class()) {
                out.insert(
                    arn.to_string(),
                    (class.to_string(), db.multi_az().unwrap_or(false)),
                );
            }
        }
    }
    Ok(out)
}

/// What a stack's hourly-billed resources cost per hour.
async fn hourly(
    aws: &Aws,
    p: &crate::report::cost::Prices,
    resources: &Tagged,
    classes: &BTreeMap<String, (String, bool)>,
) -> Result<f64, Error> {
    let mut total = 0.0;
    for (arn, _) in resources {
        let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
        if arn.contains(":ec2:") && resource.starts_with("natgateway/") {
            total += p.nat_hour;
        } else if arn.contains(":ec2:") && resource.starts_with("elastic-ip/") {
            total += p.public_ipv4_hour;
        } else if arn.contains(":elasticloadbalancing:") && resource.starts_with("loadbalancer/") {
            total += p.alb_hour;
        } else if arn.contains(":eks:") && resource.starts_with("cluster/") {
            total += p.eks_cluster_hour;
        } else if arn.contains(":rds:") && resource.starts_with("db:") {
            if let Some((class, multi_az)) = classes.get(arn) {
                let rate = p.rds_hour.get(class).copied().unwrap_or(0.0);
                total += if *multi_az { 2.0 * rate } else { rate };
            }
        } else if arn.contains(":eks:") && resource.starts_with("nodegroup/") {
            // nodegroup/<cluster>/<name>/<id>
            let parts: Vec<&str> = resource.split('/').collect();
            if let [_, cluster, name, ..] = parts[..] {
                let ng = aws
                    .eks
                    .describe_nodegroup()
                    .cluster_name(cluster)
                    .nodegroup_name(name)
                    .send()
                    .await
                    .map_err(|e| err("eks:DescribeNodegroup", e))?;
                if let Some(ng) = ng.nodegroup() {
                    let count = ng
                        .scaling_config()
                        .and_then(|s| s.desired_size())
                        .unwrap_or(0);
                    let rate = ng
                        .instance_types()
                        .first()
                        .and_then(|t| p.ec2_hour.get(t))
                        .copied()
                        .unwrap_or(0.0);
                    total += f64::from(count) * rate;
                }
            }
        }
    }
    Ok(total)
}
