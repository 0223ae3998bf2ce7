//! CloudWatch Logs log group: name (replacement), retention (in place), tags.
//!
//! The name is `/<stack>/<name>`, or, for the group an EKS cluster of the stack writes its
//! control-plane logs to (`eks_control_plane: <cluster>`), `/aws/eks/<stack>-<cluster>/
//! cluster`: discovery looks under both prefixes.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup;
use serde::{Deserialize, Serialize};

use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::tags::{
    identity, name_taken, of_many, owned, sync_tags, ServiceTags, Tags,
};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::net::check_log_retention;
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["log_group_name"],
    ..KindInfo::new(names::LOG_GROUP, "log_groups", "logs")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// The EKS cluster of the stack whose control-plane logs this group holds.
    #[serde(default)]
    eks_control_plane: Option<String>,
    retention_days: i64,
}

/// Where the stack's log groups may be: its own prefix, and those AWS services write to.
fn prefixes(stack: &str) -> [String; 2] {
    [format!("/{stack}/"), format!("/aws/eks/{stack}-")]
}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    pub log_group_name: String,
    pub retention_days: Option<i64>,
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
        if let Err((m, hint)) = check_log_retention(spec.retention_days) {
            cx.error_hint("retention_days", m, hint);
        }
        let log_group_name = match &spec.eks_control_plane {
            None => format!("/{}/{}", cx.stack, name),
            Some(cluster) => {
                // Checked as a name, not a reference: the cluster depends on the group.
                cx.mention("eks_control_plane", cluster, &[names::EKS_CLUSTER]);
                format!("/aws/eks/{}/cluster", cx.physical_name(cluster))
            }
        };
        let props = Props {
            log_group_name,
            retention_days: Some(spec.retention_days),
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(LogGroupKind(cx.clone()))]
}

pub struct LogGroupKind(pub Arc<Context>);

/// CloudWatch Logs' tag calls (by ARN).
pub struct LogsTags<'a>(pub &'a aws_sdk_cloudwatchlogs::Client);

#[async_trait]
impl ServiceTags for LogsTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(set.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| err("logs:TagResource", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("logs:UntagResource", e))?;
        Ok(())
    }
}

impl LogGroupKind {
    fn logs(&self) -> &aws_sdk_cloudwatchlogs::Client {
        &self.0.aws.logs
    }

    fn arn(&self, group: &str) -> String {
        let s = &self.0.scope;
        format!("arn:aws:logs:{}:{}:log-group:{group}", s.region, s.account)
    }

    async fn tags(&self, group: &str) -> Result<Tags, CloudError> {
        let t = self
            .logs()
            .list_tags_for_resource()
            .resource_arn(self.arn(group))
            .send()
            .await
            .map_err(|e| err("logs:ListTagsForResource", e))?;
        Ok(crate::kinds::support::tags::visible(
            t.tags()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }

    async fn retention(&self, group: &str, days: Option<i64>) -> Result<(), CloudError> {
        match days.and_then(|d| i32::try_from(d).ok()) {
            Some(d) => {
                self.logs()
                    .put_retention_policy()
                    .log_group_name(group)
                    .retention_in_days(d)
                    .send()
                    .await
                    .map_err(|e| err("logs:PutRetentionPolicy", e))?;
            }
            None => {
                self.logs()
                    .delete_retention_policy()
                    .log_group_name(group)
                    .send()
                    .await
                    .map_err(|e| err("logs:DeleteRetentionPolicy", e))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Kind for LogGroupKind {
    type Props = Props;
    type Remote = (LogGroup, Tags);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "log_group_name") else {
            return Ok(None);
        };
        let found = self
            .logs()
            .describe_log_groups()
            .log_group_name_prefix(&name)
            .send()
            .await
            .map_err(|e| err("logs:DescribeLogGroups", e))?;
        if !found
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(name.as_str()))
        {
            return Ok(None);
        }
        Ok(Some((name.clone(), self.tags(&name).await?)))
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        // One listing for both prefixes: the groups whose name holds the stack's.
        let prefixes = prefixes(self.0.stack());
        let groups: Vec<LogGroup> = self
            .logs()
            .describe_log_groups()
            .log_group_name_pattern(self.0.stack())
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<LogGroup>, _>>()
            .await
            .map_err(|e| err("logs:DescribeLogGroups", e))?
            .into_iter()
            .filter(|g| {
                let name = g.log_group_name().unwrap_or_default();
                prefixes.iter().any(|p| name.starts_with(p.as_str()))
            })
            .collect();
        let arns: Vec<String> = groups
            .iter()
            .map(|g| self.arn(g.log_group_name().unwrap_or_default()))
            .collect();
        let mut tags = of_many(&self.0.aws.tagging, self.0.stack(), "logs", &arns, |arn| {
            let group = arn.rsplit_once(":log-group:").map(|(_, g)| g.to_string());
            async move { self.tags(&group.unwrap_or_default()).await }
        })
        .await?;
        Ok(groups
            .into_iter()
            .zip(arns)
            .map(|(g, arn)| (g, tags.remove(&arn).unwrap_or_default()))
            .collect())
    }

    fn observe(&self, (g, tags): &Self::Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let group = g.log_group_name()?;
        let props = Props {
            log_group_name: group.to_string(),
            retention_days: g.retention_in_days().map(i64::from),
            tags: tags.clone(),
        };
        Some(Found::new(name, group, props).output("arn", self.arn(group)))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let group = &want.log_group_name;
        let res = self
            .logs()
            .create_log_group()
            .log_group_name(group)
            .set_tags(Some(want.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| err("logs:CreateLogGroup", e));
        let mut have = Props {
            retention_days: None,
            ..want.clone()
        };
        match res {
            Ok(_) => {}
            // Ours from a run that lost the answer; anyone else's is left as it is.
            Err(e) if e.has_code("ResourceAlreadyExistsException") => {
                let tags = self.tags(group).await?;
                if !owned(&tags, self.0.stack()) {
                    return Err(name_taken("logs:CreateLogGroup", "log group", group, &tags));
                }
                have.tags = tags;
                have.retention_days = None;
            }
            Err(e) => return Err(e),
        }
        self.retention(group, want.retention_days).await?;
        sync_tags(
            &LogsTags(self.logs()),
            &self.arn(group),
            &have.tags,
            &want.tags,
        )
        .await?;
        Ok(Found::new(name, group, want.clone()).output("arn", self.arn(group)))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        if current.props.retention_days != want.retention_days {
            self.retention(&current.id, want.retention_days).await?;
        }
        sync_tags(
            &LogsTags(self.logs()),
            &self.arn(&current.id),
            &current.props.tags,
            &want.tags,
        )
        .await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        match self
            .logs()
            .delete_log_group()
            .log_group_name(&current.id)
            .send()
            .await
            .map_err(|e| err("logs:DeleteLogGroup", e))
        {
            Err(e) if is_not_found(&e) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    #[test]
    fn a_described_log_group_is_what_the_file_wants() {
        let g = LogGroup::builder()
            .log_group_name("/app/api")
            .retention_in_days(14)
            .build();
        let file = "log_groups:\n  api: {retention_days: 14}\n";
        assert_observes(
            LogGroupKind(context()),
            &(g.clone(), testing::identity_tags("api")),
            file,
            "api",
        );
        assert!(LogGroupKind(context())
            .observe(&(g, testing::foreign_tags("api")))
            .is_none());
    }
}
