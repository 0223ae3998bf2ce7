//! Subnet: VPC, CIDR block and zone (replacement); public IPs on launch and tags (in place).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, AvailabilityZoneState, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{gone_or_explained, identity_filters, stack_filter, tag_spec, tags_of, Ec2Tags};
use crate::aws::err;
use crate::engine::{
    as_ref, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Unavailable,
};
use crate::kinds::names;
use crate::kinds::support::retry::{create_once, no_retries};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, props_of, Context, Found, Kind};
use crate::model::net::{check_zone, Cidr};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    replace: &["vpc", "cidr", "zone"],
    ..KindInfo::new(names::SUBNET, "subnets", "ec2")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
    cidr: String,
    zone: String,
    /// Instances launched here get a public IP (public subnets).
    #[serde(default)]
    public: bool,
}

/// What is compared; `R` is how the VPC is named (a reference in the file, an id in AWS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub vpc: R,
    pub cidr: String,
    pub zone: String,
    pub public: bool,
    pub tags: Tags,
}

/// The subnets (name, zone) whose zone is not among the account's `open` zones.
pub fn check_zones(new: &[(String, String)], open: &[String]) -> Vec<Unavailable> {
    new.iter()
        .filter(|(_, zone)| !open.contains(zone))
        .map(|(name, zone)| Unavailable {
            name: name.clone(),
            field: "zone".into(),
            message: format!("zone {zone} is not available to this account"),
            hint: Some(format!("zones available: {}", open.join(", "))),
        })
        .collect()
}

pub struct Model;

fn cidr_of(d: &Desired) -> Option<Cidr> {
    d.props
        .get("cidr")
        .and_then(Value::as_str)
        .and_then(|s| Cidr::parse(s).ok())
}

fn vpc_of(d: &Desired) -> Option<String> {
    d.props
        .get("vpc")
        .and_then(as_ref)
        .map(|(n, _)| n.to_string())
}

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
            Ok(c) if !super::vpc::PREFIXES.contains(&c.prefix) => cx.error(
                "cidr",
                format!(
                    "a subnet block must be between /16 and /28, not /{}",
                    c.prefix
                ),
            ),
            Ok(_) => {}
            Err(m) => cx.error("cidr", m),
        }
        let region = cx.region.to_string();
        cx.check("zone", check_zone(&region, &spec.zone));
        let props = Props {
            vpc: cx.reference("vpc", &spec.vpc, &[names::VPC]),
            cidr: spec.cidr,
            zone: spec.zone,
            public: spec.public,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        let (Some(mine), Some(vpc)) = (cidr_of(d), vpc_of(d)) else {
            return;
        };
        if let Some(vc) = all.get(&vpc).and_then(cidr_of) {
            if !vc.contains(&mine) {
                cx.error(
                    "cidr",
                    format!("{mine} is not inside the block of vpc `{vpc}` ({vc})"),
                );
            }
        }
    }

    /// Overlaps within each VPC in one sweep over the blocks sorted by start: each block
    /// is compared with the widest-reaching one before it. An overlap is reported on the
    /// subnet whose name sorts last.
    fn check_all(&self, cx: &mut Cx, all: &BTreeMap<String, Desired>) {
        let mut by_vpc: BTreeMap<String, Vec<(Cidr, &str)>> = BTreeMap::new();
        for d in all.values().filter(|d| d.kind == INFO.kind) {
            if let (Some(c), Some(v)) = (cidr_of(d), vpc_of(d)) {
                by_vpc.entry(v).or_default().push((c, d.name.as_str()));
            }
        }
        for (_, mut blocks) in by_vpc {
            blocks.sort_by_key(|(c, n)| (c.addr, *n));
            let mut reach: Option<(Cidr, &str)> = None;
            for (c, name) in blocks {
                if let Some((w, wname)) = reach {
                    if w.overlaps(&c) {
                        let ((on, oc), (other, other_c)) = if name > wname {
                            ((name, c), (wname, w))
                        } else {
                            ((wname, w), (name, c))
                        };
                        cx.at(INFO.section, on);
                        cx.error(
                            "cidr",
                            format!("{oc} overlaps subnet `{other}` ({other_c}) in the same VPC"),
                        );
                    }
                    if c.last() <= w.last() {
                        continue;
                    }
                }
                reach = Some((c, name));
            }
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(Subnet(cx.clone()))]
}

pub struct Subnet(pub Arc<Context>);

