//! EKS cluster: name, role, subnets and security groups (replacement); Kubernetes version,
//! endpoint access and control-plane logging (in place), tags. Takes 10-15 minutes to
//! become ACTIVE on AWS: the wait shows its progress. Its discovery also lists its node
//! groups (see `node_group::discover_in`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::types::{ClusterStatus, LogSetup, LogType, Logging, VpcConfigRequest};
use serde::Deserialize;
use serde_json::Value;

use super::ec2::{bool_prop, client_token, desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind, Status, WaitPolicy};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "eks_cluster";

/// Kubernetes versions EKS offers.
pub const VERSIONS: &[&str] = &["1.28", "1.29", "1.30", "1.31", "1.32", "1.33"];
const LOG_TYPES: &[&str] = &["api", "audit", "authenticator", "controllerManager", "scheduler"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    version: String,
    role: String,
    subnets: Vec<String>,
    #[serde(default)]
    security_groups: Vec<String>,
    #[serde(default = "yes")]
    endpoint_public_access: bool,
    #[serde(default = "yes")]
    endpoint_private_access: bool,
    #[serde(default)]
    logging: Vec<String>,
}

fn yes() -> bool {
    true
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "eks_clusters"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn stateful(&self) -> bool {
        true
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn", "endpoint"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let cluster = cx.physical_name(name);
        if cluster.len() > 100 {
            cx.error("", "an EKS cluster name is at most 100 characters");
        }
        if !VERSIONS.contains(&spec.version.as_str()) {
            cx.error_hint("version", format!("EKS has no Kubernetes {}", spec.version), format!("versions: {}", VERSIONS.join(", ")));
        }
        if spec.subnets.len() < 2 {
            cx.error("subnets", "an EKS cluster needs subnets in at least two zones");
        }
        if !spec.endpoint_public_access && !spec.endpoint_private_access {
            cx.error("endpoint_private_access", "the cluster endpoint must be reachable somehow: enable public or private access");
        }
        let mut logging = Vec::new();
        for (i, l) in spec.logging.iter().enumerate() {
            if !LOG_TYPES.contains(&l.as_str()) {
                cx.error(&format!("logging[{i}]"), format!("unknown log type `{l}`: use {}", LOG_TYPES.join(", ")));
            }
            logging.push(l.clone());
        }
        logging.sort();
        logging.dedup();
        let subnets: Vec<Value> = spec.subnets.iter().enumerate().map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[super::subnet::KIND])).collect();
        let groups: Vec<Value> = spec
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| cx.reference(&format!("security_groups[{i}]"), g, &[super::security_group::KIND]))
            .collect();
        let mut props = Props::new();
        props.insert("cluster_name".into(), cluster.into());
        props.insert("version".into(), spec.version.into());
        props.insert("role".into(), cx.reference_attr("role", &spec.role, "arn", &[super::iam_role::KIND]));
        props.insert("subnets".into(), subnets.into());
        props.insert("security_groups".into(), groups.into());
        props.insert("endpoint_public_access".into(), spec.endpoint_public_access.into());
        props.insert("endpoint_private_access".into(), spec.endpoint_private_access.into());
        props.insert("logging".into(), logging.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn logging(props: &Props) -> Logging {
    let on = super::sorted_strings(props, "logging");
    let off: Vec<LogType> = LOG_TYPES.iter().filter(|t| !on.iter().any(|o| o == *t)).map(|t| LogType::from(*t)).collect();
    let mut setups = vec![LogSetup::builder().set_types(Some(on.iter().map(|t| LogType::from(t.as_str())).collect())).enabled(true).build()];
    if !off.is_empty() {
        setups.push(LogSetup::builder().set_types(Some(off)).enabled(false).build());
    }
    Logging::builder().set_cluster_logging(Some(setups)).build()
}

impl Cloud {
    async fn describe(&self, name: &str) -> Result<Option<aws_sdk_eks::types::Cluster>, CloudError> {
        match self.0.aws.eks.describe_cluster().name(name).send().await.map_err(|e| err("eks:DescribeCluster", e)) {
            Err(e) if e.has_code("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(e),
            Ok(o) => Ok(o.cluster),
        }
    }

    fn observe(&self, c: &aws_sdk_eks::types::Cluster) -> Option<Observed> {
        let tags: BTreeMap<String, String> = c.tags().cloned().unwrap_or_default().into_iter().collect();
        if tags.get(TAG_STACK) != Some(&self.0.stack) || c.status() == Some(&ClusterStatus::Deleting) {
            return None;
        }
        let vpc = c.resources_vpc_config();
        let mut subnets: Vec<String> = vpc.map(|v| v.subnet_ids().to_vec()).unwrap_or_default();
        subnets.sort();
        let mut groups: Vec<String> = vpc.map(|v| v.security_group_ids().to_vec()).unwrap_or_default();
        groups.sort();
        let mut logging: Vec<String> = c
            .logging()
            .map(|l| l.cluster_logging().iter().filter(|s| s.enabled() == Some(true)).flat_map(|s| s.types().iter().map(|t| t.as_str().to_string())).collect())
            .unwrap_or_default();
        logging.sort();
        let mut o = Observed::new(KIND, tags.get(TAG_NAME)?.clone(), c.name()?)
            .with_prop("cluster_name", c.name()?)
            .with_prop("version", c.version().unwrap_or_default())
            .with_prop("role", c.role_arn().unwrap_or_default())
            .with_prop("subnets", subnets)
            .with_prop("security_groups", groups)
            .with_prop("endpoint_public_access", vpc.map(|v| v.endpoint_public_access()).unwrap_or(false))
            .with_prop("endpoint_private_access", vpc.map(|v| v.endpoint_private_access()).unwrap_or(false))
            .with_prop("logging", logging)
            .with_prop("tags", serde_json::to_value(&tags).unwrap_or(Value::Null))
            .with_output("arn", c.arn().unwrap_or_default())
            .with_output("endpoint", c.endpoint().unwrap_or_default())
            .with_output("certificate_authority", c.certificate_authority().and_then(|a| a.data()).unwrap_or_default());
        if c.status() == Some(&ClusterStatus::Failed) {
            o.failed = Some("cluster status FAILED".into());
        }
        Some(o)
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["cluster_name", "role", "subnets", "security_groups"]
    }

    fn stateful(&self) -> bool {
        true
    }

    fn normalize(&self, props: &mut Props) {
        super::sort_string_lists(props, &["subnets", "security_groups", "logging"]);
    }

    fn needs_wait(&self) -> bool {
        true
    }

    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            timeout: Duration::from_secs(40 * 60),
            first_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let names: Vec<String> = self
            .0
            .aws
            .eks
            .list_clusters()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("eks:ListClusters", e))?;
        let prefix = format!("{}-", self.0.stack);
        let mut out = Vec::new();
        // EKS has no batch describe: one call per cluster of the stack (by name prefix).
        for n in names.iter().filter(|n| n.starts_with(&prefix)) {
            if let Some(o) = self.describe(n).await?.as_ref().and_then(|c| self.observe(c)) {
                out.extend(super::node_group::discover_in(&self.0, n).await?);
                out.push(o);
            }
        }
        Ok(out)
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let cluster = str_prop(props, "cluster_name")?.to_string();
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(super::sorted_strings(props, "subnets")))
            .set_security_group_ids(Some(super::sorted_strings(props, "security_groups")))
            .endpoint_public_access(bool_prop(props, "endpoint_public_access"))
            .endpoint_private_access(bool_prop(props, "endpoint_private_access"))
            .build();
        let res = super::retry_iam_propagation(|| async {
            self.0
                .aws
                .eks
                .create_cluster()
                .name(&cluster)
                .version(str_prop(props, "version")?)
                .role_arn(str_prop(props, "role")?)
                .resources_vpc_config(vpc.clone())
                .logging(logging(props))
                .client_request_token(client_token(&self.0.stack, name, props))
                .set_tags(Some(desired_tags(props).into_iter().collect()))
                .send()
                .await
                .map_err(|e| err("eks:CreateCluster", e))
        })
        .await;
        let c = match res {
            Ok(out) => out.cluster,
            Err(e) if e.has_code("ResourceInUseException") => self.describe(&cluster).await?,
            Err(e) => return Err(e),
        };
        let mut o = c.as_ref().and_then(|c| self.observe(c)).unwrap_or_else(|| Observed::new(KIND, name, &cluster));
        o.name = name.to_string();
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let eks = &self.0.aws.eks;
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("version") {
            eks.update_cluster_version()
                .name(&current.id)
                .version(str_prop(props, "version")?)
                .send()
                .await
                .map_err(|e| err("eks:UpdateClusterVersion", e))?;
        }
        if has("endpoint_public_access") || has("endpoint_private_access") {
            let vpc = VpcConfigRequest::builder()
                .endpoint_public_access(bool_prop(props, "endpoint_public_access"))
                .endpoint_private_access(bool_prop(props, "endpoint_private_access"))
                .build();
            eks.update_cluster_config().name(&current.id).resources_vpc_config(vpc).send().await.map_err(|e| err("eks:UpdateClusterConfig", e))?;
        }
        if has("logging") {
            eks.update_cluster_config().name(&current.id).logging(logging(props)).send().await.map_err(|e| err("eks:UpdateClusterConfig", e))?;
        }
        if has("tags") {
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
        match self.0.aws.eks.delete_cluster().name(&current.id).send().await.map_err(|e| err("eks:DeleteCluster", e)) {
            Err(e) if e.has_code("ResourceNotFoundException") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        let Some(c) = self.describe(&current.id).await? else {
            return Ok(Status::Missing);
        };
        Ok(match c.status() {
            Some(ClusterStatus::Active) => Status::Ready,
            Some(ClusterStatus::Failed) => {
                let issues: Vec<String> = c.health().map(|h| h.issues().iter().filter_map(|i| i.message().map(str::to_string)).collect()).unwrap_or_default();
                Status::Failed(if issues.is_empty() { "cluster status FAILED".into() } else { issues.join("; ") })
            }
            Some(s) => Status::Pending(s.as_str().to_lowercase()),
            None => Status::Pending("unknown".into()),
        })
    }
}
