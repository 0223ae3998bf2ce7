//! The lifecycle protocol every kind implements, typed, and its adapter to the engine's
//! untyped [`ResourceKind`].
//!
//! A kind declares its properties once, as a struct (`Props`), used by the stack model
//! to build what the file wants and by the kind to describe what exists: the engine
//! compares the two as JSON, so both have one shape by construction. The protocol:
//!
//! - `list` (one batched listing) and `find` (one resource, by id) are the only places
//!   that call the service to read, and `find` is the one place "not found" is decided;
//! - `observe` and `state` are pure: what a listed resource is in the stack's terms
//!   (nothing without the stack's identity tags), and whether it is ready, pending,
//!   failed. They are unit-tested from recorded answers;
//! - `create`, `update`, `delete` write; `delete` says what comes next ([`Deletion`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::tags::Tags;
use crate::clock::{now_secs, rfc3339_at};
use crate::model::{TAG_CREATED, TAG_NAME, TAG_STACK};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::engine::{
    Artifact, CloudError, Deletion, Desired, KindInfo, Observed, Props, ResourceKind, Status,
    Unavailable,
};

/// A resource of the stack as it exists, with typed properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<P> {
    /// Its name in the stack file.
    pub name: String,
    /// Its physical id.
    pub id: String,
    pub props: P,
    /// Outputs other resources may reference (the `id` output is added by the adapter).
    pub outputs: BTreeMap<String, String>,
    /// Set when AWS reports it failed: the plan replaces it.
    pub failed: Option<String>,
    /// AWS is deleting it (an interrupted run's delete).
    pub deleting: bool,
}

impl<P> Found<P> {
    pub fn new(name: impl Into<String>, id: impl Into<String>, props: P) -> Self {
        Found {
            name: name.into(),
            id: id.into(),
            props,
            outputs: BTreeMap::new(),
            failed: None,
            deleting: false,
        }
    }

    pub fn output(mut self, key: &str, value: impl Into<String>) -> Self {
        self.outputs.insert(key.to_string(), value.into());
        self
    }

    /// The same resource with new properties (after an in-place update).
    pub fn with_props(&self, props: P) -> Self {
        Found {
            name: self.name.clone(),
            id: self.id.clone(),
            props,
            outputs: self.outputs.clone(),
            failed: None,
            deleting: false,
        }
    }
}

