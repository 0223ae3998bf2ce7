//! ECS service on Fargate: cluster and name (replacement); task definition revision,
//! desired count, network and load balancer target (in place). Waits until stable: one
//! deployment, as many tasks running as desired. Found through the stack's clusters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, Service, ServiceField,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{sdk_tags, tags_of, EcsTags};
use crate::aws::err;
use crate::engine::{
    as_ref, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Status, WaitPolicy,
};
use crate::kinds::names;
use crate::kinds::support::retry::{client_token, retry_iam_propagation};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, props_of, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    // A service's load balancers can be changed in place since 2022, but not its name or cluster.
    replace: &["service_name", "cluster"],
    parent: Some(names::ECS_CLUSTER),
    wait: Some(WaitPolicy::new(
        Duration::from_secs(20 * 60),
        Duration::from_millis(200),
        Duration::from_secs(15),
    )),
    ..KindInfo::new(names::ECS_SERVICE, "ecs_services", "ecs")
};

#[derive(Deserialize, schemars::JsonSchema)]
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
    /// Give each task a public IP: needed to pull the image from a public subnet without
    /// a NAT gateway.
    #[serde(default)]
    assign_public_ip: bool,
    /// Seconds the load balancer's failing health checks are ignored after a task starts.
    #[serde(default)]
    health_check_grace_seconds: Option<i32>,
}

/// Grace after a task starts before the load balancer's health checks count, unless the
/// file says otherwise: long enough for an application server to start.
const GRACE_SECONDS: i32 = 60;

