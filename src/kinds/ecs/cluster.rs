//! ECS cluster: name `<stack>-<name>` (replacement), Container Insights (in place), tags.
//! Usable as soon as it is created.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecs::types::{Cluster, ClusterField, ClusterSetting, ClusterSettingName};
use serde::{Deserialize, Serialize};

use super::{sdk_tags, tags_of, EcsTags};
use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::in_use;
use crate::kinds::support::tags::{identity, name_taken, owned, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["cluster_name"],
    ..KindInfo::new(names::ECS_CLUSTER, "ecs_clusters", "ecs")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    container_insights: bool,
}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    pub cluster_name: String,
    pub container_insights: bool,
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
            cluster_name: cx.physical_name(name),
            container_insights: spec.container_insights,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(EcsCluster(cx.clone()))]
}

pub struct EcsCluster(pub Arc<Context>);

fn insights(on: bool) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if on { "enabled" } else { "disabled" })
        .build()
}

#[async_trait]
impl Kind for EcsCluster {
    type Props = Props;
    type Remote = Cluster;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "cluster_name") else {
            return Ok(None);
        };
        let found = self
            .0
            .aws
            .ecs
            .describe_clusters()
            .clusters(&name)
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| err("ecs:DescribeClusters", e))?;
        let active = found
            .clusters()
            .iter()
            .find(|c| c.status() == Some("ACTIVE"));
        Ok(active.map(|c| (name.clone(), tags_of(c.tags()))))
    }

    /// One listing of cluster ARNs (filtered by the stack's name prefix), then one
    /// describe per 100 clusters.
    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Cluster>, CloudError> {
        let ecs = &self.0.aws.ecs;
        let arns: Vec<String> = ecs
            .list_clusters()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecs:ListClusters", e))?;
        let prefix = format!(":cluster/{}-", self.0.stack());
        let ours: Vec<String> = arns.into_iter().filter(|a| a.contains(&prefix)).collect();
        let mut out = Vec::new();
        for chunk in ours.chunks(100) {
            let d = ecs
                .describe_clusters()
                .set_clusters(Some(chunk.to_vec()))
                .include(ClusterField::Tags)
                .include(ClusterField::Settings)
                .send()
                .await
                .map_err(|e| err("ecs:DescribeClusters", e))?;
            out.extend(d.clusters.unwrap_or_default());
        }
        Ok(out)
    }

    fn observe(&self, c: &Cluster) -> Option<Found<Props>> {
        // Deleted clusters stay listed for a while as INACTIVE.
        if c.status() == Some("INACTIVE") {
            return None;
        }
        let tags = tags_of(c.tags());
        let name = identity(&tags, self.0.stack())?;
        let on = c.settings().iter().any(|s| {
            s.name() == Some(&ClusterSettingName::ContainerInsights) && s.value() == Some("enabled")
        });
        let props = Props {
            cluster_name: c.cluster_name()?.to_string(),
            container_insights: on,
            tags,
        };
        Some(Found::new(name, c.cluster_name()?, props).output("arn", c.cluster_arn()?))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        // CreateCluster answers with an existing active cluster of that name and retags
        // it: look first, and leave a cluster that is not this stack's alone.
        let existing = self
            .0
            .aws
            .ecs
            .describe_clusters()
            .clusters(&want.cluster_name)
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| err("ecs:DescribeClusters", e))?;
        if let Some(c) = existing
            .clusters()
            .iter()
            .find(|c| c.status() == Some("ACTIVE"))
        {
            let tags = tags_of(c.tags());
            if !owned(&tags, self.0.stack()) {
                return Err(name_taken(
                    "ecs:CreateCluster",
                    "ECS cluster",
                    &want.cluster_name,
                    &tags,
                ));
            }
        }
        let out = self
            .0
            .aws
            .ecs
            .create_cluster()
            .cluster_name(&want.cluster_name)
            .settings(insights(want.container_insights))
            .set_tags(Some(sdk_tags(&want.tags)))
            .send()
            .await
            .map_err(|e| err("ecs:CreateCluster", e))?;
        let arn = out.cluster.and_then(|c| c.cluster_arn).unwrap_or_default();
        Ok(Found::new(name, &want.cluster_name, want.clone()).output("arn", arn))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let ecs = &self.0.aws.ecs;
        if current.props.container_insights != want.container_insights {
            ecs.update_cluster_settings()
                .cluster(&current.id)
                .settings(insights(want.container_insights))
                .send()
                .await
                .map_err(|e| err("ecs:UpdateClusterSettings", e))?;
        }
        let arn = current.outputs.get("arn").cloned().unwrap_or_default();
        sync_tags(&EcsTags(ecs), &arn, &current.props.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        // Tasks of a service just deleted may still be stopping for a while.
        let res = in_use(
            self.0
                .aws
                .ecs
                .delete_cluster()
                .cluster(&current.id)
                .send()
                .await
                .map_err(|e| err("ecs:DeleteCluster", e)),
            &[],
        );
        match res {
            Err(e) if e.has_code("ClusterNotFoundException") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    fn cluster(status: &str) -> Cluster {
        Cluster::builder()
            .cluster_name("app-backend")
            .cluster_arn("arn:aws:ecs:eu-west-3:1:cluster/app-backend")
            .status(status)
            .settings(insights(true))
            .set_tags(Some(sdk_tags(&testing::identity_tags("backend"))))
            .build()
    }

    #[test]
    fn a_described_cluster_is_what_the_file_wants() {
        let file = "ecs_clusters:\n  backend: {container_insights: true}\n";
        assert_observes(EcsCluster(context()), &cluster("ACTIVE"), file, "backend");
        assert!(EcsCluster(context())
            .observe(&cluster("INACTIVE"))
            .is_none());
    }
}
