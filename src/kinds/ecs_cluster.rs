//! ECS cluster: name `<stack>-<name>` (replacement), Container Insights (in place), tags.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName, Tag};
use serde::Deserialize;
use serde_json::Value;

use super::ec2::{bool_prop, desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind, Status};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "ecs_cluster";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    container_insights: bool,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "ecs_clusters"
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
        let mut props = Props::new();
        props.insert("cluster_name".into(), cx.physical_name(name).into());
        props.insert("container_insights".into(), spec.container_insights.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

pub fn ecs_tags(props: &Props) -> Vec<Tag> {
    desired_tags(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

pub fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()))).collect()
}

fn insights(on: bool) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if on { "enabled" } else { "disabled" })
        .build()
}

/// The stack's clusters (ARN and logical name), from one listing and one batched describe.
pub async fn clusters(cx: &Context) -> Result<Vec<aws_sdk_ecs::types::Cluster>, CloudError> {
    let arns: Vec<String> = cx
        .aws
        .ecs
        .list_clusters()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| err("ecs:ListClusters", e))?;
    let prefix = format!(":cluster/{}-", cx.stack);
    let ours: Vec<String> = arns.into_iter().filter(|a| a.contains(&prefix)).collect();
    let mut out = Vec::new();
    for chunk in ours.chunks(100) {
        let d = cx
            .aws
            .ecs
            .describe_clusters()
            .set_clusters(Some(chunk.to_vec()))
            .include(ClusterField::Tags)
            .include(ClusterField::Settings)
            .send()
            .await
            .map_err(|e| err("ecs:DescribeClusters", e))?;
        out.extend(
            d.clusters()
                .iter()
                .filter(|c| c.status() != Some("INACTIVE"))
                .filter(|c| tag_map(c.tags()).get(TAG_STACK) == Some(&cx.stack))
                .cloned(),
        );
    }
    Ok(out)
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["cluster_name"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let found = clusters(&self.0).await?;
        // The services of each cluster are listed here too (one listing of clusters).
        let mut services = Vec::new();
        for c in &found {
            if let Some(name) = c.cluster_name() {
                services.extend(super::ecs_service::discover_in(&self.0, name).await?);
            }
        }
        let mut out: Vec<Observed> = found
            .iter()
            .filter_map(|c| {
                let tags = tag_map(c.tags());
                let name = tags.get(TAG_NAME)?.clone();
                let on = c
                    .settings()
                    .iter()
                    .any(|s| s.name() == Some(&ClusterSettingName::ContainerInsights) && s.value() == Some("enabled"));
                Some(
                    Observed::new(KIND, name, c.cluster_name()?)
                        .with_prop("cluster_name", c.cluster_name()?)
                        .with_prop("container_insights", on)
                        .with_prop("tags", serde_json::to_value(&tags).unwrap_or(Value::Null))
                        .with_output("arn", c.cluster_arn()?),
                )
            })
            .collect();
        out.extend(services);
        Ok(out)
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let cluster = str_prop(props, "cluster_name")?.to_string();
        let out = self
            .0
            .aws
            .ecs
            .create_cluster()
            .cluster_name(&cluster)
            .settings(insights(bool_prop(props, "container_insights")))
            .set_tags(Some(ecs_tags(props)))
            .send()
            .await
            .map_err(|e| err("ecs:CreateCluster", e))?;
        let arn = out.cluster.and_then(|c| c.cluster_arn).unwrap_or_default();
        let mut o = Observed::new(KIND, name, cluster).with_output("arn", arn);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let ecs = &self.0.aws.ecs;
        let arn = current.outputs.get("arn").cloned().unwrap_or_default();
        if changed.iter().any(|c| c == "container_insights") {
            ecs.update_cluster_settings()
                .cluster(&current.id)
                .settings(insights(bool_prop(props, "container_insights")))
                .send()
                .await
                .map_err(|e| err("ecs:UpdateClusterSettings", e))?;
        }
        if changed.iter().any(|c| c == "tags") {
            let (_, unset) = super::tag_diff(&current.props, props);
            if !unset.is_empty() {
                ecs.untag_resource().resource_arn(&arn).set_tag_keys(Some(unset)).send().await.map_err(|e| err("ecs:UntagResource", e))?;
            }
            ecs.tag_resource().resource_arn(&arn).set_tags(Some(ecs_tags(props))).send().await.map_err(|e| err("ecs:TagResource", e))?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        match self.0.aws.ecs.delete_cluster().cluster(&current.id).send().await.map_err(|e| err("ecs:DeleteCluster", e)) {
            Err(e) if e.has_code("ClusterNotFoundException") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        let d = self.0.aws.ecs.describe_clusters().clusters(&current.id).send().await.map_err(|e| err("ecs:DescribeClusters", e))?;
        Ok(match d.clusters().first().and_then(|c| c.status()) {
            None | Some("INACTIVE") => Status::Missing,
            Some("ACTIVE") => Status::Ready,
            Some("FAILED") => Status::Failed("cluster creation failed".into()),
            Some(s) => Status::Pending(s.to_lowercase()),
        })
    }
}
