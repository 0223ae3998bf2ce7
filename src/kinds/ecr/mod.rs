//! ECR kinds: private image repositories, and their shared tag calls.

use async_trait::async_trait;
use aws_sdk_ecr::types::Tag;

use super::support::tags::{ServiceTags, Tags};
use crate::aws::err;
use crate::engine::CloudError;

pub mod repository;

/// The answer ECR gives for a repository that is not there.
pub const NOT_FOUND: &str = "RepositoryNotFoundException";

/// Tags as ECR calls take them.
pub fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

/// Tags as ECR answers carry them (without the `aws:` ones).
pub fn tags_of(tags: &[Tag]) -> Tags {
    super::support::tags::visible(tags.iter().map(|t| (t.key(), t.value())))
}

/// ECR's tag calls (by ARN).
pub struct EcrTags<'a>(pub &'a aws_sdk_ecr::Client);

#[async_trait]
impl ServiceTags for EcrTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(set)))
            .send()
            .await
            .map_err(|e| err("ecr:TagResource", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("ecr:UntagResource", e))?;
        Ok(())
    }
}
