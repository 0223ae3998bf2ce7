//! CloudWatch Logs log group: name `/<stack>/<name>` (replacement), retention (in place), tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::ec2::{desired_tags, str_prop};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "log_group";

/// Retention values CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: &[i64] = &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    retention_days: i64,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "log_groups"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        if !RETENTION_DAYS.contains(&spec.retention_days) {
            let near = RETENTION_DAYS.iter().min_by_key(|d| (*d - spec.retention_days).abs()).copied().unwrap_or(7);
            cx.error_hint(
                "retention_days",
                format!("CloudWatch Logs does not keep logs for {} days", spec.retention_days),
                format!("allowed: {}; the nearest is {near}", RETENTION_DAYS.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
            );
        }
        let mut props = Props::new();
        props.insert("log_group_name".into(), format!("/{}/{}", cx.stack, name).into());
        props.insert("retention_days".into(), spec.retention_days.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

impl Cloud {
    fn logs(&self) -> &aws_sdk_cloudwatchlogs::Client {
        &self.0.aws.logs
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["log_group_name"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let groups: Vec<_> = self
            .logs()
            .describe_log_groups()
            .log_group_name_prefix(format!("/{}/", self.0.stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("logs:DescribeLogGroups", e))?;
        let reads = groups.iter().map(|g| async move {
            let name = g.log_group_name().unwrap_or_default();
            let arn = g.arn().unwrap_or_default().trim_end_matches(":*").to_string();
            let tags = self.logs().list_tags_for_resource().resource_arn(&arn).send().await.map_err(|e| err("logs:ListTagsForResource", e))?;
            let tags: BTreeMap<String, String> = tags.tags().cloned().unwrap_or_default().into_iter().collect();
            if tags.get(TAG_STACK) != Some(&self.0.stack) {
                return Ok(None);
            }
            let Some(logical) = tags.get(TAG_NAME).cloned() else {
                return Ok(None);
            };
            Ok::<_, CloudError>(Some(
                Observed::new(KIND, logical, name)
                    .with_prop("log_group_name", name)
                    .with_prop("retention_days", g.retention_in_days().map(i64::from).map(Value::from).unwrap_or(Value::Null))
                    .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                    .with_output("arn", arn),
            ))
        });
        Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let group = str_prop(props, "log_group_name")?.to_string();
        match self
            .logs()
            .create_log_group()
            .log_group_name(&group)
            .set_tags(Some(desired_tags(props).into_iter().collect()))
            .send()
            .await
            .map_err(|e| err("logs:CreateLogGroup", e))
        {
            Err(e) if e.has_code("ResourceAlreadyExistsException") => {}
            other => {
                other?;
            }
        }
        self.update(name, props, &Observed::new(KIND, name, &group), &["retention_days".into()]).await
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| c == "retention_days") {
            let days = props.get("retention_days").and_then(Value::as_i64).unwrap_or(7) as i32;
            self.logs()
                .put_retention_policy()
                .log_group_name(&current.id)
                .retention_in_days(days)
                .send()
                .await
                .map_err(|e| err("logs:PutRetentionPolicy", e))?;
        }
        let arn = format!("arn:aws:logs:{}:{}:log-group:{}", self.0.aws.region, self.0.account, current.id);
        if changed.iter().any(|c| c == "tags") {
            let (w, unset) = super::tag_diff(&current.props, props);
            if !unset.is_empty() {
                self.logs().untag_resource().resource_arn(&arn).set_tag_keys(Some(unset)).send().await.map_err(|e| err("logs:UntagResource", e))?;
            }
            self.logs().tag_resource().resource_arn(&arn).set_tags(Some(w.into_iter().collect())).send().await.map_err(|e| err("logs:TagResource", e))?;
        }
        let mut o = Observed::new(KIND, name, current.id.clone()).with_output("arn", arn);
        o.props = props.clone();
        Ok(o)
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        match self.logs().delete_log_group().log_group_name(&current.id).send().await.map_err(|e| err("logs:DeleteLogGroup", e)) {
            Err(e) if is_not_found(&e) || e.has_code("ResourceNotFoundException") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
