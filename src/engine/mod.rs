//! The engine: dependency graph, plan (diff) and apply (executor).
//!
//! It knows nothing of AWS. It works over [`ResourceKind`], the lifecycle of one kind of
//! resource, and over [`Desired`] / [`Observed`] records whose properties are plain JSON
//! values. References between resources are JSON objects `{"$ref": "<name>"}` (optionally
//! with `"attr": "<output>"`) inside desired properties; the engine resolves them to the
//! referenced resource's outputs, and the dependency graph is derived from them.

pub mod apply;
pub mod graph;
pub mod plan;
pub mod schedule;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

/// Properties of a resource: field name to value, sorted by field name.
pub type Props = serde_json::Map<String, Value>;

/// Output attribute holding a resource's physical id; every observed resource has it.
pub const ID: &str = "id";

/// A resource as the stack file wants it.
#[derive(Debug, Clone)]
pub struct Desired {
    pub kind: &'static str,
    pub name: String,
    /// Properties, possibly holding `{"$ref": name}` values.
    pub props: Props,
    /// Extra ordering constraints (names) that are not visible in the properties.
    pub depends_on: Vec<String>,
    /// Holds data (database, bucket, cluster): a plan that replaces or deletes it is flagged.
    pub stateful: bool,
}

impl Desired {
    pub fn new(kind: &'static str, name: &str, props: Props) -> Self {
        Desired {
            kind,
            name: name.to_string(),
            props,
            depends_on: Vec::new(),
            stateful: false,
        }
    }

    /// Names this resource depends on: references in its properties plus `depends_on`.
    pub fn deps(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in self.props.values() {
            collect_refs(v, &mut out);
        }
        out.extend(self.depends_on.iter().cloned());
        out.sort();
        out.dedup();
        out
    }
}

/// A resource as it exists in the cloud, found by its stack tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub kind: &'static str,
    pub name: String,
    /// Physical id (VPC id, bucket name, ...).
    pub id: String,
    /// Properties in the same shape as the desired ones, references given as physical ids.
    pub props: Props,
    /// Attributes other resources may reference (`id` always, `arn`, `endpoint`, ...).
    pub outputs: BTreeMap<String, String>,
    /// Set when the cloud reports the resource as failed: the plan replaces it.
    pub failed: Option<String>,
    /// The cloud is deleting it (an interrupted run's delete): the plan waits for it to go
    /// before anything that depends on it, and re-creates it if the file still wants it.
    pub deleting: bool,
    /// When it was created, as the cloud or the stack's own record says (RFC 3339).
    pub created: Option<String>,
}

impl Observed {
    pub fn new(kind: &'static str, name: impl Into<String>, id: impl Into<String>) -> Self {
        let id = id.into();
        let mut outputs = BTreeMap::new();
        outputs.insert(ID.to_string(), id.clone());
        Observed {
            kind,
            name: name.into(),
            id,
            props: Props::new(),
            outputs,
            failed: None,
            deleting: false,
            created: None,
        }
    }

    pub fn with_prop(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.props.insert(key.to_string(), value.into());
        self
    }

    /// This resource after an in-place update to `props` (same id and outputs).
    pub fn updated(&self, name: &str, props: &Props) -> Observed {
        let mut o = self.clone();
        o.name = name.to_string();
        o.props = props.clone();
        o
    }

    pub fn with_output(mut self, key: &str, value: impl Into<String>) -> Self {
        self.outputs.insert(key.to_string(), value.into());
        self
    }
}

/// What the cloud says about a resource while the engine waits on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Usable: dependents may start.
    Ready,
    /// Still changing (creating, modifying, deleting); the text is the cloud's status.
    Pending(String),
    /// Ended in a failed state; the text is the status reason.
    Failed(String),
    /// Does not exist (any more).
    Missing,
}

/// How long and how often to poll a resource of a kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitPolicy {
    pub timeout: Duration,
    pub first_interval: Duration,
    pub max_interval: Duration,
    /// How long AWS usually takes to make it ready (zero: unknown). Polls for readiness
    /// are sparse until it can be ready, then frequent around when it usually is.
    pub expected: Duration,
    /// How long AWS usually takes to delete it (zero: unknown), shaping the polls for
    /// its disappearance the same way.
    pub expected_gone: Duration,
}

impl WaitPolicy {
    /// Polls from `first` growing to `max`, for at most `timeout`.
    pub const fn new(timeout: Duration, first: Duration, max: Duration) -> Self {
        WaitPolicy {
            timeout,
            first_interval: first,
            max_interval: max,
            expected: Duration::ZERO,
            expected_gone: Duration::ZERO,
        }
    }

