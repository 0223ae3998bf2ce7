//! RDS kinds (DB subnet groups, PostgreSQL instances) and their shared tag calls.

use async_trait::async_trait;
use aws_sdk_rds::types::Tag;

use super::support::tags::{ServiceTags, Tags};
use crate::aws::err;
use crate::engine::CloudError;

pub mod instance;
pub mod subnet_group;

/// Tags as RDS calls take them.
pub fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tags as RDS answers carry them (without the `aws:` ones).
pub fn tags_of(tags: &[Tag]) -> Tags {
    super::support::tags::visible(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
    )
}

/// RDS's tag calls (by ARN).
pub struct RdsTags<'a>(pub &'a aws_sdk_rds::Client);

#[async_trait]
impl ServiceTags for RdsTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(sdk_tags(set)))
            .send()
            .await
            .map_err(|e| err("rds:AddTagsToResource", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("rds:RemoveTagsFromResource", e))?;
        Ok(())
    }
}
