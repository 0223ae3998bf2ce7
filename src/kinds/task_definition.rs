//! ECS task definition (Fargate, awsvpc) with one container. Task definitions are
//! immutable: a change registers a new revision (the family stays), and whatever
//! references its ARN (the service) moves to it. `down` deregisters every revision.
//!
//! Environment values may come from other resources (`{from: database, output: address}`)
//! and secrets from a database's managed password (`{password_of: database}`): the
//! secret's ARN is passed, never its value.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver, NetworkMode, PortMapping, Secret,
    TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ecs_cluster::{ecs_tags, tag_map};
use super::ec2::str_prop;
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "task_definition";

#[derive(Deserialize)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContainerSpec {
    image: String,
    port: u16,
    #[serde(default)]
    environment: BTreeMap<String, EnvSpec>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretSpec>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EnvSpec {
    Text(String),
    Number(i64),
    From(FromSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromSpec {
    from: String,
    #[serde(default = "id_output")]
    output: String,
}

fn id_output() -> String {
    "id".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSpec {
    /// The database whose AWS-managed master password this is.
    password_of: String,
}

/// The container as compared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Container {
    name: String,
    image: String,
    port: i32,
    environment: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    log_group: String,
}

/// Fargate's CPU units and the memory sizes (MiB) each allows.
pub fn fargate_memory(cpu: u32) -> Option<Vec<u32>> {
    let range = |from: u32, to: u32, step: u32| (0..).map(move |i| from + i * step).take_while(move |m| *m <= to).collect::<Vec<_>>();
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
    fn section(&self) -> &'static str {
        "task_definitions"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        match fargate_memory(spec.cpu) {
            None => cx.error_hint("cpu", format!("Fargate has no {} CPU units", spec.cpu), "use 256, 512, 1024, 2048, 4096, 8192 or 16384"),
            Some(mem) if !mem.contains(&spec.memory) => cx.error_hint(
                "memory",
                format!("Fargate does not run {} MiB with {} CPU units", spec.memory, spec.cpu),
                format!("with {} CPU units: {}", spec.cpu, mem.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")),
            ),
            Some(_) => {}
        }
        if spec.container.image.is_empty() || spec.container.image.contains(' ') {
            cx.error("container.image", "an image reference has no spaces, like repo/name:tag");
        }
        if spec.container.port == 0 {
            cx.error("container.port", "port 0 is not a container port");
        }
        let mut env = serde_json::Map::new();
        for (k, v) in &spec.container.environment {
            let f = format!("container.environment.{k}");
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                cx.error(&f, format!("`{k}` is not an environment variable name"));
            }
            let value = match v {
                EnvSpec::Text(t) => Value::String(t.clone()),
                EnvSpec::Number(n) => Value::String(n.to_string()),
                EnvSpec::From(r) => cx.reference_attr(&format!("{f}.from"), &r.from, &r.output, &[]),
            };
            env.insert(k.clone(), value);
        }
        let mut secrets = serde_json::Map::new();
        for (k, s) in &spec.container.secrets {
            let f = format!("container.secrets.{k}");
            if spec.container.environment.contains_key(k) {
                cx.error(&f, format!("`{k}` is both an environment variable and a secret"));
            }
            // The managed secret holds JSON {"username", "password"}: pick the password.
            secrets.insert(k.clone(), cx.reference_suffixed(&format!("{f}.password_of"), &s.password_of, "secret_arn", ":password::", &["database"]));
        }
        let log_group = cx.reference(&"log_group".to_string(), &spec.log_group, &[super::log_group::KIND]);
        let mut props = Props::new();
        props.insert("family".into(), cx.physical_name(name).into());
        props.insert("cpu".into(), spec.cpu.to_string().into());
        props.insert("memory".into(), spec.memory.to_string().into());
        props.insert("execution_role".into(), cx.reference_attr("execution_role", &spec.execution_role, "arn", &[super::iam_role::KIND]));
        props.insert(
            "task_role".into(),
            match &spec.task_role {
                Some(r) => cx.reference_attr("task_role", r, "arn", &[super::iam_role::KIND]),
                None => Value::Null,
            },
        );
        props.insert(
            "container".into(),
            json!({
                "name": name,
                "image": spec.container.image,
                "port": spec.container.port,
                "environment": env,
                "secrets": secrets,
                "log_group": log_group,
            }),
        );
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

impl Cloud {
    fn observe(&self, td: &aws_sdk_ecs::types::TaskDefinition, tags: &[aws_sdk_ecs::types::Tag]) -> Option<Observed> {
        let tags = tag_map(tags);
        if tags.get(TAG_STACK) != Some(&self.0.stack) {
            return None;
        }
        let name = tags.get(TAG_NAME)?.clone();
        let c = td.container_definitions().first()?;
        let container = Container {
            name: c.name()?.to_string(),
            image: c.image().unwrap_or_default().to_string(),
            port: c.port_mappings().first().and_then(|p| p.container_port()).unwrap_or(0),
            environment: c.environment().iter().filter_map(|kv| Some((kv.name()?.to_string(), kv.value().unwrap_or("").to_string()))).collect(),
            secrets: c.secrets().iter().map(|s| (s.name().to_string(), s.value_from().to_string())).collect(),
            log_group: c
                .log_configuration()
                .and_then(|l| l.options())
                .and_then(|o| o.get("awslogs-group"))
                .cloned()
                .unwrap_or_default(),
        };
        Some(
            Observed::new(KIND, name, td.family()?)
                .with_prop("family", td.family()?)
                .with_prop("cpu", td.cpu().unwrap_or_default())
                .with_prop("memory", td.memory().unwrap_or_default())
                .with_prop("execution_role", td.execution_role_arn().map(Value::from).unwrap_or(Value::Null))
                .with_prop("task_role", td.task_role_arn().map(Value::from).unwrap_or(Value::Null))
                .with_prop("container", serde_json::to_value(container).unwrap_or(Value::Null))
                .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                .with_output("arn", td.task_definition_arn()?),
        )
    }

    async fn register(&self, props: &Props) -> Result<String, CloudError> {
        let c: Container = props
            .get("container")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| CloudError::new("ecs:RegisterTaskDefinition", "container definition missing"))?;
        let mut secrets = Vec::new();
        for (k, v) in &c.secrets {
            secrets.push(Secret::builder().name(k).value_from(v).build().map_err(|e| CloudError::new("ecs:RegisterTaskDefinition", e.to_string()))?);
        }
        let log = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", &c.log_group)
            .options("awslogs-region", &self.0.aws.region)
            .options("awslogs-stream-prefix", &c.name)
            .build()
            .map_err(|e| CloudError::new("ecs:RegisterTaskDefinition", e.to_string()))?;
        let container = ContainerDefinition::builder()
            .name(&c.name)
            .image(&c.image)
            .essential(true)
            .port_mappings(PortMapping::builder().container_port(c.port).protocol(TransportProtocol::Tcp).build())
            .set_environment(Some(c.environment.iter().map(|(k, v)| KeyValuePair::builder().name(k).value(v).build()).collect()))
            .set_secrets(Some(secrets))
            .log_configuration(log)
            .build();
        let out = super::retry_iam_propagation(|| async {
            self.0
                .aws
                .ecs
                .register_task_definition()
                .family(str_prop(props, "family")?)
                .requires_compatibilities(Compatibility::Fargate)
                .network_mode(NetworkMode::Awsvpc)
                .cpu(str_prop(props, "cpu")?)
                .memory(str_prop(props, "memory")?)
                .execution_role_arn(str_prop(props, "execution_role")?)
                .set_task_role_arn(props.get("task_role").and_then(Value::as_str).map(str::to_string))
                .container_definitions(container.clone())
                .set_tags(Some(ecs_tags(props)))
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
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["family"]
    }

    fn outputs_change_on_update(&self) -> bool {
        true
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let families: Vec<String> = self
            .0
            .aws
            .ecs
            .list_task_definition_families()
            .family_prefix(format!("{}-", self.0.stack))
            .status(aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListTaskDefinitionFamilies", e))?;
        // The latest ACTIVE revision of each family (no batch describe exists).
        let reads = families.iter().map(|f| async move {
            let d = self
                .0
                .aws
                .ecs
                .describe_task_definition()
                .task_definition(f)
                .include(TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(|e| err("ecs:DescribeTaskDefinition", e))?;
            let active = d.task_definition().filter(|td| td.status() != Some(&TaskDefinitionStatus::Inactive));
            Ok::<_, CloudError>(active.and_then(|td| self.observe(td, d.tags())))
        });
        Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let arn = self.register(props).await?;
        let mut o = Observed::new(KIND, name, str_prop(props, "family")?).with_output("arn", arn);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, _changed: &[String]) -> Result<Observed, CloudError> {
        // A new revision; the previous one stays until `down` (a rollback target).
        self.create(name, props).await.map(|mut o| {
            o.id = current.id.clone();
            o
        })
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let arns: Vec<String> = self
            .0
            .aws
            .ecs
            .list_task_definitions()
            .family_prefix(&current.id)
            .status(TaskDefinitionStatus::Active)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListTaskDefinitions", e))?;
        for arn in arns.iter().filter(|a| a.contains(&format!(":task-definition/{}:", current.id))) {
            self.0
                .aws
                .ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|e| err("ecs:DeregisterTaskDefinition", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::fargate_memory;

    #[test]
    fn fargate_pairs() {
        assert_eq!(fargate_memory(256), Some(vec![512, 1024, 2048]));
        assert!(fargate_memory(1024).is_some_and(|m| m.contains(&8192) && !m.contains(&1024)));
        assert!(fargate_memory(8192).is_some_and(|m| m.contains(&16384) && m.contains(&20480) && !m.contains(&17408)));
        assert_eq!(fargate_memory(300), None);
    }
}
