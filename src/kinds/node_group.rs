//! EKS managed node group: cluster, role, subnets, instance types, disk (replacement);
//! scaling min/desired/max (in place), tags. Deleted before its cluster (it references it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::types::{NodegroupScalingConfig, NodegroupStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ec2::{client_token, desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind, Status, WaitPolicy};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "node_group";

/// Instance types offered for managed node groups (the common ones).
pub const INSTANCE_TYPES: &[&str] = &[
    "t3.micro", "t3.small", "t3.medium", "t3.large", "t3.xlarge", "t3a.small", "t3a.medium", "t3a.large", "t4g.small", "t4g.medium",
    "t4g.large", "m5.large", "m5.xlarge", "m6i.large", "m6i.xlarge", "m6g.large", "m7i.large", "m7g.large", "c5.large", "c6i.large",
    "c7g.large", "r5.large", "r6i.large",
];

#[derive(Deserialize)]
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

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "node_groups"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        if spec.min_size < 0 || spec.max_size < 1 {
            cx.error("max_size", "a node group has min_size >= 0 and max_size >= 1");
        }
        if !(spec.min_size <= spec.desired_size && spec.desired_size <= spec.max_size) {
            cx.error(
                "desired_size",
                format!("scaling needs min_size <= desired_size <= max_size, not {} <= {} <= {}", spec.min_size, spec.desired_size, spec.max_size),
            );
        }
        if spec.instance_types.is_empty() {
            cx.error("instance_types", "give at least one instance type");
        }
        for (i, t) in spec.instance_types.iter().enumerate() {
            if !INSTANCE_TYPES.contains(&t.as_str()) {
                cx.error_hint(&format!("instance_types[{i}]"), format!("`{t}` is not an instance type for node groups"), "for example t3.small or t3.medium");
            }
        }
        let arm = spec.instance_types.iter().any(|t| t.contains("g."));
        let x86 = spec.instance_types.iter().any(|t| !t.contains("g."));
        if arm && x86 {
            cx.error("instance_types", "a node group cannot mix ARM (Graviton) and x86 instance types");
        }
        if !(1..=16384).contains(&spec.disk_size) {
            cx.error("disk_size", "disk size is 1 to 16384 GiB");
        }
        let subnets: Vec<Value> = spec.subnets.iter().enumerate().map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[super::subnet::KIND])).collect();
        let mut types = spec.instance_types.clone();
        types.sort();
        let mut props = Props::new();
        props.insert("nodegroup_name".into(), cx.physical_name(name).into());
        props.insert("cluster".into(), cx.reference("cluster", &spec.cluster, &[super::eks_cluster::KIND]));
        props.insert("role".into(), cx.reference_attr("role", &spec.role, "arn", &[super::iam_role::KIND]));
        props.insert("subnets".into(), subnets.into());
        props.insert("instance_types".into(), types.into());
        props.insert("disk_size".into(), spec.disk_size.into());
        props.insert("scaling".into(), json!({"min": spec.min_size, "desired": spec.desired_size, "max": spec.max_size}));
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn scaling(props: &Props) -> NodegroupScalingConfig {
    let s = props.get("scaling").cloned().unwrap_or(Value::Null);
    let n = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(1) as i32;
    NodegroupScalingConfig::builder().min_size(n("min")).desired_size(n("desired")).max_size(n("max")).build()
}

fn observe(cx: &Context, cluster: &str, n: &aws_sdk_eks::types::Nodegroup) -> Option<Observed> {
    let tags: BTreeMap<String, String> = n.tags().cloned().unwrap_or_default().into_iter().collect();
    if tags.get(TAG_STACK) != Some(&cx.stack) || n.status() == Some(&NodegroupStatus::Deleting) {
        return None;
    }
    let mut subnets = n.subnets().to_vec();
    subnets.sort();
    let mut types = n.instance_types().to_vec();
    types.sort();
    let sc = n.scaling_config();
    let mut o = Observed::new(KIND, tags.get(TAG_NAME)?.clone(), n.nodegroup_name()?)
        .with_prop("nodegroup_name", n.nodegroup_name()?)
        .with_prop("cluster", cluster)
        .with_prop("role", n.node_role().unwrap_or_default())
        .with_prop("subnets", subnets)
        .with_prop("instance_types", types)
        .with_prop("disk_size", n.disk_size().unwrap_or(20))
        .with_prop(
            "scaling",
            json!({"min": sc.and_then(|s| s.min_size()), "desired": sc.and_then(|s| s.desired_size()), "max": sc.and_then(|s| s.max_size())}),
        )
        .with_prop("tags", serde_json::to_value(&tags).unwrap_or(Value::Null))
        .with_output("arn", n.nodegroup_arn().unwrap_or_default())
        .with_output("cluster", cluster);
    if matches!(n.status(), Some(NodegroupStatus::CreateFailed | NodegroupStatus::DeleteFailed)) {
        o.failed = n.status().map(|s| s.as_str().to_string());
    }
    Some(o)
}