/// What is compared; `R` names other resources (references, then ids and ARNs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub service_name: String,
    pub cluster: R,
    pub task_definition: R,
    pub desired_count: i32,
    pub subnets: Vec<R>,
    pub security_groups: Vec<R>,
    pub target_group: Option<R>,
    pub assign_public_ip: bool,
    /// With a target group only.
    pub health_check_grace_seconds: Option<i32>,
    /// The deployment circuit breaker, with rollback: a deployment whose tasks keep
    /// failing stops (and `up` reports why) instead of relaunching billed tasks forever.
    pub circuit_breaker: bool,
    pub tags: Tags,
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
        if !(0..=1000).contains(&spec.desired_count) {
            cx.error("desired_count", "a service runs 0 to 1000 tasks");
        }
        if spec.subnets.is_empty() || spec.subnets.len() > 16 {
            cx.error("subnets", "a service needs 1 to 16 subnets");
        }
        if spec.security_groups.is_empty() || spec.security_groups.len() > 5 {
            cx.error("security_groups", "a service needs 1 to 5 security groups");
        }
        if let Some(g) = spec.health_check_grace_seconds {
            if spec.target_group.is_none() {
                cx.error(
                    "health_check_grace_seconds",
                    "only a service with a `target_group` has health checks to wait for",
                );
            } else if !(0..=2_147_483_647).contains(&g) {
                cx.error(
                    "health_check_grace_seconds",
                    "a number of seconds, 0 or more",
                );
            }
        }
        let subnets = spec
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[names::SUBNET]))
            .collect();
        let security_groups = spec
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                cx.reference(
                    &format!("security_groups[{i}]"),
                    g,
                    &[names::SECURITY_GROUP],
                )
            })
            .collect();
        let props = Props {
            service_name: cx.physical_name(name),
            cluster: cx.reference("cluster", &spec.cluster, &[names::ECS_CLUSTER]),
            task_definition: cx.reference_attr(
                "task_definition",
                &spec.task_definition,
                "arn",
                &[names::TASK_DEFINITION],
            ),
            desired_count: spec.desired_count,
            subnets,
            security_groups,
            target_group: spec
                .target_group
                .as_ref()
                .map(|t| cx.reference_attr("target_group", t, "arn", &[names::TARGET_GROUP])),
            assign_public_ip: spec.assign_public_ip,
            health_check_grace_seconds: spec
                .target_group
                .as_ref()
                .map(|_| spec.health_check_grace_seconds.unwrap_or(GRACE_SECONDS)),
            circuit_breaker: true,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        // The container registered with the target group is the task definition's own.
        let td = props_of::<Props<Value>>(d)
            .and_then(|p| as_ref(&p.task_definition).map(|(n, _)| n.to_string()));
        if let Some(t) = td.and_then(|t| all.get(&t)) {
            if t.props
                .get("container")
                .and_then(|c| c.get("port"))
                .is_none()
            {
                cx.error(
                    "task_definition",
                    "the task definition has no container port",
                );
            }
        }
        // In public subnets, a task pulls its image through the internet gateway, which
        // needs a public IP.
        let Some(p) = props_of::<Props<Value>>(d) else {
            return;
        };
        let public = |r: &Value| {
            as_ref(r)
                .and_then(|(n, _)| all.get(n))
                .and_then(|s| s.props.get("public"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        if !p.assign_public_ip && !p.subnets.is_empty() && p.subnets.iter().all(public) {
            cx.error_hint(
                "assign_public_ip",
                "tasks in public subnets without a public IP cannot pull their image",
                "set `assign_public_ip: true`, or run the service in private subnets behind a \
                 NAT gateway",
            );
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(EcsService(cx.clone()))]
}

pub struct EcsService(pub Arc<Context>);

impl EcsService {
    /// While a service is short of its tasks, why its last task stopped (a failing
    /// health check, an image that cannot be pulled, a container that exits), as the
    /// service's newest event: what a wait shows. Best effort: two reads, only then.
    async fn add_stopped_task(&self, s: &mut Service) {
        if s.status() != Some("ACTIVE") || s.running_count() >= s.desired_count() {
            return;
        }
        let (Some(cluster), Some(name)) = (s.cluster_arn(), s.service_name()) else {
            return;
        };
        let ecs = &self.0.aws.ecs;
        let listed = ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(name)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
            .max_results(1)
            .send()
            .await
            .map_err(|e| err("ecs:ListTasks", e));
        let arn = match listed {
            Ok(l) => match l.task_arns().first() {
                Some(a) => a.clone(),
                None => return,
            },
            Err(e) => {
                tracing::debug!("why tasks of {name} stopped is not known: {e}");
                return;
            }
        };
        let described = match ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(&arn)
            .send()
            .await
            .map_err(|e| err("ecs:DescribeTasks", e))
        {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!("why tasks of {name} stopped is not known: {e}");
                return;
            }
        };
        let Some(task) = described.tasks().first() else {
            return;
        };
        let mut why = task.stopped_reason().unwrap_or("stopped").to_string();
        for c in task.containers() {
            match (c.reason(), c.exit_code()) {
                (Some(r), _) => {
                    why.push_str(&format!("; container {}: {r}", c.name().unwrap_or("?")))
                }
                (None, Some(code)) if code != 0 => why.push_str(&format!(
                    "; container {} exited {code}",
                    c.name().unwrap_or("?")
                )),
                _ => {}
            }
        }
        let event = aws_sdk_ecs::types::ServiceEvent::builder()
            .message(format!("a task stopped: {why}"))
            .created_at(aws_smithy_types::DateTime::from(
                std::time::SystemTime::now(),
            ))
            .build();
        s.events.get_or_insert_with(Vec::new).insert(0, event);
    }

    fn network(p: &Props) -> Result<NetworkConfiguration, CloudError> {
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(p.subnets.clone()))
            .set_security_groups(Some(p.security_groups.clone()))
            .assign_public_ip(if p.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| CloudError::new("ecs:CreateService", e.to_string()))?;
        Ok(NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build())
    }

    fn deployment(p: &Props) -> DeploymentConfiguration {
        DeploymentConfiguration::builder()
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(p.circuit_breaker)
                    .rollback(p.circuit_breaker)
                    .build(),
            )
            .build()
    }

    /// The container name and port for the load balancer, from the task definition.
    async fn target(&self, p: &Props) -> Result<Option<LoadBalancer>, CloudError> {
        let Some(tg) = &p.target_group else {
            return Ok(None);
        };
        let td = self
            .0
            .aws
            .ecs
            .describe_task_definition()
            .task_definition(&p.task_definition)
            .send()
            .await
            .map_err(|e| err("ecs:DescribeTaskDefinition", e))?;
        let c = td
            .task_definition()
            .and_then(|t| t.container_definitions().first())
            .cloned();
        let (name, port) = c
            .and_then(|c| {
                Some((
                    c.name()?.to_string(),
                    c.port_mappings().first()?.container_port()?,
                ))
            })
            .ok_or_else(|| {
                CloudError::new(
                    "ecs:DescribeTaskDefinition",
                    "the task definition has no container port",
                )
            })?;
        Ok(Some(
            LoadBalancer::builder()
                .target_group_arn(tg)
                .container_name(name)
                .container_port(port)
                .build(),
        ))
    }

    async fn describe(
        &self,
        cluster: &str,
        services: Vec<String>,
    ) -> Result<Vec<Service>, CloudError> {
        let d = self
            .0
            .aws
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| err("ecs:DescribeServices", e))?;
        Ok(d.services.unwrap_or_default())
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    crate::kinds::support::props::sorted(v.to_vec())
}

