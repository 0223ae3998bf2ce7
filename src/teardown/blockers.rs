//! What else sits in the stack's network and would block its teardown.
//!
//! Three sorts:
//! - made for the stack by AWS or by its own Kubernetes cluster (detached interfaces left
//!   by load balancers, ECS tasks or the EKS network plugin; load balancers and security
//!   groups the cluster's controllers created, tagged with the cluster's name): removed by
//!   `down` without asking, as part of the stack;
//! - managed by AWS and removed by AWS once their owner is gone (interfaces of a NAT
//!   gateway, a load balancer, a node being terminated): waited for;
//! - foreign: not tagged as the stack's and not made for it (a subnet, a group, an
//!   interface, an instance, a load balancer someone added; a rule in another group that
//!   refers to one of the stack's groups). Never touched unless `--force`; without it,
//!   `down` stops before deleting anything and names them.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, IpPermission, UserIdGroupPair};

use crate::aws::{err, is_not_found};
use crate::engine::CloudError;
use crate::kinds::support::retry::{already_done, retry_in_use};
use crate::kinds::Context;
use crate::model::TAG_STACK;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sort {
    /// Made for the stack: removed with it.
    Derived,
    /// Someone else's: named, removed only with `--force`.
    Foreign,
}

/// One thing in the way, in the order it has to go.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Item {
    LoadBalancer {
        arn: String,
    },
    Instance {
        id: String,
    },
    /// Rules of `group` that refer to one of the stack's groups.
    Rules {
        group: String,
        ingress: Vec<IpPerm>,
        egress: Vec<IpPerm>,
    },
    Interface {
        id: String,
    },
    Group {
        id: String,
    },
    Subnet {
        id: String,
    },
}

/// An `IpPermission` reduced to what identifies a group-reference rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IpPerm {
    protocol: String,
    from: Option<i32>,
    to: Option<i32>,
    group: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Blocker {
    pub sort: Sort,
    pub item: Item,
    /// What it is, for people: "security group sg-1 (bastion)".
    pub what: String,
}

/// The stack's network, as `down` found it.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    pub vpcs: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub subnets: BTreeSet<String>,
    /// Names of the stack's EKS clusters (their controllers tag what they create).
    pub clusters: BTreeSet<String>,
    /// `namespace/name` of the stack's Services and Ingresses: `down` deletes them, and
    /// their load balancers go with them (left to Kubernetes, not swept).
    pub services: BTreeSet<String>,
}

fn tag_map<'a>(
    tags: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    tags.filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string())))
        .collect()
}

/// The security group EKS makes for one of the stack's clusters: in use by the cluster
/// while it exists, and deleted by EKS with it.
fn eks_cluster_group(tags: &BTreeMap<String, String>, clusters: &BTreeSet<String>) -> bool {
    tags.get("aws:eks:cluster-name")
        .is_some_and(|c| clusters.contains(c))
}

/// The interfaces of a cluster's control plane, in use as long as the cluster exists.
fn control_plane(description: &str, clusters: &BTreeSet<String>) -> bool {
    description
        .strip_prefix("Amazon EKS ")
        .is_some_and(|c| clusters.contains(c))
}

/// Made by one of the stack's Kubernetes clusters (load balancer controller, cloud
/// provider) or by EKS for it.
fn cluster_made(tags: &BTreeMap<String, String>, clusters: &BTreeSet<String>) -> bool {
    clusters.iter().any(|c| {
        tags.get("elbv2.k8s.aws/cluster") == Some(c)
            || tags.get("eks:cluster-name") == Some(c)
            || tags.get("aws:eks:cluster-name") == Some(c)
            || tags.contains_key(&format!("kubernetes.io/cluster/{c}"))
    })
}

/// A load balancer Kubernetes made for one of the stack's Services or Ingresses: deleting
/// that object removes it (its finalizer waits for it), so the sweep leaves it alone rather
/// than race the cloud controller.
fn left_to_kubernetes(tags: &BTreeMap<String, String>, services: &BTreeSet<String>) -> bool {
    ["kubernetes.io/service-name", "ingress.k8s.aws/stack"]
        .iter()
        .any(|k| tags.get(*k).is_some_and(|v| services.contains(v)))
}

fn ours(tags: &BTreeMap<String, String>, stack: &str) -> bool {
    tags.get(TAG_STACK).map(String::as_str) == Some(stack)
}