/// One kind's whole lifecycle, typed. See the module documentation.
#[async_trait]
pub trait Kind: Send + Sync + 'static {
    /// Properties as compared; desired (resolved) and observed share this shape.
    type Props: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync;
    /// What the service says about one resource (what `list` and `find` return).
    type Remote: Send + Sync;

    fn info(&self) -> &'static KindInfo;

    /// Every resource of the kind that may be the stack's: one batched listing where
    /// the service has one. A kind with a parent kind gets what was found of it.
    async fn list(&self, parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError>;

    /// Pure: the resource in the stack's terms, or `None` when it is not the stack's.
    fn observe(&self, remote: &Self::Remote) -> Option<Found<Self::Props>>;

    /// The resource as it is now, `None` when it is gone. Kinds that wait implement it.
    async fn find(&self, current: &Found<Self::Props>) -> Result<Option<Self::Remote>, CloudError> {
        Err(CloudError::new(
            format!("{} {}", self.info().kind, current.id),
            "this kind has no finder",
        ))
    }

    /// Pure: the state of a resource `find` returned (ready, pending, failed).
    fn state(&self, _remote: &Self::Remote) -> Status {
        Status::Ready
    }

    /// Canonical order of sets (both sides of a comparison go through it).
    fn normalize(_props: &mut Self::Props) {}

    /// A field's value as the stack file spells it, where AWS's form differs; `None`:
    /// the same.
    fn as_written(_field: &str, _value: &Value) -> Option<Value> {
        None
    }

    /// What the file wants, settled against what exists where AWS moves a value forward
    /// on its own (see [`ResourceKind::settle`]).
    fn settle(_want: &mut Self::Props, _have: &Self::Props) {}

    async fn create(
        &self,
        name: &str,
        want: &Self::Props,
    ) -> Result<Found<Self::Props>, CloudError>;

    /// Bring `current` to `want` in place (the plan found fields that differ and none
    /// that forces a replacement).
    async fn update(
        &self,
        current: &Found<Self::Props>,
        want: &Self::Props,
    ) -> Result<Found<Self::Props>, CloudError>;

    async fn delete(&self, current: &Found<Self::Props>) -> Result<Deletion, CloudError>;

    /// A reason to keep the resource instead of deleting it (data it holds).
    async fn keep(&self, _current: &Found<Self::Props>) -> Result<Option<String>, CloudError> {
        Ok(None)
    }

    /// A reason the resource cannot be deleted as it is (deletion protection).
    fn delete_guard(&self, _current: &Found<Self::Props>) -> Option<String> {
        None
    }

    /// See [`ResourceKind::artifacts`].
    async fn artifacts(&self) -> Result<Vec<Artifact>, CloudError> {
        Ok(Vec::new())
    }

    /// See [`ResourceKind::delete_artifact`].
    async fn delete_artifact(&self, artifact: &Artifact) -> Result<(), CloudError> {
        Err(artifact.not_deletable())
    }

    /// For a kind whose names are unique in the account or region: what already holds
    /// the name `want` would be created under (the name and the holder's tags), `None`
    /// when it is free. Checked for every create before any write of a run.
    async fn name_holder(&self, _want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        Ok(None)
    }

    /// See [`ResourceKind::adopt`]; `None`: this kind cannot adopt.
    async fn adopt(&self, _id: &str, _identity: &Tags) -> Option<Result<(), CloudError>> {
        None
    }

    /// What the file asks that AWS does not offer (see [`ResourceKind::availability`]).
    async fn availability(
        &self,
        _wanted: &[&Desired],
        _observed: &[Observed],
    ) -> Result<Vec<Unavailable>, CloudError> {
        Ok(Vec::new())
    }
}

/// Properties as the engine's JSON map.
pub fn to_props<P: Serialize>(p: &P) -> Props {
    match serde_json::to_value(p) {
        Ok(Value::Object(m)) => m,
        _ => Props::new(),
    }
}

fn from_props<P: DeserializeOwned>(kind: &str, props: &Props) -> Result<P, CloudError> {
    serde_json::from_value(Value::Object(props.clone())).map_err(|e| {
        CloudError::new(
            format!("{kind} properties"),
            format!("not in the kind's shape: {e}"),
        )
    })
}

/// A desired resource of kind `info` from its typed properties (references as
/// `{"$ref": ...}` values in the fields that hold them).
pub fn desired<P: Serialize>(info: &KindInfo, name: &str, props: &P) -> Desired {
    Desired::new(info.kind, name, to_props(props))
}

/// The typed properties of a desired resource (references still as JSON values when
/// `P` keeps them as such): for checks across resources.
pub fn props_of<P: DeserializeOwned>(d: &Desired) -> Option<P> {
    serde_json::from_value(Value::Object(d.props.clone())).ok()
}

/// With `set`, writes the `provision:created` tag into a tagged resource's properties;
/// without, takes it out. Returns what was there. Kinds without tags are left alone.
fn created_tag(props: &mut Props, set: Option<String>) -> Option<String> {
    let Some(Value::Object(tags)) = props.get_mut("tags") else {
        return None;
    };
    match set {
        Some(at) => tags.insert(TAG_CREATED.into(), Value::String(at)),
        None => tags.remove(TAG_CREATED),
    }
    .and_then(|v| v.as_str().map(str::to_string))
}

