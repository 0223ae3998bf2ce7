//! ELBv2 target group for IP targets (Fargate tasks): name, port, protocol, VPC
//! (replacement); health check path, deregistration delay (in place), tags.
//!
//! The deregistration delay is how long a target leaving the group keeps its
//! connections: an ECS service being deleted drains that long before it goes. AWS's
//! default is 300 seconds; the stack's is 30, enough for an API's requests to finish.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    ProtocolEnum, TargetGroup, TargetGroupAttribute, TargetTypeEnum,
};
use serde::{Deserialize, Serialize};

use super::{arn_suffix, check_name, sdk_tags, tags_by_arn, ElbTags};
use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::in_use;
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn", "arn_suffix"],
    replace: &["tg_name", "vpc", "port"],
    ..KindInfo::new(names::TARGET_GROUP, "target_groups", "elasticloadbalancing")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
    port: u16,
    #[serde(default = "default_path")]
    health_check_path: String,
    #[serde(default = "default_delay")]
    deregistration_delay_seconds: i32,
}

fn default_delay() -> i32 {
    30
}

const DELAY: &str = "deregistration_delay.timeout_seconds";

fn default_path() -> String {
    "/".into()
}

/// What is compared; `R` names the VPC (a reference, then an id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub tg_name: String,
    pub vpc: R,
    pub port: u16,
    pub health_check_path: String,
    pub deregistration_delay_seconds: i32,
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
        let tg_name = check_name(cx, name);
        if spec.port == 0 {
            cx.error("port", "port must be 1-65535");
        }
        if !spec.health_check_path.starts_with('/') || spec.health_check_path.len() > 1024 {
            cx.error(
                "health_check_path",
                "a health check path starts with / and is at most 1024 characters",
            );
        }
        if !(0..=3600).contains(&spec.deregistration_delay_seconds) {
            cx.error(
                "deregistration_delay_seconds",
                "a deregistration delay is 0 to 3600 seconds",
            );
        }
        let props = Props {
            tg_name,
            vpc: cx.reference("vpc", &spec.vpc, &[names::VPC]),
            port: spec.port,
            health_check_path: spec.health_check_path,
            deregistration_delay_seconds: spec.deregistration_delay_seconds,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(TargetGroupKind(cx.clone()))]
}

pub struct TargetGroupKind(pub Arc<Context>);

impl TargetGroupKind {
    /// The deregistration delay AWS holds for a group (its default when unread).
    async fn delay(&self, arn: &str) -> Result<i32, CloudError> {
        let out = self
            .0
            .aws
            .elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeTargetGroupAttributes", e))?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DELAY))
            .and_then(|a| a.value())
            .and_then(|v| v.parse().ok())
            .unwrap_or(300))
    }

    async fn set_delay(&self, arn: &str, seconds: i32) -> Result<(), CloudError> {
        self.0
            .aws
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key(DELAY)
                    .value(seconds.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:ModifyTargetGroupAttributes", e))?;
        Ok(())
    }
}

#[async_trait]
impl Kind for TargetGroupKind {
    type Props = Props;
    /// The group, its tags and its deregistration delay.
    type Remote = (TargetGroup, Tags, i32);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        let groups: Vec<TargetGroup> = self
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
        let prefix = format!("{}-", self.0.stack());
        let ours: Vec<TargetGroup> = groups
            .into_iter()
            .filter(|g| {
                g.target_group_name()
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .collect();
        let arns: Vec<String> = ours
            .iter()
            .filter_map(|g| g.target_group_arn().map(str::to_string))
            .collect();
        let mut tags = tags_by_arn(&self.0, &arns).await?;
        let mut out = Vec::new();
        for g in ours {
            let Some(t) = g.target_group_arn().and_then(|a| tags.remove(a)) else {
                continue;
            };
            let delay = match g.target_group_arn() {
                Some(arn) if identity(&t, self.0.stack()).is_some() => self.delay(arn).await?,
                _ => continue,
            };
            out.push((g, t, delay));
        }
        Ok(out)
    }

    fn observe(&self, (g, tags, delay): &Self::Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let arn = g.target_group_arn()?;
        let props = Props {
            tg_name: g.target_group_name()?.to_string(),
            vpc: g.vpc_id().unwrap_or_default().to_string(),
            port: g.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
            health_check_path: g.health_check_path().unwrap_or("/").to_string(),
            deregistration_delay_seconds: *delay,
            tags: tags.clone(),
        };
        Some(
            Found::new(name, arn, props)
                .output("arn", arn)
                .output("arn_suffix", arn_suffix(arn)),
        )
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let out = self
            .0
            .aws
            .elb
            .create_target_group()
            .name(&want.tg_name)
            .protocol(ProtocolEnum::Http)
            .port(i32::from(want.port))
            .vpc_id(&want.vpc)
            .target_type(TargetTypeEnum::Ip)
            .health_check_path(&want.health_check_path)
            .set_tags(Some(sdk_tags(&want.tags)))
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:CreateTargetGroup", e))?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .ok_or_else(|| {
                CloudError::new(
                    "elasticloadbalancing:CreateTargetGroup",
                    "no target group in the answer",
                )
            })?;
        self.set_delay(arn, want.deregistration_delay_seconds)
            .await?;
        Ok(Found::new(name, arn, want.clone())
            .output("arn", arn)
            .output("arn_suffix", arn_suffix(arn)))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let elb = &self.0.aws.elb;
        if current.props.health_check_path != want.health_check_path {
            elb.modify_target_group()
                .target_group_arn(&current.id)
                .health_check_path(&want.health_check_path)
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:ModifyTargetGroup", e))?;
        }
        if current.props.deregistration_delay_seconds != want.deregistration_delay_seconds {
            self.set_delay(&current.id, want.deregistration_delay_seconds)
                .await?;
        }
        sync_tags(&ElbTags(elb), &current.id, &current.props.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        // Still in use while the listener that forwards to it is being deleted.
        let res = in_use(
            self.0
                .aws
                .elb
                .delete_target_group()
                .target_group_arn(&current.id)
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:DeleteTargetGroup", e)),
            &[],
        );
        match res {
            Err(e) if e.has_code("TargetGroupNotFound") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};

    #[test]
    fn a_described_target_group_is_what_the_file_wants() {
        let file = "vpcs:\n  main: {cidr: 10.0.0.0/16}\ntarget_groups:\n  api: {vpc: main, port: 8000, health_check_path: /health}\n";
        let arn = "arn:aws:elasticloadbalancing:eu-west-3:1:targetgroup/app-api/73e2";
        let g = TargetGroup::builder()
            .target_group_arn(arn)
            .target_group_name("app-api")
            .vpc_id(out("main", "id"))
            .port(8000)
            .health_check_path("/health")
            .build();
        assert_observes(
            TargetGroupKind(context()),
            &(g, testing::identity_tags("api"), 30),
            file,
            "api",
        );
    }
}