    /// The same, with AWS's usual time to delete it.
    pub const fn gone_within(mut self, usual: Duration) -> Self {
        self.expected_gone = usual;
        self
    }

    /// The same, shaped by AWS's usual duration.
    pub const fn expecting(mut self, usual: Duration) -> Self {
        self.expected = usual;
        self
    }

    /// The pause before the next look, `elapsed` into the wait, after a pause of `last`.
    /// Without an expected duration: doubling up to the maximum. With one: the same at
    /// first, then halving the way to the window where it is usually ready (75% to 150%
    /// of the usual time), every 1/40 of the usual time inside it, then the maximum again.
    /// Inside the window "ready" is seen within that 1/40 (15 s for a 10-minute EKS
    /// cluster, 2 s for a NAT gateway) instead of up to the maximum (30 s, 15 s).
    pub fn next_pause(&self, elapsed: Duration, last: Duration) -> Duration {
        self.pause_toward(self.expected, elapsed, last)
    }

    /// The same for a delete, shaped by the usual time to delete.
    pub fn next_pause_gone(&self, elapsed: Duration, last: Duration) -> Duration {
        self.pause_toward(self.expected_gone, elapsed, last)
    }

    fn pause_toward(&self, expected: Duration, elapsed: Duration, last: Duration) -> Duration {
        let grown = (last * 2).min(self.max_interval);
        if expected.is_zero() {
            return grown;
        }
        let near = (expected / 40).clamp(self.first_interval, self.max_interval);
        let window = expected.mul_f64(0.75);
        if elapsed + grown <= window {
            let halfway = (window - elapsed) / 2;
            return if grown >= self.max_interval && halfway > grown {
                halfway
            } else {
                grown
            };
        }
        if elapsed < window {
            return (window - elapsed).max(self.first_interval);
        }
        if elapsed < expected.mul_f64(1.5) {
            return near;
        }
        grown
    }
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy::new(
            Duration::from_secs(15 * 60),
            Duration::from_millis(200),
            Duration::from_secs(15),
        )
    }
}

/// What a kind is, as data: everything the engine (and the stack model) needs to know
/// about it besides its calls. One `static` per kind, read by both sides.
#[derive(Debug)]
pub struct KindInfo {
    /// Kind name as used in plans and errors (`vpc`, `subnet`, ...).
    pub kind: &'static str,
    /// Its section in the stack file; empty for a part of another kind's entry (a
    /// security group's rules, a bucket's policy).
    pub section: &'static str,
    /// The cloud service it belongs to (for documentation and test tables; the engine
    /// does not look at it).
    pub service: &'static str,
    /// Outputs other resources may reference (`id` always; `arn`, `endpoint`, ...).
    pub outputs: &'static [&'static str],
    /// Fields whose change cannot be applied in place: the resource is replaced.
    pub replace: &'static [&'static str],
    /// Fields that are written but cannot be read back: never compared, so never drift.
    pub write_only: &'static [&'static str],
    /// Holds data (database, bucket, cluster): replacing or deleting it destroys data.
    pub stateful: bool,
    /// Resources of this kind are found through the resources of that kind (listeners
    /// through load balancers): discovery hands it what the parent kind found.
    pub parent: Option<&'static str>,
    /// How to wait after create, update and a started delete; `None`: usable at once.
    pub wait: Option<WaitPolicy>,
    /// An update gives the resource new outputs (an ECS task definition's update
    /// registers a new revision, with a new ARN): what references it is updated too.
    pub new_outputs_on_update: bool,
    /// Creates of this kind wait for every create or update of these kinds, an ordering
    /// the cloud needs without a reference showing it (an internet-facing load balancer
    /// needs its VPC's gateway attached).
    pub create_after: &'static [&'static str],
    /// Deletes of this kind wait for every delete of these kinds (a gateway detaches only
    /// once nothing in the VPC holds a public address any more).
    pub delete_after: &'static [&'static str],
    /// What a user wants to see of a resource once it exists (a URL, an endpoint): shown
    /// by `up`, `status` and `output`.
    pub shown: &'static [Shown],
    /// A replacement can live next to the resource it replaces (a security group under
    /// another name): it is created first, what uses the old one is moved to it, and the
    /// old one is deleted last. Otherwise the old one is deleted first.
    pub replace_creates_first: bool,
}

/// One value shown to the user: `template` with `{output}` replaced by the resource's
/// outputs (`https://{domain_name}`).
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    pub name: &'static str,
    pub template: &'static str,
    pub about: &'static str,
}

