//! Internet gateway: attached to one VPC (moved in place), tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};

use super::{identity_filters, stack_filter, tag_spec, tags_of, Ec2Tags};
use crate::aws::{err, is_not_found};
use crate::engine::{as_ref, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::{already_done, create_once, in_use, no_retries};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    // A gateway detaches only once nothing in its VPC maps a public address any more.
    delete_after: &[names::LOAD_BALANCER, names::NAT_GATEWAY, names::ELASTIC_IP],
    ..KindInfo::new(names::INTERNET_GATEWAY, "internet_gateways", "ec2")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
}

/// What is compared: the VPC it is attached to (none while detached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = Option<String>> {
    pub vpc: R,
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
            vpc: cx.reference("vpc", &spec.vpc, &[names::VPC]),
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }

    /// AWS attaches one internet gateway per VPC, and a NAT gateway sends its traffic
    /// through its VPC's internet gateway: refused before any call rather than half-way.
    fn check_all(&self, cx: &mut Cx, all: &BTreeMap<String, Desired>) {
        let vpc_of = |d: &Desired, field: &str| {
            d.props
                .get(field)
                .and_then(as_ref)
                .map(|(n, _)| n.to_string())
        };
        let mut gateways: BTreeMap<String, &str> = BTreeMap::new();
        for d in all.values().filter(|d| d.kind == INFO.kind) {
            let Some(vpc) = vpc_of(d, "vpc") else {
                continue;
            };
            if let Some(first) = gateways.get(&vpc) {
                cx.at(INFO.section, &d.name);
                cx.error(
                    "vpc",
                    format!("VPC `{vpc}` already has internet gateway `{first}`: AWS attaches one per VPC"),
                );
            } else {
                gateways.insert(vpc, &d.name);
            }
        }
        for nat in all.values().filter(|d| d.kind == names::NAT_GATEWAY) {
            let subnet = vpc_of(nat, "subnet").and_then(|s| all.get(&s));
            let Some(vpc) = subnet.and_then(|s| vpc_of(s, "vpc")) else {
                continue;
            };
            if !gateways.contains_key(&vpc) {
                cx.at("nat_gateways", &nat.name);
                cx.error_hint(
                    "subnet",
                    format!("VPC `{vpc}` has no internet gateway, which a NAT gateway sends its traffic through"),
                    "add one under internet_gateways",
                );
            }
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(InternetGateway(cx.clone()))]
}

pub struct InternetGateway(pub Arc<Context>);

impl InternetGateway {
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
        already_done(res, &["Resource.AlreadyAssociated"])
    }

    async fn detach(&self, id: &str, vpc: &str) -> Result<(), CloudError> {
        // Refused while addresses are still mapped in the VPC (a NAT gateway or a load
        // balancer going away, their interfaces).
        let res = in_use(
            self.0
                .aws
                .ec2
                .detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
                .await
                .map_err(|e| err("ec2:DetachInternetGateway", e)),
            &[],
        );
        match res {
            Err(e) if is_not_found(&e) || e.has_code("Gateway.NotAttached") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[async_trait]
impl Kind for InternetGateway {
    type Props = Props;
    type Remote = aws_sdk_ec2::types::InternetGateway;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn adopt(&self, id: &str, identity: &Tags) -> Option<Result<(), CloudError>> {
        Some(super::adopt(&self.0, "internet gateway", "igw-", id, identity).await)
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        self.0
            .aws
            .ec2
            .describe_internet_gateways()
            .filters(stack_filter(self.0.stack()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeInternetGateways", e))
    }

    fn observe(&self, g: &Self::Remote) -> Option<Found<Props>> {
        let tags = tags_of(g.tags());
        let name = identity(&tags, self.0.stack())?;
        let vpc = g
            .attachments()
            .iter()
            .find_map(|a| a.vpc_id())
            .map(str::to_string);
        Some(Found::new(
            name,
            g.internet_gateway_id()?,
            Props { vpc, tags },
        ))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let id = create_once(
            || async {
                let out = ec2
                    .create_internet_gateway()
                    .tag_specifications(tag_spec(ResourceType::InternetGateway, &want.tags))
                    .customize()
                    .config_override(no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateInternetGateway", e))?;
                out.internet_gateway
                    .and_then(|g| g.internet_gateway_id)
                    .ok_or_else(|| {
                        CloudError::new("ec2:CreateInternetGateway", "no gateway id in the answer")
                    })
            },
            || async {
                let out = ec2
                    .describe_internet_gateways()
                    .set_filters(Some(identity_filters(self.0.stack(), name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeInternetGateways", e))?;
                Ok(out
                    .internet_gateways()
                    .first()
                    .and_then(|g| g.internet_gateway_id())
                    .map(str::to_string))
            },
        )
        .await?;
        if let Some(vpc) = &want.vpc {
            self.attach(&id, vpc).await?;
        }
        Ok(Found::new(name, id, want.clone()))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        if current.props.vpc != want.vpc {
            if let Some(old) = &current.props.vpc {
                self.detach(&current.id, old).await?;
            }
            if let Some(new) = &want.vpc {
                self.attach(&current.id, new).await?;
            }
        }
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
        if let Some(vpc) = &current.props.vpc {
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
            Err(e) if is_not_found(&e) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};
    use aws_sdk_ec2::types::InternetGatewayAttachment;

    #[test]
    fn a_described_gateway_is_what_the_file_wants() {
        let remote = aws_sdk_ec2::types::InternetGateway::builder()
            .internet_gateway_id("igw-1")
            .attachments(
                InternetGatewayAttachment::builder()
                    .vpc_id(out("main", "id"))
                    .build(),
            )
            .set_tags(Some(super::super::sdk_tags(testing::identity_tags("igw"))))
            .build();
        assert_observes(
            InternetGateway(context()),
            &remote,
            "vpcs:\n  main: {cidr: 10.0.0.0/16}\ninternet_gateways:\n  igw: {vpc: main}\n",
            "igw",
        );
    }
}
