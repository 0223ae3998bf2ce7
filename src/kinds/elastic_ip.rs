//! Elastic IP address (VPC domain), tags. Released on delete, once nothing holds it.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, ResourceType};
use serde::Deserialize;

use super::ec2::{observed_tags, stack_filter, sync_tags, tag_spec};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel};

pub const KIND: &str = "elastic_ip";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "elastic_ips"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "public_ip"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(Spec {}) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let mut props = Props::new();
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

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        // DescribeAddresses is not paginated: one call returns them all.
        let out = self
            .0
            .aws
            .ec2
            .describe_addresses()
            .filters(stack_filter(&self.0.stack))
            .send()
            .await
            .map_err(|e| err("ec2:DescribeAddresses", e))?;
        Ok(out
            .addresses()
            .iter()
            .filter_map(|a| {
                let (tags, name) = observed_tags(a.tags(), &self.0.stack);
                Some(
                    Observed::new(KIND, name?, a.allocation_id()?)
                        .with_prop("tags", tags)
                        .with_output("public_ip", a.public_ip().unwrap_or_default()),
                )
            })
            .collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let (id, ip) = super::create_once(
            || async {
                let out = ec2
                    .allocate_address()
                    .domain(DomainType::Vpc)
                    .tag_specifications(tag_spec(ResourceType::ElasticIp, props))
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:AllocateAddress", e))?;
                let id = out.allocation_id.ok_or_else(|| CloudError::new("ec2:AllocateAddress", "no allocation id in the answer"))?;
                Ok((id, out.public_ip.unwrap_or_default()))
            },
            || async {
                let out = ec2
                    .describe_addresses()
                    .set_filters(Some(super::identity_filters(&self.0.stack, name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeAddresses", e))?;
                Ok(out.addresses().first().and_then(|a| Some((a.allocation_id()?.to_string(), a.public_ip().unwrap_or_default().to_string()))))
            },
        )
        .await?;
        let mut o = Observed::new(KIND, name, id).with_output("public_ip", ip);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, _changed: &[String]) -> Result<Observed, CloudError> {
        sync_tags(&self.0.aws.ec2, &current.id, &current.props, props).await?;
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        // A NAT gateway being deleted keeps its address for a while.
        let res = super::retry_in_use(self.0.options.dependency_wait, || async {
            self.0
                .aws
                .ec2
                .release_address()
                .allocation_id(&current.id)
                .send()
                .await
                .map_err(|e| err("ec2:ReleaseAddress", e))
        })
        .await;
        match res {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