impl Shown {
    /// The value for `o`; `None` while an output it needs is unknown.
    pub fn render(&self, o: &Observed) -> Option<String> {
        let mut out = String::new();
        let mut rest = self.template;
        while let Some(start) = rest.find('{') {
            let end = start + rest[start..].find('}')?;
            out.push_str(&rest[..start]);
            let v = o
                .outputs
                .get(&rest[start + 1..end])
                .filter(|v| !v.is_empty())?;
            out.push_str(v);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

impl KindInfo {
    /// A kind with the defaults: outputs `id`, nothing replaced, no wait.
    pub const fn new(kind: &'static str, section: &'static str, service: &'static str) -> Self {
        KindInfo {
            kind,
            section,
            service,
            outputs: &[ID],
            replace: &[],
            write_only: &[],
            stateful: false,
            parent: None,
            wait: None,
            new_outputs_on_update: false,
            create_after: &[],
            delete_after: &[],
            shown: &[],
            replace_creates_first: false,
        }
    }
}

/// A value of the file the cloud does not offer (a version, a class, a zone), found by
/// a kind's availability check.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    /// The resource's name in the stack file.
    pub name: String,
    /// The field, relative to the resource (`engine_version`, `instance_types[0]`).
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

/// What the deletion of a resource leaves on purpose and AWS bills until it is deleted
/// (a database's final snapshot): named by `down`, listed and pruned by `snapshots`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Artifact {
    /// What it is, for people (`final snapshot`).
    pub what: &'static str,
    pub kind: &'static str,
    /// Its id in AWS.
    pub id: String,
    /// The physical id of the resource it was taken from.
    pub of: String,
    /// When it was made, RFC 3339.
    pub created: String,
    pub size_gib: Option<i64>,
}

impl Artifact {
    /// The answer of a kind that cannot delete what it left.
    pub fn not_deletable(&self) -> CloudError {
        CloudError::new(
            "delete",
            format!("{} {} cannot be deleted by this tool", self.what, self.id),
        )
    }
}

/// What a delete call left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The resource is gone (or never was).
    Gone,
    /// The cloud is deleting it: wait until it is missing.
    Started,
    /// One step of several was taken (a CloudFront distribution disabled): wait until
    /// the resource has settled, then call `delete` again.
    NextStepWhenSettled,
}

/// An error from the cloud or from a kind's own checks.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}{}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct CloudError {
    /// The API operation or step that failed, e.g. `ec2:CreateVpc`.
    pub operation: String,
    /// The cloud's error code, when there is one.
    pub code: Option<String>,
    pub message: String,
    /// The request may have been carried out even though no answer came back (timeout,
    /// connection lost, server error): a create must look before it tries again.
    pub outcome_unknown: bool,
    /// Refused because something is still using the resource (an interface AWS has not
    /// removed yet, a dependent going away): a delete is tried again for a while.
    pub in_use: bool,
}

impl CloudError {
    pub fn new(operation: impl Into<String>, message: impl Into<String>) -> Self {
        CloudError {
            operation: operation.into(),
            code: None,
            message: message.into(),
            outcome_unknown: false,
            in_use: false,
        }
    }

