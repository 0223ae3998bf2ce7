//! EKS managed node group: cluster, role, subnets, instance types, disk (replacement);
//! scaling min/desired/max (in place), tags. Found through the stack's clusters, and
//! deleted before its cluster (it references it).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::types::{Nodegroup, NodegroupScalingConfig, NodegroupStatus};
use serde::{Deserialize, Serialize};

use super::{tags_of, EksTags, NOT_FOUND};
use crate::aws::err;
use crate::engine::{
    CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Status, WaitPolicy,
};
use crate::kinds::names;
use crate::kinds::support::retry::{client_token, retry_iam_propagation};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &[
        "nodegroup_name",
        "cluster",
        "role",
        "subnets",
        "instance_types",
        "disk_size",
    ],
    parent: Some(names::EKS_CLUSTER),
    wait: Some(
        WaitPolicy::new(
            Duration::from_secs(30 * 60),
            Duration::from_secs(2),
            Duration::from_secs(30),
        )
        .expecting(Duration::from_secs(180))
        .gone_within(Duration::from_secs(300)),
    ),
    ..KindInfo::new(names::NODE_GROUP, "node_groups", "eks")
};

/// EC2 instance families (the letters before the generation) node groups run on.
const FAMILIES: &[&str] = &[
    "t", "m", "c", "r", "x", "z", "i", "d", "g", "p", "inf", "trn", "hpc", "im", "is", "u",
];

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    cluster: String,
    role: String,
    subnets: Vec<String>,
    instance_types: Vec<String>,
    min_size: i32,
    desired_size: i32,
    max_size: i32,
    #[serde(default = "twenty")]
    disk_size: i32,
}

fn twenty() -> i32 {
    20
}

/// Scaling as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub min: i32,
    pub desired: i32,
    pub max: i32,
}

/// What is compared; `R` names other resources (references, then ids and ARNs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub nodegroup_name: String,
    pub cluster: R,
    pub role: R,
    pub subnets: Vec<R>,
    pub instance_types: Vec<String>,
    pub disk_size: i32,
    pub scaling: Scaling,
    pub tags: Tags,
}

/// An EC2 instance type as a form: `<family><generation><attributes>.<size>`. Whether
/// the region offers it is AWS's catalog's to say.
pub fn check_instance_type(t: &str) -> Result<(), String> {
    let bad = || format!("`{t}` is not an instance type (like t3.small or m7g.large)");
    let (family, size) = t.split_once('.').ok_or_else(bad)?;
    let letters: String = family
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    let generation = &family[letters.len()..];
    let size_ok = [
        "nano", "micro", "small", "medium", "large", "xlarge", "metal",
    ]
    .contains(&size)
        || size
            .strip_suffix("xlarge")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        || size.starts_with("metal-");
    if !FAMILIES.contains(&letters.as_str())
        || !generation.starts_with(|c: char| c.is_ascii_digit())
        || !size_ok
    {
        return Err(bad());
    }
    Ok(())
}

/// Graviton (ARM) types carry a `g` among the attributes after the generation digit.
fn arm(t: &str) -> bool {
    let family = t.split('.').next().unwrap_or("");
    let attrs = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let attrs = attrs.trim_start_matches(|c: char| c.is_ascii_digit());
    attrs.contains('g')
}

pub struct Model;

