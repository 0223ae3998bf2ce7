//! Tags: the identity every resource of a stack carries, and bringing a resource's tags
//! to the desired ones through whichever calls its service has.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::engine::CloudError;
use crate::model::{TAG_NAME, TAG_REGION, TAG_STACK};

/// A resource's tags, sorted by key.
pub type Tags = BTreeMap<String, String>;

/// Tags as the stack compares them: without the `aws:` ones AWS adds itself.
pub fn visible<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Tags {
    pairs
        .into_iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The resource's name in the stack, if it carries the stack's identity: a resource
/// without the stack tag is never the stack's, whatever its name.
pub fn identity(tags: &Tags, stack: &str) -> Option<String> {
    if tags.get(TAG_STACK).map(String::as_str) != Some(stack) {
        return None;
    }
    tags.get(TAG_NAME).cloned()
}

/// Whether the tags say the resource is the stack's (whatever its name).
pub fn owned(tags: &Tags, stack: &str) -> bool {
    tags.get(TAG_STACK).map(String::as_str) == Some(stack)
}

/// A global resource of this stack made from another region: the stack lives there, and
/// a run in this region must not claim, change or delete it. Checked by the global kinds'
/// listings, so every command stops before any write and says where the stack lives.
pub fn check_home(
    operation: &str,
    what: &str,
    id: &str,
    tags: &Tags,
    scope: &super::Scope,
) -> Result<(), CloudError> {
    match tags.get(TAG_REGION) {
        Some(home) if owned(tags, &scope.stack) && home != &scope.region => Err(CloudError::new(
            operation,
            format!(
                "stack {} lives in region {home}, not {}: its {what} `{id}` carries {TAG_REGION}={home}. Run with --region {home} (a second deployment needs another stack name)",
                scope.stack, scope.region
            ),
        )
        .with_code("StackInOtherRegion")),
        _ => Ok(()),
    }
}

/// The error for a name the stack wants that something else holds: the name alone
/// proves nothing, so nothing is adopted or changed.
pub fn name_taken(operation: &str, what: &str, name: &str, tags: &Tags) -> CloudError {
    let owner = match tags.get(TAG_STACK) {
        Some(s) => format!("it carries {TAG_STACK}={s}"),
        None => format!("it has no {TAG_STACK} tag"),
    };
    CloudError::new(
        operation,
        format!(
            "{what} `{name}` already exists and is not this stack's ({owner}); nothing of it was changed. Rename the resource in the stack file, or remove the other one"
        ),
    )
    .with_code("NameTaken")
}

/// Whether `id`, with these tags, may be adopted as the stack's resource `name`: not when
/// another stack's tags, or this stack's for another resource, are on it.
pub fn check_adoptable(
    what: &str,
    id: &str,
    tags: &Tags,
    identity: &Tags,
) -> Result<(), CloudError> {
    let operation = format!("adopt {what} {id}");
    let (Some(stack), Some(name)) = (identity.get(TAG_STACK), identity.get(TAG_NAME)) else {
        return Err(CloudError::new(operation, "no identity to give"));
    };
    match (tags.get(TAG_STACK), tags.get(TAG_NAME)) {
        (Some(s), _) if s != stack => Err(CloudError::new(
            operation,
            format!("{what} {id} belongs to stack {s} ({TAG_STACK}={s}); nothing was changed"),
        )
        .with_code("NotAdoptable")),
        (Some(_), Some(n)) if n != name => Err(CloudError::new(
            operation,
            format!("{what} {id} is already this stack's `{n}`; nothing was changed"),
        )
        .with_code("NotAdoptable")),
        _ => Ok(()),
    }
}

/// Below this many resources of a kind, each one's tags are read from its own service
/// (one round of requests under the bound of requests in flight, and always current).
/// From it on, the tagging API's index gives them all in a few pages: it can lag a tag
/// change by up to a minute, when a plan may show those tags again and re-send them
/// (the same values: harmless), never miss a resource (what it lacks is read directly).
pub const INDEXED_FROM: usize = 16;

/// The tags of resources of one service, by ARN: from the Resource Groups Tagging API's
/// index when there are many, each resource's own read (`read`) for the others and for
/// what the index does not hold yet. `service` is the index's resource type filter.
pub async fn of_many<F, Fut>(
    tagging: &aws_sdk_resourcegroupstagging::Client,
    stack: &str,
    service: &str,
    arns: &[String],
    read: F,
) -> Result<BTreeMap<String, Tags>, CloudError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Tags, CloudError>>,
{
    let mut out = BTreeMap::new();
    if arns.len() >= INDEXED_FROM {
        let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder()
            .key(TAG_STACK)
            .values(stack)
            .build();
        let pages = tagging
            .get_resources()
            .tag_filters(filter)
            .resource_type_filters(service)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| crate::aws::err("tagging:GetResources", e))?;
        for r in pages.iter().flat_map(|p| p.resource_tag_mapping_list()) {
            let Some(arn) = r.resource_arn() else {
                continue;
            };
            // Log groups are indexed with or without the `:*` of their stream pattern.
            let arn = arn.strip_suffix(":*").unwrap_or(arn);
            if arns.iter().any(|a| a == arn) {
                out.insert(
                    arn.to_string(),
                    visible(r.tags().iter().map(|t| (t.key(), t.value()))),
                );
            }
        }
    }
    let rest = arns.iter().filter(|a| !out.contains_key(*a)).map(|a| {
        let a = a.clone();
        let tags = read(a.clone());
        async move { Ok::<_, CloudError>((a, tags.await?)) }
    });
    out.extend(futures::future::try_join_all(rest).await?);
    Ok(out)
}