#[async_trait]
impl Kind for EcsService {
    type Props = Props;
    type Remote = Service;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn normalize(p: &mut Props) {
        p.subnets.sort();
        p.security_groups.sort();
    }

    async fn list(&self, clusters: &[Observed]) -> Result<Vec<Service>, CloudError> {
        let mut out = Vec::new();
        for cluster in clusters {
            let arns: Vec<String> = self
                .0
                .aws
                .ecs
                .list_services()
                .cluster(&cluster.id)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| err("ecs:ListServices", e))?;
            for chunk in arns.chunks(10) {
                out.extend(self.describe(&cluster.id, chunk.to_vec()).await?);
            }
        }
        Ok(out)
    }

    fn observe(&self, s: &Service) -> Option<Found<Props>> {
        if s.status() == Some("INACTIVE") {
            return None;
        }
        let tags = tags_of(s.tags());
        let name = identity(&tags, self.0.stack())?;
        let draining = s.status() == Some("DRAINING");
        let cluster = s.cluster_arn()?.rsplit('/').next()?.to_string();
        let vpc = s
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration());
        let props = Props {
            service_name: s.service_name()?.to_string(),
            cluster,
            task_definition: s.task_definition().unwrap_or_default().to_string(),
            desired_count: s.desired_count(),
            subnets: sorted(vpc.map(|v| v.subnets()).unwrap_or_default()),
            security_groups: sorted(vpc.map(|v| v.security_groups()).unwrap_or_default()),
            assign_public_ip: vpc.and_then(|v| v.assign_public_ip())
                == Some(&AssignPublicIp::Enabled),
            health_check_grace_seconds: if s.load_balancers().is_empty() {
                None
            } else {
                Some(s.health_check_grace_period_seconds().unwrap_or(0))
            },
            circuit_breaker: s
                .deployment_configuration()
                .and_then(|d| d.deployment_circuit_breaker())
                .is_some_and(|b| b.enable() && b.rollback()),
            target_group: s
                .load_balancers()
                .first()
                .and_then(|l| l.target_group_arn())
                .map(str::to_string),
            tags,
        };
        {
            let mut f = Found::new(name, s.service_name()?, props)
                .output("arn", s.service_arn().unwrap_or_default());
            f.deleting = draining;
            Some(f)
        }
    }

    async fn find(&self, current: &Found<Props>) -> Result<Option<Service>, CloudError> {
        match self
            .describe(&current.props.cluster, vec![current.id.clone()])
            .await
        {
            Err(e) if e.has_code("ClusterNotFoundException") => Ok(None),
            Err(e) => Err(e),
            Ok(found) => {
                let mut service = found.into_iter().find(|s| s.status() != Some("INACTIVE"));
                if let Some(s) = &mut service {
                    self.add_stopped_task(s).await;
                }
                Ok(service)
            }
        }
    }

    fn state(&self, s: &Service) -> Status {
        if s.status() == Some("DRAINING") {
            return Status::Pending("draining".into());
        }
        let deployments = s.deployments();
        let primary = deployments.iter().find(|d| d.status() == Some("PRIMARY"));
        let rollout = primary.and_then(|p| p.rollout_state()).map(|r| r.as_str());
        if rollout == Some("FAILED") {
            let reason = primary
                .and_then(|p| p.rollout_state_reason())
                .unwrap_or("deployment failed");
            return Status::Failed(reason.to_string());
        }
        if deployments.len() == 1
            && (s.running_count() == s.desired_count() || rollout == Some("COMPLETED"))
        {
            return Status::Ready;
        }
        // ECS's newest event says why a rollout is slow (tasks failing their health
        // check, no capacity, an image that cannot be pulled): part of what is waited on.
        let created = primary.and_then(|p| p.created_at());
        let event = s
            .events()
            .first()
            .filter(|e| created.is_none() || e.created_at() >= created)
            .and_then(|e| e.message())
            .map(|m| {
                let short: String = m.chars().take(200).collect();
                format!("; latest event: {short}")
            })
            .unwrap_or_default();
        Status::Pending(format!(
            "{} of {} tasks running, {} deployment(s){event}",
            s.running_count(),
            s.desired_count(),
            deployments.len()
        ))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let lb = self.target(want).await?;
        let network = Self::network(want)?;
        // ECS takes a token of at most 36 characters.
        let token: String = client_token(self.0.stack(), name)
            .chars()
            .take(36)
            .collect();
        let out = retry_iam_propagation(|| async {
            self.0
                .aws
                .ecs
                .create_service()
                .cluster(&want.cluster)
                .service_name(&want.service_name)
                .task_definition(&want.task_definition)
                .desired_count(want.desired_count)
                .launch_type(LaunchType::Fargate)
                .network_configuration(network.clone())
                .set_load_balancers(lb.clone().map(|l| vec![l]))
                .set_health_check_grace_period_seconds(want.health_check_grace_seconds)
                .deployment_configuration(Self::deployment(want))
                .propagate_tags(PropagateTags::Service)
                .enable_ecs_managed_tags(true)
                .client_token(&token)
                .set_tags(Some(sdk_tags(&want.tags)))
                .send()
                .await
                .map_err(|e| err("ecs:CreateService", e))
        })
        .await?;
        let arn = out.service.and_then(|s| s.service_arn).unwrap_or_default();
        Ok(Found::new(name, &want.service_name, want.clone()).output("arn", arn))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let ecs = &self.0.aws.ecs;
        let have = &current.props;
        let mut req = ecs
            .update_service()
            .cluster(&want.cluster)
            .service(&current.id);
        let mut any = false;
        if have.task_definition != want.task_definition {
            req = req.task_definition(&want.task_definition);
            any = true;
        }
        if have.desired_count != want.desired_count {
            req = req.desired_count(want.desired_count);
            any = true;
        }
        if (&have.subnets, &have.security_groups, have.assign_public_ip)
            != (&want.subnets, &want.security_groups, want.assign_public_ip)
        {
            req = req.network_configuration(Self::network(want)?);
            any = true;
        }
        if have.target_group != want.target_group {
            req = req.set_load_balancers(Some(self.target(want).await?.into_iter().collect()));
            any = true;
        }
        if have.health_check_grace_seconds != want.health_check_grace_seconds {
            req =
                req.health_check_grace_period_seconds(want.health_check_grace_seconds.unwrap_or(0));
            any = true;
        }
        if have.circuit_breaker != want.circuit_breaker {
            req = req.deployment_configuration(Self::deployment(want));
            any = true;
        }
        if any {
            req.send().await.map_err(|e| err("ecs:UpdateService", e))?;
        }
        let arn = current.outputs.get("arn").cloned().unwrap_or_default();
        sync_tags(&EcsTags(ecs), &arn, &have.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        if current.deleting {
            return Ok(Deletion::Started);
        }
        match self
            .0
            .aws
            .ecs
            .delete_service()
            .cluster(&current.props.cluster)
            .service(&current.id)
            .force(true)
            .send()
            .await
            .map_err(|e| err("ecs:DeleteService", e))
        {
            Err(e)
                if e.has_code("ServiceNotFoundException")
                    || e.has_code("ClusterNotFoundException") =>
            {
                Ok(Deletion::Gone)
            }
            // Draining, then inactive.
            other => other.map(|_| Deletion::Started),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, ServiceEvent};

    fn service(running: i32, rollout: DeploymentRolloutState) -> Service {
        let vpc = AwsVpcConfiguration::builder()
            .subnets(out("priv-b", "id"))
            .subnets(out("priv-a", "id"))
            .security_groups(out("api-sg", "id"))
            .build()
            .unwrap();
        Service::builder()
            .service_name("app-api")
            .service_arn("arn:aws:ecs:eu-west-3:1:service/app-backend/app-api")
            .cluster_arn(format!(
                "arn:aws:ecs:eu-west-3:1:cluster/{}",
                out("backend", "id")
            ))
            .status("ACTIVE")
            .task_definition(out("api-task", "arn"))
            .desired_count(2)
            .running_count(running)
            .deployments(
                Deployment::builder()
                    .status("PRIMARY")
                    .rollout_state(rollout)
                    .build(),
            )
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(out("tg", "arn"))
                    .build(),
            )
            .health_check_grace_period_seconds(60)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(true)
                            .build(),
                    )
                    .build(),
            )
            .set_tags(Some(sdk_tags(&testing::identity_tags("api"))))
            .build()
    }

    #[test]
    fn a_described_service_is_what_the_file_wants() {
        let file = "ecs_clusters:\n  backend: {}\niam_roles:\n  exec: {trust: [ecs-tasks.amazonaws.com]}\nlog_groups:\n  logs: {retention_days: 14}\nvpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  priv-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  priv-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\nsecurity_groups:\n  api-sg: {vpc: main}\ntarget_groups:\n  tg: {vpc: main, port: 8000}\ntask_definitions:\n  api-task: {cpu: 256, memory: 512, execution_role: exec, log_group: logs, container: {image: 'nginx:1.27', port: 8000}}\necs_services:\n  api: {cluster: backend, task_definition: api-task, desired_count: 2, subnets: [priv-a, priv-b], security_groups: [api-sg], target_group: tg}\n";
        let s = service(2, DeploymentRolloutState::Completed);
        assert_observes(EcsService(context()), &s, file, "api");
    }

    #[test]
    fn states_of_a_rollout() {
        let k = EcsService(context());
        assert_eq!(
            k.state(&service(2, DeploymentRolloutState::Completed)),
            Status::Ready
        );
        assert!(matches!(
            k.state(&service(1, DeploymentRolloutState::InProgress)),
            Status::Pending(s) if s.starts_with("1 of 2 tasks")
        ));
        // A stuck rollout says why, from ECS's newest event of this deployment.
        let mut stuck = service(1, DeploymentRolloutState::InProgress);
        stuck.events = Some(vec![ServiceEvent::builder()
            .message("(service app-api) is unable to consistently start tasks successfully.")
            .build()]);
        assert!(matches!(
            k.state(&stuck),
            Status::Pending(s) if s.ends_with("; latest event: (service app-api) is unable to consistently start tasks successfully.")
        ));
        assert!(matches!(
            k.state(&service(0, DeploymentRolloutState::Failed)),
            Status::Failed(_)
        ));
    }
}
