//! Elastic Load Balancing v2 kinds and what they share: tags by ARN (read 20 ARNs a
//! call), name rules, CloudWatch dimension names.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::Tag;

use super::support::tags::{ServiceTags, Tags};
use super::support::Context;
use crate::aws::err;
use crate::engine::CloudError;
use crate::model::Cx;

pub mod listener;
pub mod load_balancer;
pub mod target_group;

/// The longest name ELBv2 takes.
pub const NAME_MAX: usize = 32;

/// ELBv2 names: at most 32 letters, digits and hyphens.
pub fn check_name(cx: &mut Cx, name: &str) -> String {
    let n = cx.physical_name(name);
    if n.len() > NAME_MAX {
        cx.error(
            "",
            format!("`{n}` is longer than the {NAME_MAX} characters ELBv2 allows for a name; use a shorter name"),
        );
    }
    n
}

/// Tags as the create calls take them.
pub fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Tags of ELBv2 resources, 20 ARNs a call, by ARN (without the `aws:` ones).
pub async fn tags_by_arn(
    cx: &Context,
    arns: &[String],
) -> Result<BTreeMap<String, Tags>, CloudError> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(20) {
        let d = cx
            .aws
            .elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeTags", e))?;
        for td in d.tag_descriptions() {
            let tags = super::support::tags::visible(
                td.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
            );
            out.insert(td.resource_arn().unwrap_or_default().to_string(), tags);
        }
    }
    Ok(out)
}

/// ELBv2's tag calls.
pub struct ElbTags<'a>(pub &'a aws_sdk_elasticloadbalancingv2::Client);

#[async_trait]
impl ServiceTags for ElbTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .add_tags()
            .resource_arns(arn)
            .set_tags(Some(sdk_tags(set)))
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:AddTags", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:RemoveTags", e))?;
        Ok(())
    }
}

/// `app/<name>/<id>`: how CloudWatch names a load balancer (or `targetgroup/...`).
pub fn arn_suffix(arn: &str) -> String {
    if let Some((_, s)) = arn.split_once(":loadbalancer/") {
        return s.to_string();
    }
    if let Some((_, s)) = arn.split_once(":targetgroup/") {
        return format!("targetgroup/{s}");
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::arn_suffix;

    #[test]
    fn cloudwatch_dimension_names() {
        assert_eq!(
            arn_suffix(
                "arn:aws:elasticloadbalancing:eu-west-3:1:loadbalancer/app/s-web/50dc6c495c0c9188"
            ),
            "app/s-web/50dc6c495c0c9188"
        );
        assert_eq!(
            arn_suffix(
                "arn:aws:elasticloadbalancing:eu-west-3:1:targetgroup/s-tg/73e2d6bc24d8a067"
            ),
            "targetgroup/s-tg/73e2d6bc24d8a067"
        );
    }
}
