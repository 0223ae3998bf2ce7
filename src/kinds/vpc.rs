//! VPC: CIDR block (replacement), DNS support and hostnames (in place), tags.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use serde::Deserialize;

use super::ec2::{bool_prop, observed_tags, stack_filter, str_prop, sync_tags, tag_spec};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::net::Cidr;
use crate::model::{Cx, KindModel};

pub const KIND: &str = "vpc";

#[derive(Deserialize)]
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

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "vpcs"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        match Cidr::parse(&spec.cidr) {
            Ok(c) if !(16..=28).contains(&c.prefix) => cx.error(
                "cidr",
                format!("a VPC block must be between /16 and /28, not /{}", c.prefix),
            ),
            Ok(_) => {}
            Err(m) => cx.error("cidr", m),
        }
        if spec.dns_hostnames && !spec.dns_support {
            cx.error("dns_hostnames", "DNS hostnames need dns_support: true");
        }
        let mut props = Props::new();
        props.insert("cidr".into(), spec.cidr.into());
        props.insert("dns_support".into(), spec.dns_support.into());
        props.insert("dns_hostnames".into(), spec.dns_hostnames.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

impl Cloud {
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

    async fn set_dns(&self, id: &str, support: Option<bool>, hostnames: Option<bool>) -> Result<(), CloudError> {
        // One attribute per call (an API rule).
        if let Some(v) = support {
            self.0
                .aws
                .ec2
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_support(AttributeBooleanValue::builder().value(v).build())
                .send()
                .await
                .map_err(|e| err("ec2:ModifyVpcAttribute", e))?;
        }
        if let Some(v) = hostnames {
            self.0
                .aws
                .ec2
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(AttributeBooleanValue::builder().value(v).build())
                .send()
                .await
                .map_err(|e| err("ec2:ModifyVpcAttribute", e))?;
        }
        Ok(())
    }

    async fn observe(&self, v: &aws_sdk_ec2::types::Vpc) -> Result<Option<Observed>, CloudError> {
        let (tags, name) = observed_tags(v.tags(), &self.0.stack);
        let (Some(name), Some(id)) = (name, v.vpc_id()) else {
            return Ok(None);
        };
        let (support, hostnames) = tokio::try_join!(
            self.dns(id, VpcAttributeName::EnableDnsSupport),
            self.dns(id, VpcAttributeName::EnableDnsHostnames)
        )?;
        Ok(Some(
            Observed::new(KIND, name, id)
                .with_prop("cidr", v.cidr_block().unwrap_or_default())
                .with_prop("dns_support", support)
                .with_prop("dns_hostnames", hostnames)
                .with_prop("tags", tags),
        ))
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["cidr"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let vpcs: Vec<_> = self
            .0
            .aws
            .ec2
            .describe_vpcs()
            .filters(stack_filter(&self.0.stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeVpcs", e))?;
        let found = futures::future::try_join_all(vpcs.iter().map(|v| self.observe(v))).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let id = super::create_once(
            || async {
                let out = ec2
                    .create_vpc()
                    .cidr_block(str_prop(props, "cidr")?)
                    .tag_specifications(tag_spec(ResourceType::Vpc, props))
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateVpc", e))?;
                out.vpc.and_then(|v| v.vpc_id).ok_or_else(|| CloudError::new("ec2:CreateVpc", "no VPC id in the answer"))
            },
            || async {
                let out = ec2
                    .describe_vpcs()
                    .set_filters(Some(super::identity_filters(&self.0.stack, name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeVpcs", e))?;
                Ok(out.vpcs().first().and_then(|v| v.vpc_id()).map(str::to_string))
            },
        )
        .await?;
        // New VPCs have DNS support on and hostnames off.
        let support = bool_prop(props, "dns_support");
        let hostnames = bool_prop(props, "dns_hostnames");
        self.set_dns(&id, (!support).then_some(false), hostnames.then_some(true))
            .await?;
        let mut o = Observed::new(KIND, name, id);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let has = |f: &str| changed.iter().any(|c| c == f);
        self.set_dns(
            &current.id,
            has("dns_support").then(|| bool_prop(props, "dns_support")),
            has("dns_hostnames").then(|| bool_prop(props, "dns_hostnames")),
        )
        .await?;
        if has("tags") {
            sync_tags(&self.0.aws.ec2, &current.id, &current.props, props).await?;
        }
        let mut o = Observed::new(KIND, name, current.id.clone());
        o.props = props.clone();
        Ok(o)
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let res = super::retry_in_use(self.0.options.dependency_wait, || async {
            self.0
                .aws
                .ec2
                .delete_vpc()
                .vpc_id(&current.id)
                .send()
                .await
                .map_err(|e| err("ec2:DeleteVpc", e))
        })
        .await;
        match res {
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) if e.has_code("DependencyViolation") => Err(super::blockers::explain(&self.0, "vpc-id", &current.id, e).await),
            other => other.map(|_| ()),
        }
    }
}