/// Interfaces services leave behind, detached, once their task, node or balancer is gone.
fn service_leftover(description: &str) -> bool {
    [
        "aws-K8S-",
        "arn:aws:ecs:",
        "ELB ",
        "Amazon EKS ",
        "AWS Lambda VPC ENI",
    ]
    .iter()
    .any(|p| description.starts_with(p))
}

fn vpc_filter(scope: &Scope) -> Filter {
    Filter::builder()
        .name("vpc-id")
        .set_values(Some(scope.vpcs.iter().cloned().collect()))
        .build()
}

/// Everything in the stack's VPCs, or referring to its groups, that is not the stack's.
pub async fn find(cx: &Context, scope: &Scope) -> Result<Vec<Blocker>, CloudError> {
    let mut out = Vec::new();
    if scope.vpcs.is_empty() && scope.groups.is_empty() {
        return Ok(out);
    }
    let ec2 = &cx.aws.ec2;
    let stack = cx.stack();
    let mut derived_groups = BTreeSet::new();
    // Every read at once (each one listing or a few batches): the scan costs one round
    // trip, not seven.
    let in_vpcs = !scope.vpcs.is_empty();
    let ids: Vec<String> = scope.groups.iter().cloned().collect();
    let balancers = async {
        if !in_vpcs {
            return Ok((Vec::new(), BTreeMap::new()));
        }
        // Load balancers in the VPCs (one listing, then tags in batches of 20).
        let lbs: Vec<_> = cx
            .aws
            .elb
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e))?
            .into_iter()
            .filter(|lb| lb.vpc_id().is_some_and(|v| scope.vpcs.contains(v)))
            .collect();
        let arns: Vec<String> = lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let batches = arns.chunks(20).map(|chunk| {
            cx.aws
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
        });
        let mut tags_of: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for t in futures::future::try_join_all(batches)
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeTags", e))?
        {
            for d in t.tag_descriptions() {
                tags_of.insert(
                    d.resource_arn().unwrap_or_default().to_string(),
                    tag_map(d.tags().iter().map(|t| (t.key(), t.value()))),
                );
            }
        }
        Ok::<_, CloudError>((lbs, tags_of))
    };
    // One paginated EC2 listing of what is in the stack's VPCs (nothing without VPCs).
    macro_rules! in_vpcs {
        ($call:ident, $error:expr) => {
            async {
                if !in_vpcs {
                    return Ok(Vec::new());
                }
                ec2.$call()
                    .filters(vpc_filter(scope))
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .map_err($error)
            }
        };
    }
    let reservations = in_vpcs!(describe_instances, |e| err("ec2:DescribeInstances", e));
    let groups = in_vpcs!(describe_security_groups, |e| {
        err("ec2:DescribeSecurityGroups", e)
    });
    let interfaces = in_vpcs!(describe_network_interfaces, |e| {
        err("ec2:DescribeNetworkInterfaces", e)
    });
    let subnets = in_vpcs!(describe_subnets, |e| err("ec2:DescribeSubnets", e));
    // Groups anywhere with rules (in or out) that refer to the stack's groups.
    let referring = |filter: &'static str| {
        let ids = ids.clone();
        async move {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            ec2.describe_security_groups()
                .filters(Filter::builder().name(filter).set_values(Some(ids)).build())
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| err("ec2:DescribeSecurityGroups", e))
        }
    };
    let ((lbs, tags_of), reservations, groups, interfaces, subnets, refer_in, refer_out) = tokio::try_join!(
        balancers,
        reservations,
        groups,
        interfaces,
        subnets,
        referring("ip-permission.group-id"),
        referring("egress.ip-permission.group-id"),
    )?;
    {
        for lb in &lbs {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let tags = tags_of.get(&arn).cloned().unwrap_or_default();
            if ours(&tags, stack) || left_to_kubernetes(&tags, &scope.services) {
                continue;
            }
            let sort = if cluster_made(&tags, &scope.clusters) {
                Sort::Derived
            } else {
                Sort::Foreign
            };
            let name = lb.load_balancer_name().unwrap_or("?");
            out.push(Blocker {
                sort,
                what: format!("load balancer {name} ({arn})"),
                item: Item::LoadBalancer { arn },
            });
        }

        // Instances (not yet terminated).
        let mut instances = BTreeSet::new();
        for r in &reservations {
            for i in r.instances() {
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str())
                    .unwrap_or("");
                if matches!(state, "terminated" | "shutting-down") {
                    continue;
                }
                let id = i.instance_id().unwrap_or_default().to_string();
                instances.insert(id.clone());
                let tags = tag_map(i.tags().iter().map(|t| (t.key(), t.value())));
                // The stack's node groups' instances go with their node group.
                if ours(&tags, stack) || cluster_made(&tags, &scope.clusters) {
                    continue;
                }
                out.push(Blocker {
                    sort: Sort::Foreign,
                    what: format!("instance {id}"),
                    item: Item::Instance { id },
                });
            }
        }

        // Security groups in the VPCs that are not the stack's.
        for g in &groups {
            let id = g.group_id().unwrap_or_default().to_string();
            let tags = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
            // The cluster's own group goes with the cluster (AWS deletes it): never swept.
            if g.group_name() == Some("default")
                || scope.groups.contains(&id)
                || ours(&tags, stack)
                || eks_cluster_group(&tags, &scope.clusters)
            {
                continue;
            }
            let sort = if cluster_made(&tags, &scope.clusters) {
                Sort::Derived
            } else {
                Sort::Foreign
            };
            if sort == Sort::Derived {
                derived_groups.insert(id.clone());
            }
            out.push(Blocker {
                sort,
                what: format!("security group {id} ({})", g.group_name().unwrap_or("?")),
                item: Item::Group { id },
            });
        }

        // Network interfaces.
        for n in &interfaces {
            let id = n.network_interface_id().unwrap_or_default().to_string();
            let tags = tag_map(n.tag_set().iter().map(|t| (t.key(), t.value())));
            let description = n.description().unwrap_or_default();
            let detached = n.status().map(|s| s.as_str()) == Some("available");
            let attached_to_instance = n
                .attachment()
                .and_then(|a| a.instance_id())
                .is_some_and(|i| instances.contains(i));
            let aws_managed = n.requester_managed() == Some(true)
                || (!detached && control_plane(description, &scope.clusters))
                || n.interface_type()
                    .is_some_and(|t| t.as_str() != "interface")
                || n.attachment()
                    .and_then(|a| a.instance_owner_id())
                    .is_some_and(|o| o.starts_with("amazon") || o == "aws");
            if ours(&tags, stack) || attached_to_instance {
                continue;
            }
            let what = format!(
                "network interface {id} ({})",
                if description.is_empty() {
                    "no description"
                } else {
                    description
                }
            );
            if detached && (service_leftover(description) || cluster_made(&tags, &scope.clusters)) {
                out.push(Blocker {
                    sort: Sort::Derived,
                    what,
                    item: Item::Interface { id },
                });
            } else if !aws_managed {
                out.push(Blocker {
                    sort: Sort::Foreign,
                    what,
                    item: Item::Interface { id },
                });
            }
            // AWS-managed and in use: AWS removes it with its owner; deletes wait for it.
        }

        // Subnets that are not the stack's.
        for s in &subnets {
            let id = s.subnet_id().unwrap_or_default().to_string();
            let tags = tag_map(s.tags().iter().map(|t| (t.key(), t.value())));
            if scope.subnets.contains(&id) || ours(&tags, stack) {
                continue;
            }
            out.push(Blocker {
                sort: Sort::Foreign,
                what: format!("subnet {id} ({})", s.cidr_block().unwrap_or("?")),
                item: Item::Subnet { id },
            });
        }
    }

    // Rules in other groups (any VPC) that refer to the stack's groups.
    {
        let mut referring = BTreeMap::new();
        for g in refer_in.into_iter().chain(refer_out) {
            referring.insert(g.group_id().unwrap_or_default().to_string(), g);
        }
        for (id, g) in referring {
            let tags = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
            // The stack's own groups' rules go with the stack; a derived group goes whole.
            if scope.groups.contains(&id)
                || ours(&tags, stack)
                || derived_groups.contains(&id)
                || eks_cluster_group(&tags, &scope.clusters)
            {
                continue;
            }
            let pick = |perms: &[IpPermission]| -> Vec<IpPerm> {
                let mut v = Vec::new();
                for p in perms {
                    for pair in p.user_id_group_pairs() {
                        if let Some(gid) = pair.group_id().filter(|gid| scope.groups.contains(*gid))
                        {
                            v.push(IpPerm {
                                protocol: p.ip_protocol().unwrap_or("-1").to_string(),
                                from: p.from_port(),
                                to: p.to_port(),
                                group: gid.to_string(),
                            });
                        }
                    }
                }
                v
            };
            let (ingress, egress) = (pick(g.ip_permissions()), pick(g.ip_permissions_egress()));
            if ingress.is_empty() && egress.is_empty() {
                continue;
            }
            let refs: BTreeSet<&str> = ingress
                .iter()
                .chain(egress.iter())
                .map(|p| p.group.as_str())
                .collect();
            let sort = if cluster_made(&tags, &scope.clusters) {
                Sort::Derived
            } else {
                Sort::Foreign
            };
            out.push(Blocker {
                sort,
                what: format!(
                    "rules in security group {id} ({}) referring to {}",
                    g.group_name().unwrap_or("?"),
                    refs.into_iter().collect::<Vec<_>>().join(", ")
                ),
                item: Item::Rules {
                    group: id,
                    ingress,
                    egress,
                },
            });
        }
    }
    out.sort_by(|a, b| a.item.cmp(&b.item));
    Ok(out)
}

