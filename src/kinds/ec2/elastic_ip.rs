//! Elastic IP address (VPC domain), tags. Released on delete, once nothing holds it.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, ResourceType};
use serde::{Deserialize, Serialize};

use super::{identity_filters, stack_filter, tag_spec, tags_of, Ec2Tags};
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::{create_once, in_use, no_retries};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "public_ip"],
    ..KindInfo::new(names::ELASTIC_IP, "elastic_ips", "ec2")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
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
        let Some(Spec {}) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        vec![desired(&INFO, name, &Props { tags: cx.tags() })]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(ElasticIp(cx.clone()))]
}

pub struct ElasticIp(pub Arc<Context>);

#[async_trait]
impl Kind for ElasticIp {
    type Props = Props;
    type Remote = aws_sdk_ec2::types::Address;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn adopt(&self, id: &str, identity: &Tags) -> Option<Result<(), CloudError>> {
        Some(super::adopt(&self.0, "Elastic IP", "eipalloc-", id, identity).await)
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        // DescribeAddresses is not paginated: one call returns them all.
        let out = self
            .0
            .aws
            .ec2
            .describe_addresses()
            .filters(stack_filter(self.0.stack()))
            .send()
            .await
            .map_err(|e| err("ec2:DescribeAddresses", e))?;
        Ok(out.addresses.unwrap_or_default())
    }

    fn observe(&self, a: &Self::Remote) -> Option<Found<Props>> {
        let tags = tags_of(a.tags());
        let name = identity(&tags, self.0.stack())?;
        Some(
            Found::new(name, a.allocation_id()?, Props { tags })
                .output("public_ip", a.public_ip().unwrap_or_default()),
        )
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let (id, ip) = create_once(
            || async {
                let out = ec2
                    .allocate_address()
                    .domain(DomainType::Vpc)
                    .tag_specifications(tag_spec(ResourceType::ElasticIp, &want.tags))
                    .customize()
                    .config_override(no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:AllocateAddress", e))?;
                let id = out.allocation_id.ok_or_else(|| {
                    CloudError::new("ec2:AllocateAddress", "no allocation id in the answer")
                })?;
                Ok((id, out.public_ip.unwrap_or_default()))
            },
            || async {
                let out = ec2
                    .describe_addresses()
                    .set_filters(Some(identity_filters(self.0.stack(), name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeAddresses", e))?;
                Ok(out.addresses().first().and_then(|a| {
                    Some((
                        a.allocation_id()?.to_string(),
                        a.public_ip().unwrap_or_default().to_string(),
                    ))
                }))
            },
        )
        .await?;
        Ok(Found::new(name, id, want.clone()).output("public_ip", ip))
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
        // A NAT gateway being deleted keeps its address for a while (AWS then answers
        // AuthFailure for the release).
        let res = in_use(
            self.0
                .aws
                .ec2
                .release_address()
                .allocation_id(&current.id)
                .send()
                .await
                .map_err(|e| err("ec2:ReleaseAddress", e)),
            &["AuthFailure"],
        );
        match res {
            Err(e) if is_not_found(&e) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    fn address(tags: Tags) -> aws_sdk_ec2::types::Address {
        aws_sdk_ec2::types::Address::builder()
            .allocation_id("eipalloc-1")
            .public_ip("198.51.100.7")
            .set_tags(Some(super::super::sdk_tags(tags)))
            .build()
    }

    #[test]
    fn a_described_address_is_what_the_file_wants() {
        let remote = address(testing::identity_tags("nat-ip"));
        assert_observes(
            ElasticIp(context()),
            &remote,
            "elastic_ips:\n  nat-ip: {}\n",
            "nat-ip",
        );
        assert!(ElasticIp(context())
            .observe(&address(testing::foreign_tags("nat-ip")))
            .is_none());
    }
}
