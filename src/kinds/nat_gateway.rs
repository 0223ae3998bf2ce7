//! NAT gateway (public connectivity): subnet and Elastic IP (replacement), tags.
//! Takes minutes to become available and to go away on real AWS: waits on both.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, NatGatewayState, ResourceType};
use serde::Deserialize;

use super::ec2::{client_token, observed_tags, stack_filter, str_prop, sync_tags, tag_spec};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind, Status, WaitPolicy};
use crate::model::{Cx, KindModel};

pub const KIND: &str = "nat_gateway";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// A public subnet.
    subnet: String,
    /// The Elastic IP it uses.
    eip: String,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "nat_gateways"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let mut props = Props::new();
        props.insert("subnet".into(), cx.reference("subnet", &spec.subnet, &[super::subnet::KIND]));
        props.insert("eip".into(), cx.reference("eip", &spec.eip, &[super::elastic_ip::KIND]));
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn observe(n: &aws_sdk_ec2::types::NatGateway, stack: &str) -> Option<Observed> {
    let (tags, name) = observed_tags(n.tags(), stack);
    let eip = n
        .nat_gateway_addresses()
        .iter()
        .find_map(|a| a.allocation_id())
        .unwrap_or_default();
    let mut o = Observed::new(KIND, name?, n.nat_gateway_id()?)
        .with_prop("subnet", n.subnet_id().unwrap_or_default())
        .with_prop("eip", eip)
        .with_prop("tags", tags);
    if n.state() == Some(&NatGatewayState::Failed) {
        o.failed = Some(n.failure_message().unwrap_or("failed").to_string());
    }
    Some(o)
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["subnet", "eip"]
    }

    fn needs_wait(&self) -> bool {
        true
    }

    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            timeout: Duration::from_secs(15 * 60),
            ..WaitPolicy::default()
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        // Deleted gateways stay visible for an hour: only live ones belong to the stack.
        let state = Filter::builder()
            .name("state")
            .values("pending")
            .values("available")
            .values("failed")
            .build();
        let nats: Vec<_> = self
            .0
            .aws
            .ec2
            .describe_nat_gateways()
            .filter(stack_filter(&self.0.stack))
            .filter(state)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeNatGateways", e))?;
        Ok(nats.iter().filter_map(|n| observe(n, &self.0.stack)).collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let stack = self.0.stack.as_str();
        // A duplicate NAT gateway bills by the hour: the client token guards on AWS, and
        // the create is sent once and looked up by its tags when the answer is lost.
        let id = super::create_once(
            || async {
                let out = ec2
                    .create_nat_gateway()
                    .subnet_id(str_prop(props, "subnet")?)
                    .allocation_id(str_prop(props, "eip")?)
                    .client_token(client_token(stack, name, props))
                    .tag_specifications(tag_spec(ResourceType::Natgateway, props))
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateNatGateway", e))?;
                out.nat_gateway
                    .and_then(|n| n.nat_gateway_id)
                    .ok_or_else(|| CloudError::new("ec2:CreateNatGateway", "no gateway id in the answer"))
            },
            || async {
                let out = ec2
                    .describe_nat_gateways()
                    .set_filter(Some(super::identity_filters(stack, name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeNatGateways", e))?;
                // Checked here too: some services ignore the tag filters of this listing.
                Ok(out
                    .nat_gateways()
                    .iter()
                    .filter(|n| !matches!(n.state().map(|s| s.as_str()), Some("deleted" | "deleting" | "failed")))
                    .find(|n| {
                        let tag = |k: &str| n.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value());
                        tag(crate::model::TAG_STACK) == Some(stack) && tag(crate::model::TAG_NAME) == Some(name)
                    })
                    .and_then(|n| n.nat_gateway_id())
                    .map(str::to_string))
            },
        )
        .await?;
        let mut o = Observed::new(KIND, name, id);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, _changed: &[String]) -> Result<Observed, CloudError> {
        sync_tags(&self.0.aws.ec2, &current.id, &current.props, props).await?;
        let mut o = Observed::new(KIND, name, current.id.clone());
        o.props = props.clone();
        Ok(o)
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        match self
            .0
            .aws
            .ec2
            .delete_nat_gateway()
            .nat_gateway_id(&current.id)
            .send()
            .await
            .map_err(|e| err("ec2:DeleteNatGateway", e))
        {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        let out = match self
            .0
            .aws
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(&current.id)
            .send()
            .await
            .map_err(|e| err("ec2:DescribeNatGateways", e))
        {
            Err(e) if is_not_found(&e) => return Ok(Status::Missing),
            other => other?,
        };
        let Some(n) = out.nat_gateways().first() else {
            return Ok(Status::Missing);
        };
        Ok(match n.state() {
            Some(NatGatewayState::Available) => Status::Ready,
            Some(NatGatewayState::Deleted) => Status::Missing,
            Some(NatGatewayState::Failed) => Status::Failed(format!(
                "{}: {}",
                n.failure_code().unwrap_or("failed"),
                n.failure_message().unwrap_or("no reason given")
            )),
            Some(s) => Status::Pending(s.as_str().to_string()),
            None => Status::Pending("unknown".into()),
        })
    }
}