fn permission(p: &IpPerm) -> IpPermission {
    IpPermission::builder()
        .ip_protocol(&p.protocol)
        .set_from_port(p.from)
        .set_to_port(p.to)
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(&p.group).build())
        .build()
}

fn gone<T>(r: Result<T, CloudError>) -> Result<(), CloudError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Remove blockers, in the order they have to go (balancers and instances first, then
/// rules, interfaces, groups, subnets). Waits for load balancers and instances to be gone.
/// Revoke the rules that refer to group `id` in the stack's groups and in `swept` ones.
async fn revoke_references(
    cx: &Context,
    id: &str,
    swept: &BTreeSet<&str>,
) -> Result<(), CloudError> {
    let ec2 = &cx.aws.ec2;
    for (filter, egress) in [
        ("ip-permission.group-id", false),
        ("egress.ip-permission.group-id", true),
    ] {
        let found = ec2
            .describe_security_groups()
            .filters(Filter::builder().name(filter).values(id).build())
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("ec2:DescribeSecurityGroups", e))?;
        for g in found {
            let gid = g.group_id().unwrap_or_default();
            let tags = tag_map(g.tags().iter().map(|t| (t.key(), t.value())));
            if gid == id || !(ours(&tags, cx.stack()) || swept.contains(gid)) {
                continue;
            }
            let perms = if egress {
                g.ip_permissions_egress()
            } else {
                g.ip_permissions()
            };
            let refs: Vec<IpPermission> = perms
                .iter()
                .flat_map(|p| {
                    p.user_id_group_pairs()
                        .iter()
                        .filter(|pair| pair.group_id() == Some(id))
                        .map(|_| {
                            permission(&IpPerm {
                                protocol: p.ip_protocol().unwrap_or("-1").to_string(),
                                from: p.from_port(),
                                to: p.to_port(),
                                group: id.to_string(),
                            })
                        })
                })
                .collect();
            if refs.is_empty() {
                continue;
            }
            let codes = ["InvalidPermission.NotFound", "InvalidGroup.NotFound"];
            if egress {
                let r = ec2
                    .revoke_security_group_egress()
                    .group_id(gid)
                    .set_ip_permissions(Some(refs))
                    .send()
                    .await
                    .map_err(|e| err("ec2:RevokeSecurityGroupEgress", e));
                already_done(r, &codes)?;
            } else {
                let r = ec2
                    .revoke_security_group_ingress()
                    .group_id(gid)
                    .set_ip_permissions(Some(refs))
                    .send()
                    .await
                    .map_err(|e| err("ec2:RevokeSecurityGroupIngress", e));
                already_done(r, &codes)?;
            }
        }
    }
    Ok(())
}