/// A plain text field of a desired resource (the name it will have in AWS).
pub fn wanted_name(d: &Desired, field: &str) -> Option<String> {
    d.props
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The engine's view of a typed kind.
pub fn adapt<K: Kind>(kind: K) -> Arc<dyn ResourceKind> {
    Arc::new(Typed(kind))
}

struct Typed<K>(K);

impl<K: Kind> Typed<K> {
    fn observed(&self, f: Found<K::Props>) -> Observed {
        let mut o = Observed::new(self.0.info().kind, f.name, f.id);
        o.props = to_props(&f.props);
        // The creation record is the resource's, not the file's: never compared.
        o.created = created_tag(&mut o.props, None);
        o.outputs.extend(f.outputs);
        o.failed = f.failed;
        o.deleting = f.deleting;
        o
    }

    fn found(&self, o: &Observed) -> Result<Found<K::Props>, CloudError> {
        // Given back to the kind so that a call that sets all tags at once keeps it.
        let mut props = o.props.clone();
        created_tag(&mut props, o.created.clone());
        Ok(Found {
            name: o.name.clone(),
            id: o.id.clone(),
            props: from_props(self.0.info().kind, &props)?,
            outputs: o.outputs.clone(),
            failed: o.failed.clone(),
            deleting: o.deleting,
        })
    }

    fn props(&self, p: &Props) -> Result<K::Props, CloudError> {
        from_props(self.0.info().kind, p)
    }
}

#[async_trait]
impl<K: Kind> ResourceKind for Typed<K> {
    fn info(&self) -> &'static KindInfo {
        self.0.info()
    }

    fn normalize(&self, props: &mut Props) {
        // Fields only known after apply are missing: then the rest stays as it is.
        if let Ok(mut p) = self.props(props) {
            K::normalize(&mut p);
            *props = to_props(&p);
        }
    }

    fn settle(&self, want: &mut Props, have: &Props) {
        // Fields only known after apply are missing from `want`: stand in what exists
        // for them so the rest is settled too (a database whose groups are replaced
        // keeps its minor version), then leave them out again.
        let missing: Vec<String> = have
            .keys()
            .filter(|k| !want.contains_key(*k))
            .cloned()
            .collect();
        let mut full = want.clone();
        for k in &missing {
            full.insert(k.clone(), have[k].clone());
        }
        if let (Ok(mut w), Ok(h)) = (self.props(&full), self.props(have)) {
            K::settle(&mut w, &h);
            let mut settled = to_props(&w);
            for k in &missing {
                settled.remove(k);
            }
            *want = settled;
        }
    }

    fn as_written(&self, field: &str, value: &Value) -> Value {
        K::as_written(field, value).unwrap_or_else(|| value.clone())
    }

    async fn discover(&self, parents: &[Observed]) -> Result<Vec<Observed>, CloudError> {
        let listed = self.0.list(parents).await?;
        Ok(listed
            .iter()
            .filter_map(|r| self.0.observe(r))
            .map(|f| self.observed(f))
            .collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let mut props = props.clone();
        created_tag(&mut props, Some(rfc3339_at(now_secs())));
        let want = self.props(&props)?;
        let f = self.0.create(name, &want).await?;
        Ok(self.observed(f))
    }

    async fn update(
        &self,
        _name: &str,
        props: &Props,
        current: &Observed,
        _changed: &[String],
    ) -> Result<Observed, CloudError> {
        let mut props = props.clone();
        created_tag(&mut props, current.created.clone());
        let want = self.props(&props)?;
        let f = self.0.update(&self.found(current)?, &want).await?;
        Ok(self.observed(f))
    }

    async fn delete(&self, current: &Observed) -> Result<Deletion, CloudError> {
        self.0.delete(&self.found(current)?).await
    }

    async fn keep_instead_of_delete(
        &self,
        current: &Observed,
    ) -> Result<Option<String>, CloudError> {
        self.0.keep(&self.found(current)?).await
    }

    fn delete_guard(&self, current: &Observed) -> Option<String> {
        self.found(current)
            .ok()
            .and_then(|f| self.0.delete_guard(&f))
    }

    /// The kind's own catalog checks, and for each resource to create, whether its name
    /// is held by something that is not the stack's: the run stops before any write.
    async fn availability(
        &self,
        wanted: &[&Desired],
        observed: &[Observed],
    ) -> Result<Vec<Unavailable>, CloudError> {
        let mut out = self.0.availability(wanted, observed).await?;
        let existing: std::collections::BTreeSet<&str> =
            observed.iter().map(|o| o.name.as_str()).collect();
        let creates = wanted
            .iter()
            .filter(|d| !existing.contains(d.name.as_str()));
        let held = futures::future::try_join_all(
            creates.map(|d| async move { self.0.name_holder(d).await.map(|h| (d, h)) }),
        )
        .await?;
        for (d, holder) in held {
            let Some((physical, tags)) = holder else {
                continue;
            };
            // The stack's own copy of this very resource (not yet seen by its listing)
            // is no obstacle.
            let stack = d.props.get("tags").and_then(|t| t.get(TAG_STACK));
            let ours = stack.and_then(Value::as_str) == tags.get(TAG_STACK).map(String::as_str)
                && tags.get(TAG_NAME) == Some(&d.name);
            if ours {
                continue;
            }
            let what = self.0.info().kind.replace('_', " ");
            let taken = super::tags::name_taken("", &what, &physical, &tags);
            out.push(Unavailable {
                name: d.name.clone(),
                field: String::new(),
                message: taken.message,
                hint: Some("rename the resource in the stack file (its AWS name is <stack>-<name>), or adopt the existing one with `provision adopt`".into()),
            });
        }
        Ok(out)
    }

    async fn artifacts(&self) -> Result<Vec<Artifact>, CloudError> {
        self.0.artifacts().await
    }

    async fn delete_artifact(&self, artifact: &Artifact) -> Result<(), CloudError> {
        self.0.delete_artifact(artifact).await
    }

    async fn adopt(&self, id: &str, identity: &Tags) -> Result<(), CloudError> {
        match self.0.adopt(id, identity).await {
            Some(done) => done,
            None => Err(CloudError::new(
                format!("adopt {} {id}", self.0.info().kind),
                format!(
                    "provision cannot adopt {} {} yet: let it create one, or delete this one",
                    crate::model::article(self.0.info().kind),
                    self.0.info().kind
                ),
            )),
        }
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        Ok(match self.0.find(&self.found(current)?).await? {
            None => Status::Missing,
            Some(r) => self.0.state(&r),
        })
    }

    async fn refresh(&self, current: &Observed) -> Result<Option<Observed>, CloudError> {
        Ok(self
            .0
            .find(&self.found(current)?)
            .await?
            .and_then(|r| self.0.observe(&r))
            .map(|f| self.observed(f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creation_record_is_taken_out_of_compared_tags_and_given_back_to_writes() {
        let mut props: Props = serde_json::from_value(serde_json::json!({
            "cidr": "10.0.0.0/16",
            "tags": {"project": "p", TAG_CREATED: "2026-11-28T17:40:12Z"}
        }))
        .expect("props");
        // Observing: out of the tags, so the file (which never has it) does not differ.
        let was = created_tag(&mut props, None);
        assert_eq!(was.as_deref(), Some("2026-11-28T17:40:12Z"));
        assert_eq!(props["tags"], serde_json::json!({"project": "p"}));
        // Writing: back in, so a call that sets every tag at once keeps it.
        created_tag(&mut props, was);
        assert_eq!(props["tags"][TAG_CREATED], "2026-11-28T17:40:12Z");
        // A kind without tags is left alone.
        let mut untagged: Props = serde_json::from_value(serde_json::json!({"a": 1})).expect("p");
        assert_eq!(created_tag(&mut untagged, Some("x".into())), None);
        assert!(!untagged.contains_key("tags"));
    }
}