/// The stack's node groups in one cluster (called by the cluster kind's discovery).
pub async fn discover_in(cx: &Context, cluster: &str) -> Result<Vec<Observed>, CloudError> {
    let names: Vec<String> = cx
        .aws
        .eks
        .list_nodegroups()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| err("eks:ListNodegroups", e))?;
    let mut out = Vec::new();
    for n in &names {
        let d = cx.aws.eks.describe_nodegroup().cluster_name(cluster).nodegroup_name(n).send().await.map_err(|e| err("eks:DescribeNodegroup", e))?;
        if let Some(o) = d.nodegroup().and_then(|ng| observe(cx, cluster, ng)) {
            out.push(o);
        }
    }
    Ok(out)
}

impl Cloud {
    async fn describe(&self, cluster: &str, name: &str) -> Result<Option<aws_sdk_eks::types::Nodegroup>, CloudError> {
        match self.0.aws.eks.describe_nodegroup().cluster_name(cluster).nodegroup_name(name).send().await.map_err(|e| err("eks:DescribeNodegroup", e)) {
            Err(e) if e.has_code("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(e),
            Ok(o) => Ok(o.nodegroup),
        }
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["nodegroup_name", "cluster", "role", "subnets", "instance_types", "disk_size"]
    }

    fn normalize(&self, props: &mut Props) {
        super::sort_string_lists(props, &["subnets", "instance_types"]);
    }

    fn needs_wait(&self) -> bool {
        true
    }

    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            timeout: Duration::from_secs(30 * 60),
            first_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        Ok(Vec::new()) // listed with their clusters: see `discover_in`
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let cluster = str_prop(props, "cluster")?.to_string();
        let ng = str_prop(props, "nodegroup_name")?.to_string();
        let res = super::retry_iam_propagation(|| async {
            self.0
                .aws
                .eks
                .create_nodegroup()
                .cluster_name(&cluster)
                .nodegroup_name(&ng)
                .node_role(str_prop(props, "role")?)
                .set_subnets(Some(super::sorted_strings(props, "subnets")))
                .set_instance_types(Some(super::sorted_strings(props, "instance_types")))
                .disk_size(props.get("disk_size").and_then(Value::as_i64).unwrap_or(20) as i32)
                .scaling_config(scaling(props))
                .client_request_token(client_token(&self.0.stack, name, props))
                .set_tags(Some(desired_tags(props).into_iter().collect()))
                .send()
                .await
                .map_err(|e| err("eks:CreateNodegroup", e))
        })
        .await;
        let n = match res {
            Ok(out) => out.nodegroup,
            Err(e) if e.has_code("ResourceInUseException") => self.describe(&cluster, &ng).await?,
            Err(e) => return Err(e),
        };
        let mut o = n.as_ref().and_then(|n| observe(&self.0, &cluster, n)).unwrap_or_else(|| Observed::new(KIND, name, &ng).with_output("cluster", &cluster));
        o.name = name.to_string();
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let eks = &self.0.aws.eks;
        let cluster = str_prop(props, "cluster")?;
        if changed.iter().any(|c| c == "scaling") {
            eks.update_nodegroup_config()
                .cluster_name(cluster)
                .nodegroup_name(&current.id)
                .scaling_config(scaling(props))
                .send()
                .await
                .map_err(|e| err("eks:UpdateNodegroupConfig", e))?;
        }
        if changed.iter().any(|c| c == "tags") {
            let arn = current.outputs.get("arn").cloned().unwrap_or_default();
            let (w, unset) = super::tag_diff(&current.props, props);
            if !unset.is_empty() {
                eks.untag_resource().resource_arn(&arn).set_tag_keys(Some(unset)).send().await.map_err(|e| err("eks:UntagResource", e))?;
            }
            eks.tag_resource().resource_arn(&arn).set_tags(Some(w.into_iter().collect())).send().await.map_err(|e| err("eks:TagResource", e))?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let cluster = current.outputs.get("cluster").cloned().unwrap_or_default();
        match self.0.aws.eks.delete_nodegroup().cluster_name(&cluster).nodegroup_name(&current.id).send().await.map_err(|e| err("eks:DeleteNodegroup", e)) {
            Err(e) if e.has_code("ResourceNotFoundException") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        let cluster = current.outputs.get("cluster").cloned().unwrap_or_default();
        let Some(n) = self.describe(&cluster, &current.id).await? else {
            return Ok(Status::Missing);
        };
        Ok(match n.status() {
            Some(NodegroupStatus::Active) => Status::Ready,
            Some(s @ (NodegroupStatus::CreateFailed | NodegroupStatus::DeleteFailed | NodegroupStatus::Degraded)) => {
                let issues: Vec<String> = n.health().map(|h| h.issues().iter().filter_map(|i| i.message().map(str::to_string)).collect()).unwrap_or_default();
                Status::Failed(format!("{}{}", s.as_str(), if issues.is_empty() { String::new() } else { format!(": {}", issues.join("; ")) }))
            }
            Some(s) => Status::Pending(s.as_str().to_lowercase()),
            None => Status::Pending("unknown".into()),
        })
    }
}
