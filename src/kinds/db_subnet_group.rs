//! RDS DB subnet group: name (replacement), subnets (in place, at least two zones), tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_rds::types::Tag;
use serde::Deserialize;
use serde_json::Value;

use super::ec2::{desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "db_subnet_group";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    subnets: Vec<String>,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "db_subnet_groups"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        if spec.subnets.len() < 2 {
            cx.error("subnets", "a DB subnet group needs subnets in at least two zones");
        }
        let subnets: Vec<Value> = spec.subnets.iter().enumerate().map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[super::subnet::KIND])).collect();
        let mut props = Props::new();
        props.insert("group_name".into(), cx.physical_name(name).into());
        props.insert("subnets".into(), subnets.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

pub fn rds_tags(props: &Props) -> Vec<Tag> {
    desired_tags(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

pub fn rds_tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()))).collect()
}

/// Bring an RDS resource's tags to the desired ones.
pub async fn sync_rds_tags(cx: &Context, arn: &str, have: &Props, want: &Props) -> Result<(), CloudError> {
    let (_, unset) = super::tag_diff(have, want);
    if !unset.is_empty() {
        cx.aws.rds.remove_tags_from_resource().resource_name(arn).set_tag_keys(Some(unset)).send().await.map_err(|e| err("rds:RemoveTagsFromResource", e))?;
    }
    cx.aws.rds.add_tags_to_resource().resource_name(arn).set_tags(Some(rds_tags(want))).send().await.map_err(|e| err("rds:AddTagsToResource", e))?;
    Ok(())
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["group_name"]
    }

    fn normalize(&self, props: &mut Props) {
        super::sort_string_lists(props, &["subnets"]);
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let groups: Vec<_> = self
            .0
            .aws
            .rds
            .describe_db_subnet_groups()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("rds:DescribeDBSubnetGroups", e))?;
        let prefix = format!("{}-", self.0.stack);
        let reads = groups.iter().filter(|g| g.db_subnet_group_name().is_some_and(|n| n.starts_with(&prefix))).map(|g| async move {
            let arn = g.db_subnet_group_arn().unwrap_or_default().to_string();
            let t = self.0.aws.rds.list_tags_for_resource().resource_name(&arn).send().await.map_err(|e| err("rds:ListTagsForResource", e))?;
            let tags = rds_tag_map(t.tag_list());
            if tags.get(TAG_STACK) != Some(&self.0.stack) {
                return Ok(None);
            }
            let Some(name) = tags.get(TAG_NAME).cloned() else { return Ok(None) };
            let mut subnets: Vec<String> = g.subnets().iter().filter_map(|s| s.subnet_identifier().map(str::to_string)).collect();
            subnets.sort();
            Ok::<_, CloudError>(Some(
                Observed::new(KIND, name, g.db_subnet_group_name().unwrap_or_default())
                    .with_prop("group_name", g.db_subnet_group_name().unwrap_or_default())
                    .with_prop("subnets", subnets)
                    .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                    .with_output("arn", arn),
            ))
        });
        Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let group = str_prop(props, "group_name")?.to_string();
        let out = self
            .0
            .aws
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&group)
            .db_subnet_group_description(format!("{name} of stack {}", self.0.stack))
            .set_subnet_ids(Some(super::sorted_strings(props, "subnets")))
            .set_tags(Some(rds_tags(props)))
            .send()
            .await
            .map_err(|e| err("rds:CreateDBSubnetGroup", e))?;
        let arn = out.db_subnet_group.and_then(|g| g.db_subnet_group_arn).unwrap_or_default();
        let mut o = Observed::new(KIND, name, group).with_output("arn", arn);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| c == "subnets") {
            self.0
                .aws
                .rds
                .modify_db_subnet_group()
                .db_subnet_group_name(&current.id)
                .set_subnet_ids(Some(super::sorted_strings(props, "subnets")))
                .send()
                .await
                .map_err(|e| err("rds:ModifyDBSubnetGroup", e))?;
        }
        if changed.iter().any(|c| c == "tags") {
            sync_rds_tags(&self.0, current.outputs.get("arn").map(String::as_str).unwrap_or_default(), &current.props, props).await?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let res = super::retry_when(
            self.0.options.dependency_wait,
            |e| e.has_code("InvalidDBSubnetGroupStateFault"),
            || async { self.0.aws.rds.delete_db_subnet_group().db_subnet_group_name(&current.id).send().await.map_err(|e| err("rds:DeleteDBSubnetGroup", e)) },
        )
        .await;
        match res {
            Err(e) if e.has_code("DBSubnetGroupNotFoundFault") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
