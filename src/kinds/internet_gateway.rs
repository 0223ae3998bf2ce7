//! Internet gateway: attached to one VPC (moved in place), tags.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use serde::Deserialize;

use super::ec2::{observed_tags, stack_filter, str_prop, sync_tags, tag_spec};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel};

pub const KIND: &str = "internet_gateway";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "internet_gateways"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let mut props = Props::new();
        props.insert("vpc".into(), cx.reference("vpc", &spec.vpc, &[super::vpc::KIND]));
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

impl Cloud {
    async fn attach(&self, id: &str, vpc: &str) -> Result<(), CloudError> {
        let res = self
            .0
            .aws
            .ec2
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| err("ec2:AttachInternetGateway", e));
        // The gateway is the stack's own and new: attached means attached by a retried call.
        super::already_done(res, &["Resource.AlreadyAssociated"])
    }

    async fn detach(&self, id: &str, vpc: &str) -> Result<(), CloudError> {
        // Fails while addresses are still mapped in the VPC (a NAT gateway going away).
        let res = super::retry_in_use(self.0.options.dependency_wait, || async {
            self.0
                .aws
                .ec2
                .detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
                .await
                .map_err(|e| err("ec2:DetachInternetGateway", e))
        })
        .await;
        match res {
            Err(e) if is_not_found(&e) || e.has_code("Gateway.NotAttached") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let igws: Vec<_> = self
            .0
            .aws
            .ec2
            .describe_internet_gateways()
            .filters(stack_filter(&self.0.stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeInternetGateways", e))?;
        Ok(igws
            .iter()
            .filter_map(|g| {
                let (tags, name) = observed_tags(g.tags(), &self.0.stack);
                let vpc = g
                    .attachments()
                    .iter()
                    .find_map(|a| a.vpc_id())
                    .map(|v| serde_json::Value::String(v.to_string()))
                    .unwrap_or(serde_json::Value::Null);
                Some(
                    Observed::new(KIND, name?, g.internet_gateway_id()?)
                        .with_prop("vpc", vpc)
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
                    .create_internet_gateway()
                    .tag_specifications(tag_spec(ResourceType::InternetGateway, props))
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateInternetGateway", e))?;
                out.internet_gateway
                    .and_then(|g| g.internet_gateway_id)
                    .ok_or_else(|| CloudError::new("ec2:CreateInternetGateway", "no gateway id in the answer"))
            },
            || async {
                let out = ec2
                    .describe_internet_gateways()
                    .set_filters(Some(super::identity_filters(&self.0.stack, name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeInternetGateways", e))?;
                Ok(out.internet_gateways().first().and_then(|g| g.internet_gateway_id()).map(str::to_string))
            },
        )
        .await?;
        self.attach(&id, str_prop(props, "vpc")?).await?;
        let mut o = Observed::new(KIND, name, id);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| c == "vpc") {
            if let Some(old) = current.props.get("vpc").and_then(|v| v.as_str()) {
                self.detach(&current.id, old).await?;
            }
            self.attach(&current.id, str_prop(props, "vpc")?).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            sync_tags(&self.0.aws.ec2, &current.id, &current.props, props).await?;
        }
        let mut o = Observed::new(KIND, name, current.id.clone());
        o.props = props.clone();
        Ok(o)
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        if let Some(vpc) = current.props.get("vpc").and_then(|v| v.as_str()) {
            self.detach(&current.id, vpc).await?;
        }
        match self
            .0
            .aws
            .ec2
            .delete_internet_gateway()
            .internet_gateway_id(&current.id)
            .send()
            .await
            .map_err(|e| err("ec2:DeleteInternetGateway", e))
        {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
