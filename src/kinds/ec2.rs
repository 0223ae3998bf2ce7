//! Helpers shared by the EC2-based kinds: identity tags, tag filters, tag updates.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde_json::Value;

use crate::aws::err;
use crate::engine::{CloudError, Props};
use crate::model::{TAG_NAME, TAG_STACK};

/// The desired tags of a resource (the `tags` property).
pub fn desired_tags(props: &Props) -> BTreeMap<String, String> {
    props
        .get("tags")
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .unwrap_or_default()
}

/// Tags to set in the create call itself.
pub fn tag_spec(rt: ResourceType, props: &Props) -> TagSpecification {
    let tags = desired_tags(props)
        .into_iter()
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

/// Observed tags (without the `aws:` ones AWS adds) and the logical name, which is only
/// given when the resource carries the stack's tag: a listing that ignored the tag
/// filter never makes another stack's resource ours.
pub fn observed_tags(tags: &[Tag], stack: &str) -> (Value, Option<String>) {
    let map: BTreeMap<String, String> = tags
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .filter(|(k, _)| !k.starts_with("aws:"))
        .collect();
    let ours = map.get(TAG_STACK).map(String::as_str) == Some(stack);
    let name = map.get(TAG_NAME).cloned().filter(|_| ours);
    (serde_json::to_value(&map).unwrap_or(Value::Null), name)
}

/// Bring the tags of `id` to the desired ones.
pub async fn sync_tags(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    current: &Props,
    desired: &Props,
) -> Result<(), CloudError> {
    let want = desired_tags(desired);
    let have = desired_tags(current);
    let set: Vec<Tag> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let unset: Vec<Tag> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !set.is_empty() {
        ec2.create_tags()
            .resources(id)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(|e| err("ec2:CreateTags", e))?;
    }
    if !unset.is_empty() {
        ec2.delete_tags()
            .resources(id)
            .set_tags(Some(unset))
            .send()
            .await
            .map_err(|e| err("ec2:DeleteTags", e))?;
    }
    Ok(())
}

/// A client token derived from the stack, the resource and what it is created from, so
/// that a retried create is recognised by AWS, while a later re-creation (new inputs) is not.
pub fn client_token(stack: &str, name: &str, props: &Props) -> String {
    // FNV-1a over a canonical rendering: stable across runs and platforms.
    let text = format!("{stack}\u{0}{name}\u{0}{}", Value::Object(props.clone()));
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("provision-{h:016x}")
}

pub fn str_prop<'a>(props: &'a Props, key: &str) -> Result<&'a str, CloudError> {
    props
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| CloudError::new("apply", format!("missing field {key}")))
}

pub fn bool_prop(props: &Props, key: &str) -> bool {
    props.get(key).and_then(Value::as_bool).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_are_stable_and_input_dependent() {
        let mut p = Props::new();
        p.insert("subnet".into(), "subnet-1".into());
        let a = client_token("s", "nat", &p);
        assert_eq!(a, client_token("s", "nat", &p));
        p.insert("subnet".into(), "subnet-2".into());
        assert_ne!(a, client_token("s", "nat", &p));
        assert!(a.len() <= 64);
    }
}
