//! NAT gateway (public connectivity): subnet and Elastic IP (replacement), tags.
//! Takes minutes to become available and to go away on real AWS: waits on both.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, NatGatewayState, ResourceType};
use serde::{Deserialize, Serialize};

use super::{identity_filters, stack_filter, tag_spec, tags_of, Ec2Tags};
use crate::aws::{err, is_not_found};
use crate::engine::{
    CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Status, WaitPolicy,
};
use crate::kinds::names;
use crate::kinds::support::retry::{client_token, create_once, no_retries};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    replace: &["subnet", "eip"],
    wait: Some(
        WaitPolicy::new(
            Duration::from_secs(15 * 60),
            Duration::from_millis(200),
            Duration::from_secs(15),
        )
        .expecting(Duration::from_secs(90))
        .gone_within(Duration::from_secs(60)),
    ),
    ..KindInfo::new(names::NAT_GATEWAY, "nat_gateways", "ec2")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// A public subnet.
    subnet: String,
    /// The Elastic IP it uses.
    eip: String,
}

/// What is compared; `R` names the subnet and address (references, then ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub subnet: R,
    pub eip: R,
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
        let props = Props {
            subnet: cx.reference("subnet", &spec.subnet, &[names::SUBNET]),
            eip: cx.reference("eip", &spec.eip, &[names::ELASTIC_IP]),
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(NatGateway(cx.clone()))]
}

pub struct NatGateway(pub Arc<Context>);

