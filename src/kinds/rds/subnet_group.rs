//! RDS DB subnet group: name (replacement), subnets (in place, at least two zones), tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_rds::types::DbSubnetGroup;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{sdk_tags, tags_of, RdsTags};
use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::props::check_two_zones;
use crate::kinds::support::retry::in_use;
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, props_of, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["group_name"],
    ..KindInfo::new(names::DB_SUBNET_GROUP, "db_subnet_groups", "rds")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    subnets: Vec<String>,
}

/// What is compared; `R` names the subnets (references, then ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub group_name: String,
    pub subnets: Vec<R>,
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
        if spec.subnets.len() < 2 {
            cx.error(
                "subnets",
                "a DB subnet group needs subnets in at least two zones",
            );
        }
        let subnets = spec
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[names::SUBNET]))
            .collect();
        let props = Props {
            group_name: cx.physical_name(name),
            subnets,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        if let Some(p) = props_of::<Props<Value>>(d) {
            check_two_zones(cx, "a DB subnet group", &p.subnets, all);
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(SubnetGroup(cx.clone()))]
}

pub struct SubnetGroup(pub Arc<Context>);

#[async_trait]
impl Kind for SubnetGroup {
    type Props = Props;
    /// A group with its tags (RDS lists tags per resource).
    type Remote = (DbSubnetGroup, Tags);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn normalize(p: &mut Props) {
        p.subnets.sort();
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        let rds = &self.0.aws.rds;
        let groups: Vec<DbSubnetGroup> = rds
            .describe_db_subnet_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("rds:DescribeDBSubnetGroups", e))?;
        let prefix = format!("{}-", self.0.stack());
        let reads = groups
            .into_iter()
            .filter(|g| {
                g.db_subnet_group_name()
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .map(|g| async move {
                let arn = g.db_subnet_group_arn().unwrap_or_default().to_string();
                let t = rds
                    .list_tags_for_resource()
                    .resource_name(&arn)
                    .send()
                    .await
                    .map_err(|e| err("rds:ListTagsForResource", e))?;
                Ok::<_, CloudError>((g, tags_of(t.tag_list())))
            });
        futures::future::try_join_all(reads).await
    }

    fn observe(&self, (g, tags): &Self::Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let mut subnets: Vec<String> = g
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier().map(str::to_string))
            .collect();
        subnets.sort();
        let props = Props {
            group_name: g.db_subnet_group_name()?.to_string(),
            subnets,
            tags: tags.clone(),
        };
        Some(
            Found::new(name, g.db_subnet_group_name()?, props)
                .output("arn", g.db_subnet_group_arn().unwrap_or_default()),
        )
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let out = self
            .0
            .aws
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&want.group_name)
            .db_subnet_group_description(format!("{name} of stack {}", self.0.stack()))
            .set_subnet_ids(Some(want.subnets.clone()))
            .set_tags(Some(sdk_tags(&want.tags)))
            .send()
            .await
            .map_err(|e| err("rds:CreateDBSubnetGroup", e))?;
        let arn = out
            .db_subnet_group
            .and_then(|g| g.db_subnet_group_arn)
            .unwrap_or_default();
        Ok(Found::new(name, &want.group_name, want.clone()).output("arn", arn))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let rds = &self.0.aws.rds;
        if current.props.subnets != want.subnets {
            rds.modify_db_subnet_group()
                .db_subnet_group_name(&current.id)
                .set_subnet_ids(Some(want.subnets.clone()))
                .send()
                .await
                .map_err(|e| err("rds:ModifyDBSubnetGroup", e))?;
        }
        let arn = current.outputs.get("arn").cloned().unwrap_or_default();
        sync_tags(&RdsTags(rds), &arn, &current.props.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        // Still in use while the instance in it is being deleted.
        let res = in_use(
            self.0
                .aws
                .rds
                .delete_db_subnet_group()
                .db_subnet_group_name(&current.id)
                .send()
                .await
                .map_err(|e| err("rds:DeleteDBSubnetGroup", e)),
            &["InvalidDBSubnetGroupStateFault"],
        );
        match res {
            Err(e) if e.has_code("DBSubnetGroupNotFoundFault") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};
    use aws_sdk_rds::types::Subnet;

    #[test]
    fn a_described_group_is_what_the_file_wants() {
        let file = "vpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  priv-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  priv-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\ndb_subnet_groups:\n  db: {subnets: [priv-b, priv-a]}\n";
        let g = DbSubnetGroup::builder()
            .db_subnet_group_name("app-db")
            .db_subnet_group_arn("arn:aws:rds:eu-west-3:1:subgrp:app-db")
            .subnets(
                Subnet::builder()
                    .subnet_identifier(out("priv-a", "id"))
                    .build(),
            )
            .subnets(
                Subnet::builder()
                    .subnet_identifier(out("priv-b", "id"))
                    .build(),
            )
            .build();
        assert_observes(
            SubnetGroup(context()),
            &(g, testing::identity_tags("db")),
            file,
            "db",
        );
    }
}
