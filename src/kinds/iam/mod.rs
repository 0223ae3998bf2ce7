//! IAM kinds: roles, with their policy documents, and the OpenID Connect providers
//! whose tokens may assume them.

pub mod oidc_provider;
pub mod role;

use crate::kinds::support::tags::Tags;

/// Tags as IAM's calls take them (roles and OpenID Connect providers alike).
pub fn sdk_tags(tags: &Tags) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}
