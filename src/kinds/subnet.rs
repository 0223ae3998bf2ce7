//! Subnet: VPC, CIDR block and zone (replacement); public IPs on launch and tags (in place).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use serde::Deserialize;

use super::ec2::{bool_prop, observed_tags, stack_filter, str_prop, sync_tags, tag_spec};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{as_ref, CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::net::{check_zone, Cidr};
use crate::model::{Cx, KindModel};

pub const KIND: &str = "subnet";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
    cidr: String,
    zone: String,
    /// Instances launched here get a public IP (public subnets).
    #[serde(default)]
    public: bool,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "subnets"
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
                format!("a subnet block must be between /16 and /28, not /{}", c.prefix),
            ),
            Ok(_) => {}
            Err(m) => cx.error("cidr", m),
        }
        let region = cx.region.to_string();
        cx.check("zone", check_zone(&region, &spec.zone));
        let mut props = Props::new();
        props.insert("vpc".into(), cx.reference("vpc", &spec.vpc, &[super::vpc::KIND]));
        props.insert("cidr".into(), spec.cidr.into());
        props.insert("zone".into(), spec.zone.into());
        props.insert("public".into(), spec.public.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        let cidr_of = |d: &Desired| d.props.get("cidr").and_then(|v| v.as_str()).and_then(|s| Cidr::parse(s).ok());
        let vpc_of = |d: &Desired| d.props.get("vpc").and_then(as_ref).map(|(n, _)| n.to_string());
        let (Some(mine), Some(vpc)) = (cidr_of(d), vpc_of(d)) else {
            return;
        };
        if let Some(vc) = all.get(&vpc).and_then(cidr_of) {
            if !vc.contains(&mine) {
                cx.error("cidr", format!("{mine} is not inside the block of vpc `{vpc}` ({vc})"));
            }
        }
        for other in all.values() {
            if other.kind == KIND && other.name < d.name && vpc_of(other).as_deref() == Some(vpc.as_str()) {
                if let Some(oc) = cidr_of(other) {
                    if oc.overlaps(&mine) {
                        cx.error("cidr", format!("{mine} overlaps subnet `{}` ({oc}) in the same VPC", other.name));
                    }
                }
            }
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

impl Cloud {
    async fn set_public(&self, id: &str, public: bool) -> Result<(), CloudError> {
        self.0
            .aws
            .ec2
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(public).build())
            .send()
            .await
            .map_err(|e| err("ec2:ModifySubnetAttribute", e))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["vpc", "cidr", "zone"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let subnets: Vec<_> = self
            .0
            .aws
            .ec2
            .describe_subnets()
            .filters(stack_filter(&self.0.stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeSubnets", e))?;
        Ok(subnets
            .iter()
            .filter_map(|s| {
                let (tags, name) = observed_tags(s.tags(), &self.0.stack);
                Some(
                    Observed::new(KIND, name?, s.subnet_id()?)
                        .with_prop("vpc", s.vpc_id().unwrap_or_default())
                        .with_prop("cidr", s.cidr_block().unwrap_or_default())
                        .with_prop("zone", s.availability_zone().unwrap_or_default())
                        .with_prop("public", s.map_public_ip_on_launch().unwrap_or(false))
                        .with_prop("tags", tags),
                )
            })
            .collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let id = super::create_once(
            || async {
                let out = ec2
                    .create_subnet()
                    .vpc_id(str_prop(props, "vpc")?)
                    .cidr_block(str_prop(props, "cidr")?)
                    .availability_zone(str_prop(props, "zone")?)
                    .tag_specifications(tag_spec(ResourceType::Subnet, props))
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateSubnet", e))?;
                out.subnet.and_then(|s| s.subnet_id).ok_or_else(|| CloudError::new("ec2:CreateSubnet", "no subnet id in the answer"))
            },
            || async {
                let out = ec2
                    .describe_subnets()
                    .set_filters(Some(super::identity_filters(&self.0.stack, name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeSubnets", e))?;
                Ok(out.subnets().first().and_then(|s| s.subnet_id()).map(str::to_string))
            },
        )
        .await?;
        if bool_prop(props, "public") {
            self.set_public(&id, true).await?;
        }
        let mut o = Observed::new(KIND, name, id);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| c == "public") {
            self.set_public(&current.id, bool_prop(props, "public")).await?;
        }
        if changed.iter().any(|c| c == "tags") {
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
                .delete_subnet()
                .subnet_id(&current.id)
                .send()
                .await
                .map_err(|e| err("ec2:DeleteSubnet", e))
        })
        .await;
        match res {
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) if e.has_code("DependencyViolation") => Err(super::blockers::explain(&self.0, "subnet-id", &current.id, e).await),
            other => other.map(|_| ()),
        }
    }
}
