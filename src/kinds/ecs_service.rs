//! ECS service on Fargate: cluster and name (replacement); task definition revision,
//! desired count, network and load balancer target (in place). Waits until stable: one
//! deployment, as many tasks running as desired.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, ServiceField};
use serde::Deserialize;
use serde_json::Value;

use super::ecs_cluster::{ecs_tags, tag_map};
use super::ec2::{client_token, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind, Status, WaitPolicy};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "ecs_service";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    cluster: String,
    task_definition: String,
    desired_count: i32,
    subnets: Vec<String>,
    security_groups: Vec<String>,
    /// Register the tasks with this target group (the container's port).
    #[serde(default)]
    target_group: Option<String>,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "ecs_services"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        if !(0..=1000).contains(&spec.desired_count) {
            cx.error("desired_count", "a service runs 0 to 1000 tasks");
        }
        if spec.subnets.is_empty() || spec.subnets.len() > 16 {
            cx.error("subnets", "a service needs 1 to 16 subnets");
        }
        if spec.security_groups.is_empty() || spec.security_groups.len() > 5 {
            cx.error("security_groups", "a service needs 1 to 5 security groups");
        }
        let subnets: Vec<Value> = spec.subnets.iter().enumerate().map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[super::subnet::KIND])).collect();
        let groups: Vec<Value> = spec
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| cx.reference(&format!("security_groups[{i}]"), g, &[super::security_group::KIND]))
            .collect();
        let mut props = Props::new();
        props.insert("service_name".into(), cx.physical_name(name).into());
        props.insert("cluster".into(), cx.reference("cluster", &spec.cluster, &[super::ecs_cluster::KIND]));
        props.insert("task_definition".into(), cx.reference_attr("task_definition", &spec.task_definition, "arn", &[super::task_definition::KIND]));
        props.insert("desired_count".into(), spec.desired_count.into());
        props.insert("subnets".into(), subnets.into());
        props.insert("security_groups".into(), groups.into());
        props.insert(
            "target_group".into(),
            match &spec.target_group {
                Some(t) => cx.reference_attr("target_group", t, "arn", &["target_group"]),
                None => Value::Null,
            },
        );
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &std::collections::BTreeMap<String, Desired>) {
        // The container registered with the target group is the task definition's own.
        let td = d.props.get("task_definition").and_then(crate::engine::as_ref).map(|(n, _)| n.to_string());
        if let Some(t) = td.and_then(|t| all.get(&t)) {
            if t.props.get("container").and_then(|c| c.get("port")).is_none() {
                cx.error("task_definition", "the task definition has no container port");
            }
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

impl Cloud {
    fn network(props: &Props) -> Result<NetworkConfiguration, CloudError> {
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(super::sorted_strings(props, "subnets")))
            .set_security_groups(Some(super::sorted_strings(props, "security_groups")))
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .map_err(|e| CloudError::new("ecs:CreateService", e.to_string()))?;
        Ok(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
    }

    /// The container name and port for the load balancer, from the task definition.
    async fn target(&self, props: &Props) -> Result<Option<LoadBalancer>, CloudError> {
        let Some(tg) = props.get("target_group").and_then(Value::as_str) else {
            return Ok(None);
        };
        let td = self
            .0
            .aws
            .ecs
            .describe_task_definition()
            .task_definition(str_prop(props, "task_definition")?)
            .send()
            .await
            .map_err(|e| err("ecs:DescribeTaskDefinition", e))?;
        let c = td.task_definition().and_then(|t| t.container_definitions().first()).cloned();
        let (name, port) = c
            .and_then(|c| Some((c.name()?.to_string(), c.port_mappings().first()?.container_port()?)))
            .ok_or_else(|| CloudError::new("ecs:DescribeTaskDefinition", "the task definition has no container port"))?;
        Ok(Some(LoadBalancer::builder().target_group_arn(tg).container_name(name).container_port(port).build()))
    }
}

/// The stack's services in one of its clusters (called by the cluster kind's discovery,
/// which lists the clusters once for both kinds).
pub async fn discover_in(cx: &Context, cluster: &str) -> Result<Vec<Observed>, CloudError> {
    let mut out = Vec::new();
    {
        let arns: Vec<String> = cx
            .aws
            .ecs
            .list_services()
            .cluster(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListServices", e))?;
        for chunk in arns.chunks(10) {
            let d = cx
                .aws
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| err("ecs:DescribeServices", e))?;
            for s in d.services() {
                let tags = tag_map(s.tags());
                if s.status() == Some("INACTIVE") || tags.get(TAG_STACK) != Some(&cx.stack) {
                    continue;
                }
                let Some(name) = tags.get(TAG_NAME).cloned() else { continue };
                let vpc = s.network_configuration().and_then(|n| n.awsvpc_configuration());
                let subnets = sorted(vpc.map(|v| v.subnets()).unwrap_or_default());
                let groups = sorted(vpc.map(|v| v.security_groups()).unwrap_or_default());
                let tg = s.load_balancers().first().and_then(|l| l.target_group_arn()).map(Value::from).unwrap_or(Value::Null);
                out.push(
                    Observed::new(KIND, name, s.service_name().unwrap_or_default())
                        .with_prop("service_name", s.service_name().unwrap_or_default())
                        .with_prop("cluster", cluster)
                        .with_prop("task_definition", s.task_definition().unwrap_or_default())
                        .with_prop("desired_count", s.desired_count())
                        .with_prop("subnets", subnets)
                        .with_prop("security_groups", groups)
                        .with_prop("target_group", tg)
                        .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                        .with_output("arn", s.service_arn().unwrap_or_default())
                        .with_output("cluster", cluster),
                );
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        // A service's load balancers can be changed in place since 2022, but not its name or cluster.
        &["service_name", "cluster"]
    }

    fn normalize(&self, props: &mut Props) {
        super::sort_string_lists(props, &["subnets", "security_groups"]);
    }

    fn needs_wait(&self) -> bool {
        true
    }

    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            timeout: Duration::from_secs(20 * 60),
            ..WaitPolicy::default()
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        Ok(Vec::new()) // listed with their clusters: see `discover_in`
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let cluster = str_prop(props, "cluster")?.to_string();
        let service = str_prop(props, "service_name")?.to_string();
        let lb = self.target(props).await?;
        let out = super::retry_iam_propagation(|| async {
            self.0
                .aws
                .ecs
                .create_service()
                .cluster(&cluster)
                .service_name(&service)
                .task_definition(str_prop(props, "task_definition")?)
                .desired_count(props.get("desired_count").and_then(Value::as_i64).unwrap_or(1) as i32)
                .launch_type(LaunchType::Fargate)
                .network_configuration(Self::network(props)?)
                .set_load_balancers(lb.clone().map(|l| vec![l]))
                .propagate_tags(PropagateTags::Service)
                .enable_ecs_managed_tags(true)
                .client_token(client_token(&self.0.stack, name, props).chars().take(36).collect::<String>())
                .set_tags(Some(ecs_tags(props)))
                .send()
                .await
                .map_err(|e| err("ecs:CreateService", e))
        })
        .await?;
        let arn = out.service.and_then(|s| s.service_arn).unwrap_or_default();
        let mut o = Observed::new(KIND, name, service).with_output("arn", arn).with_output("cluster", cluster);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let ecs = &self.0.aws.ecs;
        let cluster = str_prop(props, "cluster")?;
        let has = |f: &str| changed.iter().any(|c| c == f);
        let mut req = ecs.update_service().cluster(cluster).service(&current.id);
        let mut any = false;
        if has("task_definition") {
            req = req.task_definition(str_prop(props, "task_definition")?);
            any = true;
        }
        if has("desired_count") {
            req = req.desired_count(props.get("desired_count").and_then(Value::as_i64).unwrap_or(1) as i32);
            any = true;
        }
        if has("subnets") || has("security_groups") {
            req = req.network_configuration(Self::network(props)?);
            any = true;
        }
        if has("target_group") {
            req = req.set_load_balancers(Some(self.target(props).await?.into_iter().collect()));
            any = true;
        }
        if any {
            req.send().await.map_err(|e| err("ecs:UpdateService", e))?;
        }
        if has("tags") {
            let arn = current.outputs.get("arn").cloned().unwrap_or_default();
            let (_, unset) = super::tag_diff(&current.props, props);
            if !unset.is_empty() {
                ecs.untag_resource().resource_arn(&arn).set_tag_keys(Some(unset)).send().await.map_err(|e| err("ecs:UntagResource", e))?;
            }
            ecs.tag_resource().resource_arn(&arn).set_tags(Some(ecs_tags(props))).send().await.map_err(|e| err("ecs:TagResource", e))?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let cluster = current.outputs.get("cluster").cloned().unwrap_or_default();
        match self
            .0
            .aws
            .ecs
            .delete_service()
            .cluster(&cluster)
            .service(&current.id)
            .force(true)
            .send()
            .await
            .map_err(|e| err("ecs:DeleteService", e))
        {
            Err(e) if e.has_code("ServiceNotFoundException") || e.has_code("ClusterNotFoundException") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        let cluster = current.outputs.get("cluster").cloned().unwrap_or_default();
        let d = match self.0.aws.ecs.describe_services().cluster(&cluster).services(&current.id).send().await.map_err(|e| err("ecs:DescribeServices", e)) {
            Err(e) if e.has_code("ClusterNotFoundException") => return Ok(Status::Missing),
            other => other?,
        };
        let Some(s) = d.services().first() else {
            return Ok(Status::Missing);
        };
        Ok(match s.status() {
            Some("INACTIVE") => Status::Missing,
            Some("DRAINING") => Status::Pending("draining".into()),
            _ => {
                let deployments = s.deployments();
                let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
                if let Some(reason) = primary.filter(|p| p.rollout_state().map(|r| r.as_str()) == Some("FAILED")).map(|p| p.rollout_state_reason().unwrap_or("deployment failed")) {
                    Status::Failed(reason.to_string())
                } else if deployments.len() == 1
                    && (s.running_count() == s.desired_count() || primary.and_then(|p| p.rollout_state()).map(|r| r.as_str()) == Some("COMPLETED"))
                {
                    Status::Ready
                } else {
                    Status::Pending(format!("{} of {} tasks running, {} deployment(s)", s.running_count(), s.desired_count(), deployments.len()))
                }
            }
        })
    }
}