impl Subnet {
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
impl Kind for Subnet {
    type Props = Props;
    type Remote = aws_sdk_ec2::types::Subnet;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn adopt(&self, id: &str, identity: &Tags) -> Option<Result<(), CloudError>> {
        Some(super::adopt(&self.0, "subnet", "subnet-", id, identity).await)
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        self.0
            .aws
            .ec2
            .describe_subnets()
            .filters(stack_filter(self.0.stack()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeSubnets", e))
    }

    fn observe(&self, s: &Self::Remote) -> Option<Found<Props>> {
        let tags = tags_of(s.tags());
        let name = identity(&tags, self.0.stack())?;
        let props = Props {
            vpc: s.vpc_id().unwrap_or_default().to_string(),
            cidr: s.cidr_block().unwrap_or_default().to_string(),
            zone: s.availability_zone().unwrap_or_default().to_string(),
            public: s.map_public_ip_on_launch().unwrap_or(false),
            tags,
        };
        Some(Found::new(name, s.subnet_id()?, props))
    }

    /// The zones of the subnets to create, against `DescribeAvailabilityZones` (one call):
    /// accounts see different zones, and some are closed to new subnets.
    async fn availability(
        &self,
        wanted: &[&Desired],
        observed: &[Observed],
    ) -> Result<Vec<Unavailable>, CloudError> {
        let new: Vec<(String, String)> = wanted
            .iter()
            .filter(|d| !observed.iter().any(|o| o.name == d.name))
            .filter_map(|d| props_of::<Props<Value>>(d).map(|p| (d.name.clone(), p.zone)))
            .collect();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let zones = self
            .0
            .aws
            .ec2
            .describe_availability_zones()
            .send()
            .await
            .map_err(|e| err("ec2:DescribeAvailabilityZones", e))?;
        let open: Vec<String> = zones
            .availability_zones()
            .iter()
            .filter(|z| z.state() == Some(&AvailabilityZoneState::Available))
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect();
        Ok(check_zones(&new, &open))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let id = create_once(
            || async {
                let out = ec2
                    .create_subnet()
                    .vpc_id(&want.vpc)
                    .cidr_block(&want.cidr)
                    .availability_zone(&want.zone)
                    .tag_specifications(tag_spec(ResourceType::Subnet, &want.tags))
                    .customize()
                    .config_override(no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateSubnet", e))?;
                out.subnet.and_then(|s| s.subnet_id).ok_or_else(|| {
                    CloudError::new("ec2:CreateSubnet", "no subnet id in the answer")
                })
            },
            || async {
                let out = ec2
                    .describe_subnets()
                    .set_filters(Some(identity_filters(self.0.stack(), name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeSubnets", e))?;
                Ok(out
                    .subnets()
                    .first()
                    .and_then(|s| s.subnet_id())
                    .map(str::to_string))
            },
        )
        .await?;
        if want.public {
            self.set_public(&id, true).await?;
        }
        Ok(Found::new(name, id, want.clone()))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        if current.props.public != want.public {
            self.set_public(&current.id, want.public).await?;
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
        let res = self
            .0
            .aws
            .ec2
            .delete_subnet()
            .subnet_id(&current.id)
            .send()
            .await
            .map_err(|e| err("ec2:DeleteSubnet", e));
        gone_or_explained(&self.0, "subnet-id", &current.id, res).await?;
        Ok(Deletion::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};

    const FILE: &str = "vpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  pub-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a, public: true}\n";

    fn subnet(tags: Tags) -> aws_sdk_ec2::types::Subnet {
        aws_sdk_ec2::types::Subnet::builder()
            .subnet_id("subnet-1")
            .vpc_id(out("main", "id"))
            .cidr_block("10.0.1.0/24")
            .availability_zone("eu-west-3a")
            .map_public_ip_on_launch(true)
            .set_tags(Some(super::super::sdk_tags(tags)))
            .build()
    }

    #[test]
    fn a_zone_the_account_cannot_use_is_named() {
        let open = vec!["eu-west-3a".to_string(), "eu-west-3b".to_string()];
        let new = [
            ("pub-a".to_string(), "eu-west-3a".to_string()),
            ("pub-c".to_string(), "eu-west-3c".to_string()),
        ];
        let found = check_zones(&new, &open);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "pub-c");
        assert!(found[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("eu-west-3a, eu-west-3b")));
    }

    #[test]
    fn a_described_subnet_is_what_the_file_wants() {
        let remote = subnet(testing::identity_tags("pub-a"));
        assert_observes(Subnet(context()), &remote, FILE, "pub-a");
        assert!(Subnet(context())
            .observe(&subnet(testing::foreign_tags("pub-a")))
            .is_none());
    }
}