pub async fn clear(cx: &Context, blockers: &[Blocker]) -> Result<(), CloudError> {
    let ec2 = &cx.aws.ec2;
    let mut balancers = Vec::new();
    let mut instances = Vec::new();
    for b in blockers {
        tracing::info!("removing {}", b.what);
        match &b.item {
            Item::LoadBalancer { arn } => {
                gone(
                    cx.aws
                        .elb
                        .delete_load_balancer()
                        .load_balancer_arn(arn)
                        .send()
                        .await
                        .map_err(|e| err("elasticloadbalancing:DeleteLoadBalancer", e)),
                )?;
                balancers.push(arn.clone());
            }
            Item::Instance { id } => {
                gone(
                    ec2.terminate_instances()
                        .instance_ids(id)
                        .send()
                        .await
                        .map_err(|e| err("ec2:TerminateInstances", e)),
                )?;
                instances.push(id.clone());
            }
            _ => {}
        }
    }
    wait_gone(cx, &balancers, &instances).await?;
    for b in blockers {
        match &b.item {
            Item::Rules {
                group,
                ingress,
                egress,
            } => {
                if !ingress.is_empty() {
                    let r = ec2
                        .revoke_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(ingress.iter().map(permission).collect()))
                        .send()
                        .await
                        .map_err(|e| err("ec2:RevokeSecurityGroupIngress", e));
                    already_done(r, &["InvalidPermission.NotFound", "InvalidGroup.NotFound"])?;
                }
                if !egress.is_empty() {
                    let r = ec2
                        .revoke_security_group_egress()
                        .group_id(group)
                        .set_ip_permissions(Some(egress.iter().map(permission).collect()))
                        .send()
                        .await
                        .map_err(|e| err("ec2:RevokeSecurityGroupEgress", e));
                    already_done(r, &["InvalidPermission.NotFound", "InvalidGroup.NotFound"])?;
                }
            }
            Item::Interface { id } => {
                gone(
                    ec2.delete_network_interface()
                        .network_interface_id(id)
                        .send()
                        .await
                        .map_err(|e| err("ec2:DeleteNetworkInterface", e)),
                )?;
            }
            _ => {}
        }
    }
    let swept: BTreeSet<&str> = blockers
        .iter()
        .filter_map(|b| match &b.item {
            Item::Group { id } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    for b in blockers {
        match &b.item {
            Item::Group { id } => {
                // AWS refuses to delete a group other groups' rules refer to: those rules
                // go first, where the group holding them is the stack's or swept too.
                revoke_references(cx, id, &swept).await?;
                let r = retry_in_use(cx.options.dependency_wait, || async {
                    ec2.delete_security_group()
                        .group_id(id)
                        .send()
                        .await
                        .map_err(|e| err("ec2:DeleteSecurityGroup", e))
                })
                .await;
                gone(r)?;
            }
            Item::Subnet { id } => {
                let r = retry_in_use(cx.options.dependency_wait, || async {
                    ec2.delete_subnet()
                        .subnet_id(id)
                        .send()
                        .await
                        .map_err(|e| err("ec2:DeleteSubnet", e))
                })
                .await;
                gone(r)?;
            }
            _ => {}
        }
    }
    Ok(())
}

async fn wait_gone(
    cx: &Context,
    balancers: &[String],
    instances: &[String],
) -> Result<(), CloudError> {
    let deadline = tokio::time::Instant::now()
        + cx.options
            .dependency_wait
            .max(std::time::Duration::from_secs(60));
    let mut interval = std::time::Duration::from_secs(2);
    loop {
        let mut left = Vec::new();
        if !balancers.is_empty() {
            let r = cx
                .aws
                .elb
                .describe_load_balancers()
                .set_load_balancer_arns(Some(balancers.to_vec()))
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e));
            match r {
                Ok(out) => left.extend(
                    out.load_balancers()
                        .iter()
                        .filter_map(|l| l.load_balancer_arn().map(str::to_string)),
                ),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if !instances.is_empty() {
            let out = cx
                .aws
                .ec2
                .describe_instances()
                .set_instance_ids(Some(instances.to_vec()))
                .send()
                .await
                .map_err(|e| err("ec2:DescribeInstances", e))?;
            for r in out.reservations() {
                for i in r.instances() {
                    if i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated") {
                        left.push(i.instance_id().unwrap_or_default().to_string());
                    }
                }
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CloudError::new(
                "waiting for blockers to go",
                format!("still there: {}", left.join(", ")),
            )
            .with_code("WaitTimeout"));
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(std::time::Duration::from_secs(15));
    }
}

#[cfg(test)]
mod kubernetes_tests {
    use super::*;

    #[test]
    fn a_load_balancer_of_a_service_the_stack_deletes_is_left_to_kubernetes() {
        let services = BTreeSet::from(["default/frontend".to_string()]);
        let tags = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(left_to_kubernetes(
            &tags("kubernetes.io/service-name", "default/frontend"),
            &services
        ));
        assert!(left_to_kubernetes(
            &tags("ingress.k8s.aws/stack", "default/frontend"),
            &services
        ));
        assert!(!left_to_kubernetes(
            &tags("kubernetes.io/service-name", "default/other"),
            &services
        ));
        assert!(!left_to_kubernetes(
            &tags("kubernetes.io/cluster/app-web", "owned"),
            &services
        ));
    }
}
