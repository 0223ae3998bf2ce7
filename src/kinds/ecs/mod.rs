//! ECS kinds (clusters, Fargate task definitions, services) and their shared tag calls.

use async_trait::async_trait;
use aws_sdk_ecs::types::Tag;

use super::support::tags::{ServiceTags, Tags};
use crate::aws::err;
use crate::engine::CloudError;

pub mod cluster;
pub mod service;
pub mod task_definition;

/// Tags as ECS calls take them.
pub fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tags as ECS answers carry them (without the `aws:` ones).
pub fn tags_of(tags: &[Tag]) -> Tags {
    super::support::tags::visible(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
    )
}

/// ECS's tag calls (by ARN).
pub struct EcsTags<'a>(pub &'a aws_sdk_ecs::Client);

#[async_trait]
impl ServiceTags for EcsTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(set)))
            .send()
            .await
            .map_err(|e| err("ecs:TagResource", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("ecs:UntagResource", e))?;
        Ok(())
    }
}