    /// Mark the error as "still in use": a delete refused for it is tried again.
    pub fn in_use(mut self) -> Self {
        self.in_use = true;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// The whole lifecycle of one kind of resource, as the engine sees it: properties as
/// JSON. Kinds implement it through a typed layer of their own.
#[async_trait]
pub trait ResourceKind: Send + Sync {
    /// What the kind is.
    fn info(&self) -> &'static KindInfo;

    /// Kind name as used in plans and errors.
    fn kind(&self) -> &'static str {
        self.info().kind
    }

    /// Bring resolved desired properties into the canonical shape `discover` reports
    /// (sorted sets and the like), so that comparing them is meaningful.
    fn normalize(&self, _props: &mut Props) {}

    /// Settle desired properties against the current ones where the cloud moves a value
    /// forward on its own (a minor engine version upgraded by the provider): such a
    /// move is not a change to undo.
    fn settle(&self, _want: &mut Props, _have: &Props) {}

    /// A field's value as the stack file spells it (`protocol: all` rather than AWS's
    /// `"-1"`), for plans and drift.
    fn as_written(&self, _field: &str, value: &Value) -> Value {
        value.clone()
    }

    /// Every resource of this kind that carries the stack's tags: one batched (paginated)
    /// listing, never one call per resource where a listing can say it. A kind with a
    /// `parent` gets what discovery found of the parent kind.
    async fn discover(&self, parents: &[Observed]) -> Result<Vec<Observed>, CloudError>;

    /// Create the resource, tagged with its identity in the create call where the API allows.
    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError>;

    /// Apply changed fields in place. `changed` lists the fields that differ.
    async fn update(
        &self,
        name: &str,
        props: &Props,
        current: &Observed,
        changed: &[String],
    ) -> Result<Observed, CloudError>;

    /// Delete the resource, or take the next step of deleting it. Deleting something
    /// already gone is not an error.
    async fn delete(&self, current: &Observed) -> Result<Deletion, CloudError>;

    /// Checked before a delete: a reason to keep the resource instead (a bucket that still
    /// holds objects, unless told to empty it). Kept resources do not fail the run.
    async fn keep_instead_of_delete(
        &self,
        _current: &Observed,
    ) -> Result<Option<String>, CloudError> {
        Ok(None)
    }

    /// Whether the cloud offers what the file asks of this kind (versions, classes,
    /// zones), from its own catalog: read-only calls, once per run, before any write.
    /// `wanted` are the desired resources of this kind; `observed` what exists of it (a
    /// value AWS moved an existing resource to is not questioned).
    async fn availability(
        &self,
        _wanted: &[&Desired],
        _observed: &[Observed],
    ) -> Result<Vec<Unavailable>, CloudError> {
        Ok(Vec::new())
    }

    /// What deletions of this kind left on purpose and still exists (see [`Artifact`]).
    async fn artifacts(&self) -> Result<Vec<Artifact>, CloudError> {
        Ok(Vec::new())
    }

    /// Delete one of [`ResourceKind::artifacts`].
    async fn delete_artifact(&self, artifact: &Artifact) -> Result<(), CloudError> {
        Err(artifact.not_deletable())
    }

    /// Make the existing resource `id`, made outside the stack, the stack's: check it is
    /// nobody else's, then give it the stack's `identity` tags (`provision adopt`).
    async fn adopt(
        &self,
        id: &str,
        _identity: &BTreeMap<String, String>,
    ) -> Result<(), CloudError> {
        Err(CloudError::new(
            format!("adopt {} {id}", self.info().kind),
            format!(
                "provision cannot adopt a {} yet: let it create one, or tag this one by hand",
                self.info().kind
            ),
        ))
    }

    /// Checked before a teardown starts: a reason the resource cannot be deleted at all
    /// as it is (deletion protection), with what to do about it.
    fn delete_guard(&self, _current: &Observed) -> Option<String> {
        None
    }

    /// The current status, for waits after create/update (until `Ready`) and delete
    /// (until `Missing`). Only called for kinds with a wait policy.
    async fn status(&self, _current: &Observed) -> Result<Status, CloudError> {
        Ok(Status::Ready)
    }

    /// The resource as it is now, read again once it is ready: for outputs AWS gives only
    /// then (a load balancer's address). `None` when it cannot be read.
    async fn refresh(&self, _current: &Observed) -> Result<Option<Observed>, CloudError> {
        Ok(None)
    }
}

/// The kinds the engine can work with, by kind name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn ResourceKind>>,
}

