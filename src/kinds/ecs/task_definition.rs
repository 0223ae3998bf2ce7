//! ECS task definition (Fargate, awsvpc) with one container. Task definitions are
//! immutable: a change registers a new revision (the family stays), and whatever
//! references its ARN (the service) moves to it. `down` deregisters every revision and deletes them.
//!
//! Environment values may come from other resources (`{from: database, output: address}`)
//! and secrets from a database's managed password (`{password_of: database}`): the
//! secret's ARN is passed, never its value.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver, NetworkMode,
    PortMapping, Secret, TaskDefinition, TaskDefinitionField, TaskDefinitionStatus,
    TransportProtocol,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{sdk_tags, tags_of};
use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::retry_iam_propagation;
use crate::kinds::support::tags::{identity, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["family"],
    new_outputs_on_update: true,
    ..KindInfo::new(names::TASK_DEFINITION, "task_definitions", "ecs")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// vCPU units: 256, 512, 1024, 2048, 4096, 8192, 16384.
    cpu: u32,
    /// MiB, from the combinations Fargate allows for the CPU.
    memory: u32,
    execution_role: String,
    #[serde(default)]
    task_role: Option<String>,
    log_group: String,
    container: ContainerSpec,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ContainerSpec {
    /// A public image (`nginx:1.27`, `public.ecr.aws/...`), or one of the stack's
    /// repositories and a tag: `{repository: api-images, tag: "${var.image_tag}"}`.
    image: ImageSpec,
    port: u16,
    /// What the container runs, instead of the image's own command.
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, EnvSpec>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretSpec>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum ImageSpec {
    Reference(String),
    Repository(RepositoryImage),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RepositoryImage {
    /// One of the stack's `ecr_repositories`.
    repository: String,
    /// The image's tag, typically from a variable CI sets (`${var.image_tag}`).
    tag: String,
}

/// ECR's tag syntax: a letter, digit or `_`, then up to 127 of those, `.` and `-`.
fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum EnvSpec {
    Text(String),
    Number(i64),
    From(FromSpec),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FromSpec {
    from: String,
    #[serde(default = "id_output")]
    output: String,
}

fn id_output() -> String {
    "id".into()
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SecretSpec {
    /// The database whose AWS-managed master password this is.
    password_of: String,
}

/// The container as compared; `R` is a value that may come from another resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container<R = String> {
    pub name: String,
    pub image: R,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    pub environment: BTreeMap<String, R>,
    pub secrets: BTreeMap<String, R>,
    pub log_group: R,
}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub family: String,
    pub cpu: String,
    pub memory: String,
    pub execution_role: R,
    pub task_role: Option<R>,
    pub container: Container<R>,
    pub tags: Tags,
}

/// Fargate's CPU units and the memory sizes (MiB) each allows.
pub fn fargate_memory(cpu: u32) -> Option<Vec<u32>> {
    let range = |from: u32, to: u32, step: u32| {
        (0..)
            .map(move |i| from + i * step)
            .take_while(move |m| *m <= to)
            .collect::<Vec<_>>()
    };
    Some(match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => return None,
    })
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
        match fargate_memory(spec.cpu) {
            None => cx.error_hint(
                "cpu",
                format!("Fargate has no {} CPU units", spec.cpu),
                "use 256, 512, 1024, 2048, 4096, 8192 or 16384",
            ),
            Some(mem) if !mem.contains(&spec.memory) => cx.error_hint(
                "memory",
                format!(
                    "Fargate does not run {} MiB with {} CPU units",
                    spec.memory, spec.cpu
                ),
                format!(
                    "with {} CPU units: {}",
                    spec.cpu,
                    mem.iter()
                        .map(|m| m.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Some(_) => {}
        }
        let image = match &spec.container.image {
            ImageSpec::Reference(r) => {
                if r.is_empty() || r.contains(' ') {
                    cx.error(
                        "container.image",
                        "an image reference has no spaces, like repo/name:tag",
                    );
                }
                Value::String(r.clone())
            }
            ImageSpec::Repository(i) => {
                if !valid_tag(&i.tag) {
                    cx.error_hint(
                        "container.image.tag",
                        format!("`{}` is not an image tag", i.tag),
                        "up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
                    );
                }
                cx.reference_suffixed(
                    "container.image.repository",
                    &i.repository,
                    "uri",
                    &format!(":{}", i.tag),
                    &[names::ECR_REPOSITORY],
                )
            }
        };
        if spec.container.port == 0 {
            cx.error("container.port", "port 0 is not a container port");
        }
        let mut environment = BTreeMap::new();
        for (k, v) in &spec.container.environment {
            let f = format!("container.environment.{k}");
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                cx.error(&f, format!("`{k}` is not an environment variable name"));
            }
            let value = match v {
                EnvSpec::Text(t) => Value::String(t.clone()),
                EnvSpec::Number(n) => Value::String(n.to_string()),
                EnvSpec::From(r) => {
                    cx.reference_attr(&format!("{f}.from"), &r.from, &r.output, &[])
                }
            };
            environment.insert(k.clone(), value);
        }
        let mut secrets = BTreeMap::new();
        for (k, s) in &spec.container.secrets {
            let f = format!("container.secrets.{k}");
            if spec.container.environment.contains_key(k) {
                cx.error(
                    &f,
                    format!("`{k}` is both an environment variable and a secret"),
                );
            }
            // The managed secret holds JSON {"username", "password"}: pick the password.
            let arn = cx.reference_suffixed(
                &format!("{f}.password_of"),
                &s.password_of,
                "secret_arn",
                ":password::",
                &[names::DATABASE],
            );
            secrets.insert(k.clone(), arn);
        }
        let props = Props {
            family: cx.physical_name(name),
            cpu: spec.cpu.to_string(),
            memory: spec.memory.to_string(),
            execution_role: cx.reference_attr(
                "execution_role",
                &spec.execution_role,
                "arn",
                &[names::IAM_ROLE],
            ),
            task_role: spec
                .task_role
                .as_ref()
                .map(|r| cx.reference_attr("task_role", r, "arn", &[names::IAM_ROLE])),
            container: Container {
                name: name.to_string(),
                image,
                port: spec.container.port,
                command: spec.container.command,
                environment,
                secrets,
                log_group: cx.reference("log_group", &spec.log_group, &[names::LOG_GROUP]),
            },
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(TaskDefinitionKind(cx.clone()))]
}

pub struct TaskDefinitionKind(pub Arc<Context>);

impl TaskDefinitionKind {
    async fn register(&self, p: &Props) -> Result<String, CloudError> {
        let c = &p.container;
        let built = |e: aws_sdk_ecs::error::BuildError| {
            CloudError::new("ecs:RegisterTaskDefinition", e.to_string())
        };
        let secrets = c
            .secrets
            .iter()
            .map(|(k, v)| {
                Secret::builder()
                    .name(k)
                    .value_from(v)
                    .build()
                    .map_err(built)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let log = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", &c.log_group)
            .options("awslogs-region", &self.0.aws.region)
            .options("awslogs-stream-prefix", &c.name)
            .build()
            .map_err(built)?;
        let container = ContainerDefinition::builder()
            .name(&c.name)
            .image(&c.image)
            .set_command((!c.command.is_empty()).then(|| c.command.clone()))
            .essential(true)
            .port_mappings(
                PortMapping::builder()
                    .container_port(i32::from(c.port))
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            )
            .set_environment(Some(
                c.environment
                    .iter()
                    .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                    .collect(),
            ))
            .set_secrets(Some(secrets))
            .log_configuration(log)
            .build();
        let out = retry_iam_propagation(|| async {
            self.0
                .aws
                .ecs
                .register_task_definition()
                .family(&p.family)
                .requires_compatibilities(Compatibility::Fargate)
                .network_mode(NetworkMode::Awsvpc)
                .cpu(&p.cpu)
                .memory(&p.memory)
                .execution_role_arn(&p.execution_role)
                .set_task_role_arn(p.task_role.clone())
                .container_definitions(container.clone())
                .set_tags(Some(sdk_tags(&p.tags)))
                .send()
                .await
                .map_err(|e| err("ecs:RegisterTaskDefinition", e))
        })
        .await?;
        out.task_definition
            .and_then(|t| t.task_definition_arn)
            .ok_or_else(|| CloudError::new("ecs:RegisterTaskDefinition", "no ARN in the answer"))
    }
}

#[async_trait]
impl Kind for TaskDefinitionKind {
    type Props = Props;
    /// The latest active revision of a family, with its tags.
    type Remote = (TaskDefinition, Tags);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        let ecs = &self.0.aws.ecs;
        let families: Vec<String> = ecs
            .list_task_definition_families()
            .family_prefix(format!("{}-", self.0.stack()))
            .status(aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListTaskDefinitionFamilies", e))?;
        // The latest ACTIVE revision of each family (no batch describe exists).
        let reads = families.iter().map(|f| async move {
            let d = match ecs
                .describe_task_definition()
                .task_definition(f)
                .include(TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(|e| err("ecs:DescribeTaskDefinition", e))
            {
                // Its last revisions were deleted since the listing.
                Err(e) if e.message.contains("Unable to describe task definition") => {
                    return Ok(None)
                }
                other => other?,
            };
            let tags = tags_of(d.tags());
            Ok::<_, CloudError>(d.task_definition.map(|td| (td, tags)))
        });
        Ok(futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    fn observe(&self, (td, tags): &Self::Remote) -> Option<Found<Props>> {
        if td.status() == Some(&TaskDefinitionStatus::Inactive) {
            return None;
        }
        let name = identity(tags, self.0.stack())?;
        let c = td.container_definitions().first()?;
        let container = Container {
            name: c.name()?.to_string(),
            image: c.image().unwrap_or_default().to_string(),
            command: c.command().to_vec(),
            port: c
                .port_mappings()
                .first()
                .and_then(|p| p.container_port())
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(0),
            environment: c
                .environment()
                .iter()
                .filter_map(|kv| {
                    Some((kv.name()?.to_string(), kv.value().unwrap_or("").to_string()))
                })
                .collect(),
            secrets: c
                .secrets()
                .iter()
                .map(|s| (s.name().to_string(), s.value_from().to_string()))
                .collect(),
            log_group: c
                .log_configuration()
                .and_then(|l| l.options())
                .and_then(|o| o.get("awslogs-group"))
                .cloned()
                .unwrap_or_default(),
        };
        let props = Props {
            family: td.family()?.to_string(),
            cpu: td.cpu().unwrap_or_default().to_string(),
            memory: td.memory().unwrap_or_default().to_string(),
            execution_role: td.execution_role_arn().unwrap_or_default().to_string(),
            task_role: td.task_role_arn().map(str::to_string),
            container,
            tags: tags.clone(),
        };
        Some(Found::new(name, td.family()?, props).output("arn", td.task_definition_arn()?))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let arn = self.register(want).await?;
        Ok(Found::new(name, &want.family, want.clone()).output("arn", arn))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        // A new revision; the previous one stays until `down` (a rollback target).
        let arn = self.register(want).await?;
        Ok(current.with_props(want.clone()).output("arn", arn))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        let ecs = &self.0.aws.ecs;
        let arns: Vec<String> = ecs
            .list_task_definitions()
            .family_prefix(&current.id)
            .status(TaskDefinitionStatus::Active)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListTaskDefinitions", e))?;
        let mine = format!(":task-definition/{}:", current.id);
        for arn in arns.iter().filter(|a| a.contains(&mine)) {
            ecs.deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|e| err("ecs:DeregisterTaskDefinition", e))?;
        }
        // Deregistered revisions stay (INACTIVE, still tagged) until deleted: delete them,
        // ten at a time, so that nothing of the stack is left to find by its tags.
        let inactive: Vec<String> = ecs
            .list_task_definitions()
            .family_prefix(&current.id)
            .status(TaskDefinitionStatus::Inactive)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListTaskDefinitions", e))?;
        let inactive: Vec<String> = inactive.into_iter().filter(|a| a.contains(&mine)).collect();
        for chunk in inactive.chunks(10) {
            let answer = ecs
                .delete_task_definitions()
                .set_task_definitions(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| err("ecs:DeleteTaskDefinitions", e))?;
            for f in answer.failures() {
                tracing::warn!(
                    "task definition {} not deleted: {}",
                    f.arn().unwrap_or_default(),
                    f.reason().unwrap_or_default()
                );
            }
        }
        Ok(Deletion::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};

    #[test]
    fn fargate_pairs() {
        assert_eq!(fargate_memory(256), Some(vec![512, 1024, 2048]));
        assert!(fargate_memory(1024).is_some_and(|m| m.contains(&8192) && !m.contains(&1024)));
        assert!(fargate_memory(8192)
            .is_some_and(|m| m.contains(&16384) && m.contains(&20480) && !m.contains(&17408)));
        assert_eq!(fargate_memory(300), None);
    }

    #[test]
    fn a_described_revision_is_what_the_file_wants() {
        let file = "iam_roles:\n  exec: {trust: [ecs-tasks.amazonaws.com]}\nlog_groups:\n  api-logs: {retention_days: 14}\nvpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  priv-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  priv-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\ndb_subnet_groups:\n  db: {subnets: [priv-a, priv-b]}\nsecurity_groups:\n  database: {vpc: main}\ndatabases:\n  postgres: {engine_version: '16', allocated_storage: 20, username: app, db_name: app, subnet_group: db, security_groups: [database]}\ntask_definitions:\n  api:\n    cpu: 256\n    memory: 512\n    execution_role: exec\n    log_group: api-logs\n    container:\n      image: nginx:1.27\n      port: 8000\n      environment: {DATABASE_HOST: {from: postgres, output: address}, MODE: demo}\n      secrets: {DATABASE_PASSWORD: {password_of: postgres}}\n";
        let c = ContainerDefinition::builder()
            .name("api")
            .image("nginx:1.27")
            .port_mappings(PortMapping::builder().container_port(8000).build())
            .environment(
                KeyValuePair::builder()
                    .name("DATABASE_HOST")
                    .value(out("postgres", "address"))
                    .build(),
            )
            .environment(KeyValuePair::builder().name("MODE").value("demo").build())
            .secrets(
                Secret::builder()
                    .name("DATABASE_PASSWORD")
                    .value_from(format!("{}:password::", out("postgres", "secret_arn")))
                    .build()
                    .unwrap(),
            )
            .log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .options("awslogs-group", out("api-logs", "id"))
                    .build()
                    .unwrap(),
            )
            .build();
        let td = TaskDefinition::builder()
            .family("app-api")
            .task_definition_arn("arn:aws:ecs:eu-west-3:1:task-definition/app-api:3")
            .cpu("256")
            .memory("512")
            .execution_role_arn(out("exec", "arn"))
            .container_definitions(c)
            .status(TaskDefinitionStatus::Active)
            .build();
        assert_observes(
            TaskDefinitionKind(context()),
            &(td, testing::identity_tags("api")),
            file,
            "api",
        );
    }
}
