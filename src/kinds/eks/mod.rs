//! EKS kinds (clusters with their control-plane log group, managed node groups) and their
//! shared tag calls.

use std::collections::HashMap;

use async_trait::async_trait;

use super::support::tags::{ServiceTags, Tags};
use crate::aws::err;
use crate::engine::CloudError;

pub mod access;
pub mod cluster;
pub mod node_group;

/// The answer EKS gives for something that is not there.
pub const NOT_FOUND: &str = "ResourceNotFoundException";

/// Tags as EKS answers carry them (without the `aws:` ones).
pub fn tags_of(tags: Option<&HashMap<String, String>>) -> Tags {
    super::support::tags::visible(
        tags.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// EKS's tag calls (by ARN).
pub struct EksTags<'a>(pub &'a aws_sdk_eks::Client);

#[async_trait]
impl ServiceTags for EksTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(set.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| err("eks:TagResource", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("eks:UntagResource", e))?;
        Ok(())
    }
}