impl KindModel for Model {
    fn schema(&self, g: &mut schemars::SchemaGenerator) -> Option<schemars::Schema> {
        Some(g.subschema_for::<Spec>())
    }

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml_ng::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let group_name = cx.physical_name(name);
        if group_name.len() > 63 {
            cx.error(
                "",
                format!("the node group name `{group_name}` is longer than EKS's 63 characters"),
            );
        }
        if spec.min_size < 0 || spec.max_size < 1 {
            cx.error(
                "max_size",
                "a node group has min_size >= 0 and max_size >= 1",
            );
        }
        if !(spec.min_size <= spec.desired_size && spec.desired_size <= spec.max_size) {
            cx.error(
                "desired_size",
                format!(
                    "scaling needs min_size <= desired_size <= max_size, not {} <= {} <= {}",
                    spec.min_size, spec.desired_size, spec.max_size
                ),
            );
        }
        if spec.instance_types.is_empty() {
            cx.error("instance_types", "give at least one instance type");
        }
        for (i, t) in spec.instance_types.iter().enumerate() {
            if let Err(m) = check_instance_type(t) {
                cx.error_hint(
                    &format!("instance_types[{i}]"),
                    m,
                    "for example t3.small or t3.medium",
                );
            }
        }
        let arms = spec.instance_types.iter().filter(|t| arm(t)).count();
        if arms > 0 && arms < spec.instance_types.len() {
            cx.error(
                "instance_types",
                "a node group cannot mix ARM (Graviton) and x86 instance types",
            );
        }
        if !(1..=16384).contains(&spec.disk_size) {
            cx.error("disk_size", "disk size is 1 to 16384 GiB");
        }
        let subnets = spec
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[names::SUBNET]))
            .collect();
        let mut instance_types = spec.instance_types.clone();
        instance_types.sort();
        let props = Props {
            nodegroup_name: group_name,
            cluster: cx.reference("cluster", &spec.cluster, &[names::EKS_CLUSTER]),
            role: cx.reference_attr("role", &spec.role, "arn", &[names::IAM_ROLE]),
            subnets,
            instance_types,
            disk_size: spec.disk_size,
            scaling: Scaling {
                min: spec.min_size,
                desired: spec.desired_size,
                max: spec.max_size,
            },
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(NodeGroup(cx.clone()))]
}

pub struct NodeGroup(pub Arc<Context>);

fn scaling(s: &Scaling) -> NodegroupScalingConfig {
    NodegroupScalingConfig::builder()
        .min_size(s.min)
        .desired_size(s.desired)
        .max_size(s.max)
        .build()
}

impl NodeGroup {
    async fn describe(&self, cluster: &str, name: &str) -> Result<Option<Nodegroup>, CloudError> {
        match self
            .0
            .aws
            .eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .map_err(|e| err("eks:DescribeNodegroup", e))
        {
            Err(e) if e.has_code(NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
            Ok(o) => Ok(o.nodegroup),
        }
    }
}

#[async_trait]
impl Kind for NodeGroup {
    type Props = Props;
    type Remote = Nodegroup;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn normalize(p: &mut Props) {
        p.subnets.sort();
        p.instance_types.sort();
    }

    async fn list(&self, clusters: &[Observed]) -> Result<Vec<Nodegroup>, CloudError> {
        let mut out = Vec::new();
        for cluster in clusters {
            let names: Vec<String> = self
                .0
                .aws
                .eks
                .list_nodegroups()
                .cluster_name(&cluster.id)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| err("eks:ListNodegroups", e))?;
            for n in &names {
                out.extend(self.describe(&cluster.id, n).await?);
            }
        }
        Ok(out)
    }

    fn observe(&self, n: &Nodegroup) -> Option<Found<Props>> {
        let tags = tags_of(n.tags());
        let name = identity(&tags, self.0.stack())?;
        let mut subnets = n.subnets().to_vec();
        subnets.sort();
        let mut instance_types = n.instance_types().to_vec();
        instance_types.sort();
        let sc = n.scaling_config();
        let cluster = n.cluster_name()?;
        let props = Props {
            nodegroup_name: n.nodegroup_name()?.to_string(),
            cluster: cluster.to_string(),
            role: n.node_role().unwrap_or_default().to_string(),
            subnets,
            instance_types,
            disk_size: n.disk_size().unwrap_or(20),
            scaling: Scaling {
                min: sc.and_then(|s| s.min_size()).unwrap_or(0),
                desired: sc.and_then(|s| s.desired_size()).unwrap_or(0),
                max: sc.and_then(|s| s.max_size()).unwrap_or(0),
            },
            tags,
        };
        let mut f = Found::new(name, n.nodegroup_name()?, props)
            .output("arn", n.nodegroup_arn().unwrap_or_default());
        if matches!(
            n.status(),
            Some(NodegroupStatus::CreateFailed | NodegroupStatus::DeleteFailed)
        ) {
            f.failed = n.status().map(|s| s.as_str().to_string());
        }
        f.deleting = n.status() == Some(&NodegroupStatus::Deleting);
        Some(f)
    }

    async fn find(&self, current: &Found<Props>) -> Result<Option<Nodegroup>, CloudError> {
        self.describe(&current.props.cluster, &current.id).await
    }