impl NatGateway {
    async fn create_gateway(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let stack = self.0.stack();
        // A duplicate NAT gateway bills by the hour: the client token guards on AWS, and
        // the create is sent once and looked up by its tags when the answer is lost.
        let token = client_token(stack, name);
        let id = create_once(
            || async {
                let out = ec2
                    .create_nat_gateway()
                    .subnet_id(&want.subnet)
                    .allocation_id(&want.eip)
                    .client_token(&token)
                    .tag_specifications(tag_spec(ResourceType::Natgateway, &want.tags))
                    .customize()
                    .config_override(no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateNatGateway", e))?;
                out.nat_gateway
                    .and_then(|n| n.nat_gateway_id)
                    .ok_or_else(|| {
                        CloudError::new("ec2:CreateNatGateway", "no gateway id in the answer")
                    })
            },
            || async {
                let out = ec2
                    .describe_nat_gateways()
                    .set_filter(Some(identity_filters(stack, name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeNatGateways", e))?;
                // Checked here too: some services ignore the tag filters of this listing.
                Ok(out
                    .nat_gateways()
                    .iter()
                    .filter(|n| {
                        !matches!(
                            n.state().map(|s| s.as_str()),
                            Some("deleted" | "deleting" | "failed")
                        )
                    })
                    .find(|n| identity(&tags_of(n.tags()), stack).as_deref() == Some(name))
                    .and_then(|n| n.nat_gateway_id())
                    .map(str::to_string))
            },
        )
        .await?;
        Ok(Found::new(name, id, want.clone()))
    }

    /// Whether Elastic IP `allocation` belongs to a NAT gateway on its way out.
    async fn held_by_a_deleting_gateway(&self, allocation: &str) -> Result<bool, CloudError> {
        let out = self
            .0
            .aws
            .ec2
            .describe_nat_gateways()
            .filter(
                aws_sdk_ec2::types::Filter::builder()
                    .name("state")
                    .values("deleting")
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("ec2:DescribeNatGateways", e))?;
        Ok(out.nat_gateways().iter().any(|n| {
            n.nat_gateway_addresses()
                .iter()
                .any(|a| a.allocation_id() == Some(allocation))
        }))
    }
}

#[async_trait]
impl Kind for NatGateway {
    type Props = Props;
    type Remote = aws_sdk_ec2::types::NatGateway;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn adopt(&self, id: &str, identity: &Tags) -> Option<Result<(), CloudError>> {
        Some(super::adopt(&self.0, "NAT gateway", "nat-", id, identity).await)
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        // Deleted gateways stay visible for an hour: only live ones belong to the stack.
        let state = Filter::builder()
            .name("state")
            .values("pending")
            .values("available")
            .values("failed")
            .values("deleting")
            .build();
        self.0
            .aws
            .ec2
            .describe_nat_gateways()
            .filter(stack_filter(self.0.stack()))
            .filter(state)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeNatGateways", e))
    }

    fn observe(&self, n: &Self::Remote) -> Option<Found<Props>> {
        let tags = tags_of(n.tags());
        let name = identity(&tags, self.0.stack())?;
        let eip = n
            .nat_gateway_addresses()
            .iter()
            .find_map(|a| a.allocation_id())
            .unwrap_or_default()
            .to_string();
        let props = Props {
            subnet: n.subnet_id().unwrap_or_default().to_string(),
            eip,
            tags,
        };
        let mut f = Found::new(name, n.nat_gateway_id()?, props);
        if n.state() == Some(&NatGatewayState::Failed) {
            f.failed = Some(n.failure_message().unwrap_or("failed").to_string());
        }
        f.deleting = n.state() == Some(&NatGatewayState::Deleting);
        Some(f)
    }

    async fn find(&self, current: &Found<Props>) -> Result<Option<Self::Remote>, CloudError> {
        match self
            .0
            .aws
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(&current.id)
            .send()
            .await
            .map_err(|e| err("ec2:DescribeNatGateways", e))
        {
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
            // A deleted gateway stays listed for an hour: it is gone.
            Ok(out) => Ok(out
                .nat_gateways
                .unwrap_or_default()
                .into_iter()
                .find(|n| n.state() != Some(&NatGatewayState::Deleted))),
        }
    }

    fn state(&self, n: &Self::Remote) -> Status {
        match n.state() {
            Some(NatGatewayState::Available) => Status::Ready,
            Some(NatGatewayState::Deleted) => Status::Missing,
            Some(NatGatewayState::Failed) => Status::Failed(format!(
                "{}: {}",
                n.failure_code().unwrap_or("failed"),
                n.failure_message().unwrap_or("no reason given")
            )),
            Some(s) => Status::Pending(s.as_str().to_string()),
            None => Status::Pending("unknown".into()),
        }
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        // The address of a gateway being deleted (replaced, or deleted outside) is
        // released only once that gateway is gone: wait for it, not for anything else.
        let started = tokio::time::Instant::now();
        loop {
            match self.create_gateway(name, want).await {
                Err(e)
                    if e.has_code("Resource.AlreadyAssociated")
                        && started.elapsed() < self.0.options.dependency_wait
                        && self.held_by_a_deleting_gateway(&want.eip).await? =>
                {
                    tracing::info!("{} is still held by a NAT gateway being deleted", want.eip);
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
                other => return other,
            }
        }
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        sync_tags(
            &Ec2Tags(&self.0.aws.ec2),
            &current.id,
            &current.props.tags,
            &want.tags,
        )
        .await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        if current.deleting {
            return Ok(Deletion::Started);
        }
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
            Err(e) if is_not_found(&e) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Started),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};
    use aws_sdk_ec2::types::NatGatewayAddress;

    fn nat(state: NatGatewayState) -> aws_sdk_ec2::types::NatGateway {
        aws_sdk_ec2::types::NatGateway::builder()
            .nat_gateway_id("nat-1")
            .subnet_id(out("pub-a", "id"))
            .nat_gateway_addresses(
                NatGatewayAddress::builder()
                    .allocation_id(out("nat-ip", "id"))
                    .build(),
            )
            .state(state)
            .set_tags(Some(super::super::sdk_tags(testing::identity_tags("nat"))))
            .build()
    }

    #[test]
    fn a_described_gateway_is_what_the_file_wants() {
        let file = "vpcs:\n  main: {cidr: 10.0.0.0/16}\ninternet_gateways:\n  igw: {vpc: main}\nsubnets:\n  pub-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\nelastic_ips:\n  nat-ip: {}\nnat_gateways:\n  nat: {subnet: pub-a, eip: nat-ip}\n";
        assert_observes(
            NatGateway(context()),
            &nat(NatGatewayState::Available),
            file,
            "nat",
        );
    }

    #[test]
    fn states() {
        let k = NatGateway(context());
        assert_eq!(k.state(&nat(NatGatewayState::Available)), Status::Ready);
        assert_eq!(
            k.state(&nat(NatGatewayState::Pending)),
            Status::Pending("pending".into())
        );
        assert_eq!(k.state(&nat(NatGatewayState::Deleted)), Status::Missing);
        assert!(matches!(
            k.state(&nat(NatGatewayState::Failed)),
            Status::Failed(_)
        ));
        assert!(k
            .observe(&nat(NatGatewayState::Failed))
            .is_some_and(|f| f.failed.is_some()));
    }
}
