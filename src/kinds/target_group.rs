//! ELBv2 target group for IP targets (Fargate tasks): name, port, protocol, VPC
//! (replacement); health check path (in place), tags.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
use serde::Deserialize;
use serde_json::Value;

use super::ec2::str_prop;
use super::load_balancer::{arn_suffix, check_elb_name, elb_tags, sync_elb_tags, tags_of};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "target_group";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
    port: u16,
    #[serde(default = "default_path")]
    health_check_path: String,
}

fn default_path() -> String {
    "/".into()
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "target_groups"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn", "arn_suffix"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let tg_name = check_elb_name(cx, name);
        if spec.port == 0 {
            cx.error("port", "port must be 1-65535");
        }
        if !spec.health_check_path.starts_with('/') || spec.health_check_path.len() > 1024 {
            cx.error("health_check_path", "a health check path starts with / and is at most 1024 characters");
        }
        let mut props = Props::new();
        props.insert("tg_name".into(), tg_name.into());
        props.insert("vpc".into(), cx.reference("vpc", &spec.vpc, &[super::vpc::KIND]));
        props.insert("port".into(), spec.port.into());
        props.insert("health_check_path".into(), spec.health_check_path.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["tg_name", "vpc", "port"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let groups: Vec<_> = self
            .0
            .aws
            .elb
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeTargetGroups", e))?;
        let prefix = format!("{}-", self.0.stack);
        let ours: Vec<_> = groups.into_iter().filter(|g| g.target_group_name().is_some_and(|n| n.starts_with(&prefix))).collect();
        let arns: Vec<String> = ours.iter().filter_map(|g| g.target_group_arn().map(str::to_string)).collect();
        let tags = tags_of(&self.0, &arns).await?;
        Ok(ours
            .iter()
            .filter_map(|g| {
                let arn = g.target_group_arn()?.to_string();
                let t = tags.get(&arn)?;
                if t.get(TAG_STACK) != Some(&self.0.stack) {
                    return None;
                }
                Some(
                    Observed::new(KIND, t.get(TAG_NAME)?.clone(), &arn)
                        .with_prop("tg_name", g.target_group_name()?)
                        .with_prop("vpc", g.vpc_id().unwrap_or_default())
                        .with_prop("port", g.port().unwrap_or(0))
                        .with_prop("health_check_path", g.health_check_path().unwrap_or("/"))
                        .with_prop("tags", serde_json::to_value(t).unwrap_or(Value::Null))
                        .with_output("arn", &arn)
                        .with_output("arn_suffix", arn_suffix(&arn)),
                )
            })
            .collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let out = self
            .0
            .aws
            .elb
            .create_target_group()
            .name(str_prop(props, "tg_name")?)
            .protocol(ProtocolEnum::Http)
            .port(props.get("port").and_then(Value::as_i64).unwrap_or(80) as i32)
            .vpc_id(str_prop(props, "vpc")?)
            .target_type(TargetTypeEnum::Ip)
            .health_check_path(str_prop(props, "health_check_path")?)
            .set_tags(Some(elb_tags(props)))
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:CreateTargetGroup", e))?;
        let arn = out.target_groups().first().and_then(|g| g.target_group_arn()).unwrap_or_default().to_string();
        let mut o = Observed::new(KIND, name, &arn).with_output("arn", &arn).with_output("arn_suffix", arn_suffix(&arn));
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| c == "health_check_path") {
            self.0
                .aws
                .elb
                .modify_target_group()
                .target_group_arn(&current.id)
                .health_check_path(str_prop(props, "health_check_path")?)
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:ModifyTargetGroup", e))?;
        }
        if changed.iter().any(|c| c == "tags") {
            sync_elb_tags(&self.0, &current.id, &current.props, props).await?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        // Still in use while the listener that forwards to it is being deleted.
        let res = super::retry_in_use(self.0.options.dependency_wait, || async {
            self.0.aws.elb.delete_target_group().target_group_arn(&current.id).send().await.map_err(|e| err("elasticloadbalancing:DeleteTargetGroup", e))
        })
        .await;
        match res {
            Err(e) if e.has_code("TargetGroupNotFound") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