    fn state(&self, n: &Nodegroup) -> Status {
        match n.status() {
            Some(NodegroupStatus::Active) => Status::Ready,
            Some(
                s @ (NodegroupStatus::CreateFailed
                | NodegroupStatus::DeleteFailed
                | NodegroupStatus::Degraded),
            ) => {
                let issues: Vec<String> = n
                    .health()
                    .map(|h| {
                        h.issues()
                            .iter()
                            .filter_map(|i| i.message().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                Status::Failed(if issues.is_empty() {
                    s.as_str().to_string()
                } else {
                    format!("{}: {}", s.as_str(), issues.join("; "))
                })
            }
            Some(s) => Status::Pending(s.as_str().to_lowercase()),
            None => Status::Pending("unknown".into()),
        }
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let token = client_token(self.0.stack(), name);
        let res = retry_iam_propagation(|| async {
            self.0
                .aws
                .eks
                .create_nodegroup()
                .cluster_name(&want.cluster)
                .nodegroup_name(&want.nodegroup_name)
                .node_role(&want.role)
                .set_subnets(Some(want.subnets.clone()))
                .set_instance_types(Some(want.instance_types.clone()))
                .disk_size(want.disk_size)
                .scaling_config(scaling(&want.scaling))
                .client_request_token(&token)
                .set_tags(Some(want.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(|e| err("eks:CreateNodegroup", e))
        })
        .await;
        let n = match res {
            Ok(out) => out.nodegroup,
            Err(e) if e.has_code("ResourceInUseException") => {
                self.describe(&want.cluster, &want.nodegroup_name).await?
            }
            Err(e) => return Err(e),
        };
        let found = n
            .as_ref()
            .and_then(|n| self.observe(n))
            .unwrap_or_else(|| Found::new(name, &want.nodegroup_name, want.clone()));
        Ok(Found {
            name: name.to_string(),
            props: want.clone(),
            ..found
        })
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let eks = &self.0.aws.eks;
        if current.props.scaling != want.scaling {
            eks.update_nodegroup_config()
                .cluster_name(&want.cluster)
                .nodegroup_name(&current.id)
                .scaling_config(scaling(&want.scaling))
                .send()
                .await
                .map_err(|e| err("eks:UpdateNodegroupConfig", e))?;
        }
        let arn = current.outputs.get("arn").cloned().unwrap_or_default();
        sync_tags(&EksTags(eks), &arn, &current.props.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        if current.deleting {
            return Ok(Deletion::Started);
        }
        match self
            .0
            .aws
            .eks
            .delete_nodegroup()
            .cluster_name(&current.props.cluster)
            .nodegroup_name(&current.id)
            .send()
            .await
            .map_err(|e| err("eks:DeleteNodegroup", e))
        {
            Err(e) if e.has_code(NOT_FOUND) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Started),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};

    #[test]
    fn a_described_node_group_is_what_the_file_wants() {
        let file = "iam_roles:\n  eks: {trust: [eks.amazonaws.com]}\n  nodes: {trust: [ec2.amazonaws.com]}\nvpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  priv-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  priv-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\neks_clusters:\n  web: {version: '1.34', role: eks, subnets: [priv-a, priv-b]}\nnode_groups:\n  workers: {cluster: web, role: nodes, subnets: [priv-a, priv-b], instance_types: [t3.small], min_size: 1, desired_size: 2, max_size: 3}\n";
        let n = Nodegroup::builder()
            .nodegroup_name("app-workers")
            .nodegroup_arn("arn:aws:eks:eu-west-3:1:nodegroup/app-web/app-workers/1")
            .cluster_name(out("web", "id"))
            .node_role(out("nodes", "arn"))
            .subnets(out("priv-a", "id"))
            .subnets(out("priv-b", "id"))
            .instance_types("t3.small")
            .disk_size(20)
            .status(NodegroupStatus::Active)
            .scaling_config(scaling(&Scaling {
                min: 1,
                desired: 2,
                max: 3,
            }))
            .set_tags(Some(
                testing::identity_tags("workers").into_iter().collect(),
            ))
            .build();
        assert_observes(NodeGroup(context()), &n, file, "workers");
        assert_eq!(NodeGroup(context()).state(&n), Status::Ready);
    }

    #[test]
    fn instance_type_forms() {
        for t in [
            "t3.small",
            "m7g.large",
            "c6gn.2xlarge",
            "r6id.metal",
            "inf2.xlarge",
        ] {
            assert!(check_instance_type(t).is_ok(), "{t}");
        }
        for t in ["t3", "q5.large", "t3.huge", "small"] {
            assert!(check_instance_type(t).is_err(), "{t}");
        }
        assert!(arm("t4g.small") && arm("c6gn.large") && !arm("t3.small") && !arm("m7i.large"));
    }
}
