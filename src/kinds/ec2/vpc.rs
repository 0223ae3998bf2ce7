//! VPC: CIDR block (replacement), DNS support and hostnames (in place), tags.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use serde::{Deserialize, Serialize};

use super::{gone_or_explained, identity_filters, stack_filter, tag_spec, tags_of, Ec2Tags};
use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::{create_once, no_retries};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::net::Cidr;
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    replace: &["cidr"],
    ..KindInfo::new(names::VPC, "vpcs", "ec2")
};

/// A VPC block's allowed prefix lengths.
pub const PREFIXES: std::ops::RangeInclusive<u8> = 16..=28;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    cidr: String,
    #[serde(default = "yes")]
    dns_support: bool,
    #[serde(default = "yes")]
    dns_hostnames: bool,
}

fn yes() -> bool {
    true
}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    pub cidr: String,
    pub dns_support: bool,
    pub dns_hostnames: bool,
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
        match Cidr::parse(&spec.cidr) {
            Ok(c) if !PREFIXES.contains(&c.prefix) => cx.error(
                "cidr",
                format!("a VPC block must be between /16 and /28, not /{}", c.prefix),
            ),
            Ok(_) => {}
            Err(m) => cx.error("cidr", m),
        }
        if spec.dns_hostnames && !spec.dns_support {
            cx.error("dns_hostnames", "DNS hostnames need dns_support: true");
        }
        let props = Props {
            cidr: spec.cidr,
            dns_support: spec.dns_support,
            dns_hostnames: spec.dns_hostnames,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(Vpc(cx.clone()))]
}

pub struct Vpc(pub Arc<Context>);

/// A VPC and its two DNS attributes (support, hostnames), which only per-VPC calls give.
pub type Remote = (aws_sdk_ec2::types::Vpc, bool, bool);

impl Vpc {
    async fn dns(&self, id: &str, attr: VpcAttributeName) -> Result<bool, CloudError> {
        let out = self
            .0
            .aws
            .ec2
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(attr.clone())
            .send()
            .await
            .map_err(|e| err("ec2:DescribeVpcAttribute", e))?;
        let v = match attr {
            VpcAttributeName::EnableDnsSupport => out.enable_dns_support,
            _ => out.enable_dns_hostnames,
        };
        Ok(v.and_then(|v| v.value).unwrap_or(false))
    }

    async fn with_dns(&self, v: aws_sdk_ec2::types::Vpc) -> Result<Remote, CloudError> {
        let id = v.vpc_id().unwrap_or_default().to_string();
        let (support, hostnames) = tokio::try_join!(
            self.dns(&id, VpcAttributeName::EnableDnsSupport),
            self.dns(&id, VpcAttributeName::EnableDnsHostnames)
        )?;
        Ok((v, support, hostnames))
    }

    async fn set_dns(
        &self,
        id: &str,
        support: Option<bool>,
        hostnames: Option<bool>,
    ) -> Result<(), CloudError> {
        // One attribute per call (an API rule).
        let ec2 = &self.0.aws.ec2;
        if let Some(v) = support {
            ec2.modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_support(AttributeBooleanValue::builder().value(v).build())
                .send()
                .await
                .map_err(|e| err("ec2:ModifyVpcAttribute", e))?;
        }
        if let Some(v) = hostnames {
            ec2.modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(AttributeBooleanValue::builder().value(v).build())
                .send()
                .await
                .map_err(|e| err("ec2:ModifyVpcAttribute", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Kind for Vpc {
    type Props = Props;
    type Remote = Remote;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn adopt(&self, id: &str, identity: &Tags) -> Option<Result<(), CloudError>> {
        Some(super::adopt(&self.0, "VPC", "vpc-", id, identity).await)
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Remote>, CloudError> {
        let vpcs: Vec<_> = self
            .0
            .aws
            .ec2
            .describe_vpcs()
            .filters(stack_filter(self.0.stack()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeVpcs", e))?;
        futures::future::try_join_all(vpcs.into_iter().map(|v| self.with_dns(v))).await
    }

    fn observe(&self, (v, support, hostnames): &Remote) -> Option<Found<Props>> {
        let tags = tags_of(v.tags());
        let name = identity(&tags, self.0.stack())?;
        let props = Props {
            cidr: v.cidr_block().unwrap_or_default().to_string(),
            dns_support: *support,
            dns_hostnames: *hostnames,
            tags,
        };
        Some(Found::new(name, v.vpc_id()?, props))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let id = create_once(
            || async {
                let out = ec2
                    .create_vpc()
                    .cidr_block(&want.cidr)
                    .tag_specifications(tag_spec(ResourceType::Vpc, &want.tags))
                    .customize()
                    .config_override(no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateVpc", e))?;
                out.vpc
                    .and_then(|v| v.vpc_id)
                    .ok_or_else(|| CloudError::new("ec2:CreateVpc", "no VPC id in the answer"))
            },
            || async {
                let out = ec2
                    .describe_vpcs()
                    .set_filters(Some(identity_filters(self.0.stack(), name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeVpcs", e))?;
                Ok(out
                    .vpcs()
                    .first()
                    .and_then(|v| v.vpc_id())
                    .map(str::to_string))
            },
        )
        .await?;
        // New VPCs have DNS support on and hostnames off.
        self.set_dns(
            &id,
            (!want.dns_support).then_some(false),
            want.dns_hostnames.then_some(true),
        )
        .await?;
        Ok(Found::new(name, id, want.clone()))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let have = &current.props;
        self.set_dns(
            &current.id,
            (have.dns_support != want.dns_support).then_some(want.dns_support),
            (have.dns_hostnames != want.dns_hostnames).then_some(want.dns_hostnames),
        )
        .await?;
        sync_tags(
            &Ec2Tags(&self.0.aws.ec2),
            &current.id,
            &have.tags,
            &want.tags,
        )
        .await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        let res = self
            .0
            .aws
            .ec2
            .delete_vpc()
            .vpc_id(&current.id)
            .send()
            .await
            .map_err(|e| err("ec2:DeleteVpc", e));
        gone_or_explained(&self.0, "vpc-id", &current.id, res).await?;
        Ok(Deletion::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    fn vpc(tags: Tags) -> aws_sdk_ec2::types::Vpc {
        aws_sdk_ec2::types::Vpc::builder()
            .vpc_id("vpc-1")
            .cidr_block("10.0.0.0/16")
            .set_tags(Some(super::super::sdk_tags(tags)))
            .build()
    }

    #[test]
    fn a_described_vpc_is_what_the_file_wants() {
        let remote = (vpc(testing::identity_tags("main")), true, true);
        assert_observes(
            Vpc(context()),
            &remote,
            "vpcs:\n  main: {cidr: 10.0.0.0/16}\n",
            "main",
        );
    }

    #[test]
    fn a_vpc_without_the_stack_tag_is_not_the_stacks() {
        let remote = (vpc(testing::foreign_tags("main")), true, true);
        assert!(Vpc(context()).observe(&remote).is_none());
    }
}
