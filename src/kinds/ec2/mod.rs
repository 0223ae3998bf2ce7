//! EC2 networking kinds and what they share: tags set in the create call, tag filters,
//! client tokens, and naming what blocks a delete.

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::support::tags::{ServiceTags, Tags};
use super::support::Context;
use crate::aws::err;
use crate::engine::CloudError;
use crate::model::{TAG_NAME, TAG_STACK};

pub mod elastic_ip;
pub mod internet_gateway;
pub mod nat_gateway;
pub mod route_table;
pub mod security_group;
pub mod subnet;
pub mod vpc;

/// The error EC2 gives for something still used by something else.
pub const DEPENDENCY_VIOLATION: &str = "DependencyViolation";

/// Tags to set in the create call itself.
pub fn tag_spec(rt: ResourceType, tags: &Tags) -> TagSpecification {
    let tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tags))
        .build()
}

/// The filter that finds the stack's resources.
pub fn stack_filter(stack: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_STACK}"))
        .values(stack)
        .build()
}

/// The filters that find the stack's resource named `name`.
pub fn identity_filters(stack: &str, name: &str) -> Vec<Filter> {
    vec![
        stack_filter(stack),
        Filter::builder()
            .name(format!("tag:{TAG_NAME}"))
            .values(name)
            .build(),
    ]
}

/// A resource's tags, without the `aws:` ones.
pub fn tags_of(tags: &[Tag]) -> Tags {
    super::support::tags::visible(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
    )
}

/// EC2's tag calls.
pub struct Ec2Tags<'a>(pub &'a aws_sdk_ec2::Client);

#[async_trait]
impl ServiceTags for Ec2Tags<'_> {
    async fn tag(&self, id: &str, set: &Tags) -> Result<(), CloudError> {
        let tags = set
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.0
            .create_tags()
            .resources(id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("ec2:CreateTags", e))?;
        Ok(())
    }

    async fn untag(&self, id: &str, keys: &[String]) -> Result<(), CloudError> {
        let tags = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        self.0
            .delete_tags()
            .resources(id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("ec2:DeleteTags", e))?;
        Ok(())
    }
}

/// Why a VPC, subnet or security group (`filter` is `vpc-id`, `subnet-id` or `group-id`)
/// cannot be deleted: what is still in it or uses it, by type and id.
pub async fn explain(cx: &Context, filter: &str, id: &str, original: CloudError) -> CloudError {
    let ec2 = &cx.aws.ec2;
    let by = |name: &str| Filter::builder().name(name).values(id).build();
    let mut found = Vec::new();
    if let Ok(out) = ec2
        .describe_network_interfaces()
        .filters(by(filter))
        .send()
        .await
    {
        for n in out.network_interfaces() {
            found.push(format!(
                "network interface {} ({})",
                n.network_interface_id().unwrap_or("?"),
                n.description()
                    .filter(|d| !d.is_empty())
                    .unwrap_or("no description")
            ));
        }
    }
    if filter == "vpc-id" {
        if let Ok(out) = ec2.describe_subnets().filters(by(filter)).send().await {
            for s in out.subnets() {
                found.push(format!("subnet {}", s.subnet_id().unwrap_or("?")));
            }
        }
        if let Ok(out) = ec2
            .describe_security_groups()
            .filters(by(filter))
            .send()
            .await
        {
            for g in out
                .security_groups()
                .iter()
                .filter(|g| g.group_name() != Some("default"))
            {
                found.push(format!("security group {}", g.group_id().unwrap_or("?")));
            }
        }
    }
    if filter == "group-id" {
        for name in ["ip-permission.group-id", "egress.ip-permission.group-id"] {
            if let Ok(out) = ec2
                .describe_security_groups()
                .filters(by(name))
                .send()
                .await
            {
                for g in out
                    .security_groups()
                    .iter()
                    .filter(|g| g.group_id() != Some(id))
                {
                    found.push(format!(
                        "rules in security group {} ({})",
                        g.group_id().unwrap_or("?"),
                        g.group_name().unwrap_or("?")
                    ));
                }
            }
        }
    }
    if found.is_empty() {
        return original;
    }
    found.dedup();
    let label = if filter == "vpc-id" {
        "still in the VPC"
    } else {
        "still using it"
    };
    CloudError {
        message: format!("{}; {label}: {}", original.message, found.join(", ")),
        ..original
    }
}

/// A delete of a VPC, subnet or group: gone when AWS says it is not there, explained
/// (what still uses it) when AWS says it is in use.
pub async fn gone_or_explained<T>(
    cx: &Context,
    filter: &str,
    id: &str,
    res: Result<T, CloudError>,
) -> Result<(), CloudError> {
    match res {
        Ok(_) => Ok(()),
        Err(e) if crate::aws::is_not_found(&e) => Ok(()),
        // Still used (an interface AWS removes later): explained, and tried again.
        Err(e) if e.has_code(DEPENDENCY_VIOLATION) => {
            Err(explain(cx, filter, id, e).await.in_use())
        }
        Err(e) => Err(e),
    }
}

/// Tags as EC2 answers carry them (for recorded answers in tests).
#[cfg(test)]
pub fn sdk_tags(tags: Tags) -> Vec<Tag> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Adopt an EC2 resource made outside the stack (`provision adopt`): its id must be of
/// the kind (`prefix`), its tags nobody else's; then it gets the stack's identity tags.
pub async fn adopt(
    cx: &Context,
    what: &str,
    prefix: &str,
    id: &str,
    identity: &Tags,
) -> Result<(), CloudError> {
    if !id.starts_with(prefix) {
        return Err(CloudError::new(
            format!("adopt {what} {id}"),
            format!("`{id}` is not the id of {what} (those start with `{prefix}`)"),
        ));
    }
    let described = cx
        .aws
        .ec2
        .describe_tags()
        .filters(Filter::builder().name("resource-id").values(id).build())
        .send()
        .await
        .map_err(|e| err("ec2:DescribeTags", e))?;
    let tags: Tags = described
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect();
    super::support::tags::check_adoptable(what, id, &tags, identity)?;
    Ec2Tags(&cx.aws.ec2).tag(id, identity).await
}