/// The tag writes a service supports.
#[async_trait]
pub trait ServiceTags: Sync {
    /// Add or overwrite these tags.
    async fn tag(&self, id: &str, set: &Tags) -> Result<(), CloudError>;
    /// Remove these keys.
    async fn untag(&self, id: &str, keys: &[String]) -> Result<(), CloudError>;
}

/// Bring the tags of `id` from `have` to `want`: one call to set what differs, one to
/// remove what is no longer wanted, none when nothing changes.
pub async fn sync_tags(
    svc: &impl ServiceTags,
    id: &str,
    have: &Tags,
    want: &Tags,
) -> Result<(), CloudError> {
    let set: Tags = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unset: Vec<String> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    if !set.is_empty() {
        svc.tag(id, &set).await?;
    }
    if !unset.is_empty() {
        svc.untag(id, &unset).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl ServiceTags for Recorder {
        async fn tag(&self, id: &str, set: &Tags) -> Result<(), CloudError> {
            let keys: Vec<&str> = set.keys().map(String::as_str).collect();
            self.0
                .lock()
                .unwrap()
                .push(format!("tag {id} {}", keys.join(",")));
            Ok(())
        }
        async fn untag(&self, id: &str, keys: &[String]) -> Result<(), CloudError> {
            self.0
                .lock()
                .unwrap()
                .push(format!("untag {id} {}", keys.join(",")));
            Ok(())
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn only_what_differs_is_written() {
        let r = Recorder::default();
        let have = tags(&[("a", "1"), ("b", "2"), ("gone", "x")]);
        let want = tags(&[("a", "1"), ("b", "3"), ("new", "y")]);
        sync_tags(&r, "r-1", &have, &want).await.unwrap();
        assert_eq!(
            r.0.lock().unwrap().clone(),
            vec!["tag r-1 b,new".to_string(), "untag r-1 gone".to_string()]
        );
        let r = Recorder::default();
        sync_tags(&r, "r-1", &want, &want).await.unwrap();
        assert!(
            r.0.lock().unwrap().is_empty(),
            "no call when nothing changes"
        );
    }

    #[test]
    fn identity_needs_the_stack_tag() {
        let t = tags(&[(TAG_STACK, "app"), (TAG_NAME, "web")]);
        assert_eq!(identity(&t, "app").as_deref(), Some("web"));
        assert_eq!(identity(&t, "app-2"), None);
        assert_eq!(identity(&tags(&[(TAG_NAME, "web")]), "app"), None);
        assert!(visible([("aws:cloudformation:x", "1"), ("k", "v")]).len() == 1);
    }
}