impl Registry {
    pub fn new(kinds: Vec<Arc<dyn ResourceKind>>) -> Self {
        Registry {
            kinds: kinds.into_iter().map(|k| (k.kind(), k)).collect(),
        }
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn ResourceKind>> {
        self.kinds.get(kind)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn ResourceKind>> {
        self.kinds.values()
    }

    /// Discover every kind, concurrently; a kind found through a parent kind once its
    /// parents are known. Results sorted by kind and name.
    pub async fn discover_all(&self) -> Result<Vec<Observed>, CloudError> {
        self.discover_kinds(&self.kinds.keys().copied().collect())
            .await
    }

    /// Discover only these kinds (and the parent kinds they are found through): a second
    /// look at what could still be there, without listing kinds known to be empty.
    pub async fn discover_kinds(
        &self,
        kinds: &std::collections::BTreeSet<&str>,
    ) -> Result<Vec<Observed>, CloudError> {
        let mut wanted = kinds.clone();
        let mut grown = true;
        while grown {
            let parents: Vec<&str> = wanted
                .iter()
                .filter_map(|k| self.kinds.get(k)?.info().parent)
                .filter(|p| !wanted.contains(p))
                .collect();
            grown = !parents.is_empty();
            wanted.extend(parents);
        }
        let mut out: Vec<Observed> = Vec::new();
        let mut done: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        let mut todo: Vec<&Arc<dyn ResourceKind>> = self
            .kinds
            .values()
            .filter(|k| wanted.contains(k.kind()))
            .collect();
        while !todo.is_empty() {
            let ready = |k: &&Arc<dyn ResourceKind>| {
                k.info()
                    .parent
                    .is_none_or(|p| done.contains(p) || !wanted.contains(p))
            };
            let (now, later): (Vec<_>, Vec<_>) = todo.into_iter().partition(ready);
            if now.is_empty() {
                let names: Vec<&str> = later.iter().map(|k| k.kind()).collect();
                return Err(CloudError::new(
                    "discover",
                    format!("the parents of {} form a cycle", names.join(", ")),
                ));
            }
            let mut set = tokio::task::JoinSet::new();
            for k in &now {
                let k = Arc::clone(k);
                let parents: Vec<Observed> = match k.info().parent {
                    Some(p) => out.iter().filter(|o| o.kind == p).cloned().collect(),
                    None => Vec::new(),
                };
                set.spawn(async move { k.discover(&parents).await });
            }
            let mut first_err = None;
            while let Some(res) = set.join_next().await {
                match res {
                    Ok(Ok(v)) => out.extend(v),
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(j) => {
                        first_err.get_or_insert(CloudError::new("discover", j.to_string()));
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
            done.extend(now.iter().map(|k| k.kind()));
            todo = later;
        }
        out.retain(|o| kinds.contains(o.kind));
        out.sort_by(|a, b| (a.kind, &a.name, &a.id).cmp(&(b.kind, &b.name, &b.id)));
        Ok(out)
    }

    /// Every kind's artifacts, oldest first.
    pub async fn artifacts(&self) -> Result<Vec<Artifact>, CloudError> {
        let found =
            futures::future::try_join_all(self.kinds.values().map(|k| k.artifacts())).await?;
        let mut out: Vec<Artifact> = found.into_iter().flatten().collect();
        out.sort_by(|a, b| (&a.of, &a.created, &a.id).cmp(&(&b.of, &b.created, &b.id)));
        Ok(out)
    }

    pub async fn delete_artifact(&self, a: &Artifact) -> Result<(), CloudError> {
        match self.kinds.get(a.kind) {
            Some(k) => k.delete_artifact(a).await,
            None => Err(CloudError::new("delete", format!("no kind {}", a.kind))),
        }
    }
}

/// The artifacts to prune: all but the newest `keep` of each resource they were taken
/// from (`artifacts` oldest first, as [`Registry::artifacts`] gives them).
pub fn prunable(artifacts: &[Artifact], keep: usize) -> Vec<Artifact> {
    let mut out = Vec::new();
    let mut by_source: BTreeMap<&str, Vec<&Artifact>> = BTreeMap::new();
    for a in artifacts {
        by_source.entry(a.of.as_str()).or_default().push(a);
    }
    for (_, list) in by_source {
        let drop = list.len().saturating_sub(keep);
        out.extend(list.into_iter().take(drop).cloned());
    }
    out
}

/// A `{"$ref": name}` reference value.
pub fn reference(name: &str) -> Value {
    serde_json::json!({ "$ref": name })
}

/// A `{"$ref": name, "attr": attr}` reference value to an output other than the id.
pub fn reference_attr(name: &str, attr: &str) -> Value {
    serde_json::json!({ "$ref": name, "attr": attr })
}

/// If `v` is a reference, its target name and attribute.
pub fn as_ref(v: &Value) -> Option<(&str, &str)> {
    let o = v.as_object()?;
    let name = o.get("$ref")?.as_str()?;
    let attr = o.get("attr").and_then(Value::as_str).unwrap_or(ID);
    Some((name, attr))
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    if let Some((name, _)) = as_ref(v) {
        out.push(name.to_string());
        return;
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// A reference to an output with a fixed text appended (`arn:aws:s3:::bucket` + `/*`).
/// (A reference may also carry a `prefix`: the text around it in a longer value.)
pub fn reference_suffixed(name: &str, attr: &str, suffix: &str) -> Value {
    serde_json::json!({ "$ref": name, "attr": attr, "suffix": suffix })
}

/// Replace references using `lookup(name, attr)`; `None` marks the value unknown until apply.
pub fn resolve(v: &Value, lookup: &dyn Fn(&str, &str) -> Option<String>) -> Option<Value> {
    if let Some((name, attr)) = as_ref(v) {
        let prefix = v.get("prefix").and_then(Value::as_str).unwrap_or("");
        let suffix = v.get("suffix").and_then(Value::as_str).unwrap_or("");
        return lookup(name, attr).map(|s| Value::String(format!("{prefix}{s}{suffix}")));
    }
    Some(match v {
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve(x, lookup))
                .collect::<Option<Vec<_>>>()?,
        ),
        Value::Object(o) => {
            let mut m = Props::new();
            for (k, x) in o {
                m.insert(k.clone(), resolve(x, lookup)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

/// Every string inside a value (used to find which observed resources reference which ids).
pub fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}
