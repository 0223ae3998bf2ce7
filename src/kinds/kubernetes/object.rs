//! Kubernetes objects of the stack, on one of its EKS clusters: an entry of `kubernetes:`
//! names the cluster and plain manifests (files of the repository) or a Helm chart
//! (rendered client-side by `helm template`), with values from the stack substituted; each
//! object it holds is one resource, `<entry>.<kind>-<name>` (`frontend.deployment-web`).
//!
//! Applied by server-side apply with the field manager `provision` (create and update are
//! one call). Identity: the label `provision/stack` and the annotation `provision/name`;
//! discovery lists each managed type by that label, so an object removed from the file is
//! pruned and `down` removes them all, before the cluster. Drift is compared on the fields
//! the stack owns (`fields.rs`). Waits: a Deployment until its rollout is complete (the
//! pods' failure reasons when it stalls), a Service of type LoadBalancer and an Ingress
//! until the load balancer has an address (the `address` output: the frontend's URL); a
//! delete until the object is gone, which for those two means their load balancer is.
//!
//! Values: `${values.NAME}` in a manifest is the entry's value `NAME`, a text or another
//! resource's output (`{from: cdn, output: domain_name}`, resolved when that resource
//! exists); `${var.NAME}` a variable of the stack file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    fields, is_gone, kube_err, type_of, Clients, Type, ANNOTATION_NAME, LABEL_STACK, TYPES,
};
use crate::engine::{
    CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Shown, Status, WaitPolicy,
};
use crate::kinds::names;
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::{Cx, KindModel};

/// A rollout takes minutes (image pulls, readiness probes); a load balancer's address
/// comes within about three; its deletion (the Service's finalizer) within about two.
const WAIT: WaitPolicy = WaitPolicy::new(
    Duration::from_secs(900),
    Duration::from_millis(500),
    Duration::from_secs(10),
)
.gone_within(Duration::from_secs(120));

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "address"],
    shown: &[Shown {
        name: "url",
        template: "http://{address}",
        about: "through the load balancer Kubernetes made for it",
    }],
    replace: &["cluster", "api_version", "kind", "namespace", "object_name"],
    parent: Some(names::EKS_CLUSTER),
    wait: Some(WAIT),
    ..KindInfo::new(names::KUBERNETES_OBJECT, "kubernetes", "eks")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// One of the stack's `eks_clusters`.
    cluster: String,
    /// Manifest files (YAML, several documents each), relative to the stack file.
    #[serde(default)]
    manifests: Vec<String>,
    /// A Helm chart directory, relative to the stack file, rendered by `helm template`.
    #[serde(default)]
    chart: Option<String>,
    /// The namespace of objects that name none (default `default`).
    #[serde(default)]
    namespace: Option<String>,
    /// Values for `${values.NAME}` in the manifests (and the chart's values).
    #[serde(default)]
    values: BTreeMap<String, ValueSpec>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum ValueSpec {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
    From(FromSpec),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FromSpec {
    /// A resource of the stack.
    from: String,
    /// Its output (default `id`).
    #[serde(default = "id_output")]
    output: String,
}

fn id_output() -> String {
    "id".into()
}

/// What is compared. `manifest` is the object as the stack sets it: labels, annotations,
/// spec, data (not its name, namespace or status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub cluster: R,
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub object_name: String,
    pub manifest: Value,
}

pub struct Model;

/// A value of the entry as the manifests take it: text, or a reference.
enum Given {
    Text(String),
    Raw(Value),
    Reference(String, String),
}

impl KindModel for Model {
    fn schema(&self, g: &mut schemars::SchemaGenerator) -> Option<schemars::Schema> {
        Some(g.subschema_for::<Spec>())
    }

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml_ng::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let cluster = cx.reference("cluster", &spec.cluster, &[names::EKS_CLUSTER]);
        let namespace = spec.namespace.clone().unwrap_or_else(|| "default".into());
        let mut values = BTreeMap::new();
        for (k, v) in &spec.values {
            let given = match v {
                ValueSpec::Text(t) => Given::Text(t.clone()),
                ValueSpec::Number(n) => Given::Raw(Value::Number(n.clone())),
                ValueSpec::Bool(b) => Given::Raw(Value::Bool(*b)),
                ValueSpec::From(f) => {
                    let field = format!("values.{k}.from");
                    // Checked like every reference; kept as (target, output) to embed.
                    let _ = cx.reference_attr(&field, &f.from, &f.output, &[]);
                    Given::Reference(f.from.clone(), f.output.clone())
                }
            };
            values.insert(k.clone(), given);
        }
        let base = Path::new(cx.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let documents = match (&spec.chart, spec.manifests.is_empty()) {
            (Some(_), false) => {
                cx.error("chart", "give `manifests` or a `chart`, not both");
                return vec![];
            }
            (None, true) => {
                cx.error("manifests", "give the manifests (files) or a `chart`");
                return vec![];
            }
            (Some(chart), true) => match render_chart(&base.join(chart), name, &namespace, &values)
            {
                Ok(docs) => docs.into_iter().map(|d| ("chart".to_string(), d)).collect(),
                Err(m) => {
                    cx.error("chart", m);
                    return vec![];
                }
            },
            (None, false) => {
                let mut docs = Vec::new();
                for (i, f) in spec.manifests.iter().enumerate() {
                    match read_documents(&base.join(f)) {
                        Ok(d) => docs.extend(d.into_iter().map(|d| (format!("manifests[{i}]"), d))),
                        Err(m) => cx.error(&format!("manifests[{i}]"), format!("{f}: {m}")),
                    }
                }
                docs
            }
        };
        let vars: BTreeMap<String, String> = cx.variables();
        let mut out = Vec::new();
        let mut seen = BTreeMap::new();
        for (field, doc) in documents {
            let Some(obj) = object_of(cx, &field, &doc, &namespace) else {
                continue;
            };
            let (ty, ns, object_name, mut manifest) = obj;
            let part = format!("{}-{}", ty.kind.to_lowercase(), object_name);
            let full = format!("{name}.{part}");
            if let Some(first) =
                seen.insert((ty.kind, ns.clone(), object_name.clone()), field.clone())
            {
                cx.error(
                    &field,
                    format!(
                        "{} `{object_name}` is given twice (also in {first})",
                        ty.kind
                    ),
                );
                continue;
            }
            let mut unknown = Vec::new();
            substitute(&mut manifest, &values, &vars, &mut unknown);
            for u in unknown {
                cx.error_hint(
                    &field,
                    format!("`${{{u}}}` has no value"),
                    "give it under the entry's `values:` (or declare the variable under `vars:`)",
                );
            }
            mark(&mut manifest, cx.stack, &full);
            let props = Props {
                cluster: cluster.clone(),
                api_version: ty.api_version.to_string(),
                kind: ty.kind.to_string(),
                namespace: ns,
                object_name,
                manifest,
            };
            out.push(desired(&INFO, &full, &props));
        }
        out
    }
}

/// The documents of a manifest file (empty ones skipped).
fn read_documents(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    documents_of(&text)
}

fn documents_of(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v =
            serde_yaml_ng::Value::deserialize(doc).map_err(|e| format!("not valid YAML: {e}"))?;
        if v.is_null() {
            continue;
        }
        out.push(serde_json::to_value(v).map_err(|e| format!("not a Kubernetes object: {e}"))?);
    }
    Ok(out)
}

/// `helm template` of a chart, values given (references as their `${values.NAME}`
/// placeholders, substituted after rendering like a manifest's).
fn render_chart(
    chart: &Path,
    release: &str,
    namespace: &str,
    values: &BTreeMap<String, Given>,
) -> Result<Vec<Value>, String> {
    let given: serde_json::Map<String, Value> = values
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Given::Text(t) => Value::String(t.clone()),
                Given::Raw(r) => r.clone(),
                Given::Reference(..) => Value::String(format!("${{values.{k}}}")),
            };
            (k.clone(), v)
        })
        .collect();
    let file: PathBuf = std::env::temp_dir().join(format!(
        "provision-values-{}-{release}.json",
        std::process::id()
    ));
    std::fs::write(&file, Value::Object(given).to_string())
        .map_err(|e| format!("cannot write the chart's values: {e}"))?;
    let out = std::process::Command::new("helm")
        .arg("template")
        .arg(release)
        .arg(chart)
        .args(["--namespace", namespace, "--values"])
        .arg(&file)
        .output();
    let _ = std::fs::remove_file(&file);
    let out = out.map_err(|e| {
        format!("`helm template` could not run ({e}): a chart needs Helm installed (https://helm.sh/docs/intro/install/)")
    })?;
    if !out.status.success() {
        return Err(format!(
            "`helm template` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    documents_of(&String::from_utf8_lossy(&out.stdout))
}

/// The type, namespace, name and manifest of one document, checked.
fn object_of(
    cx: &mut Cx,
    field: &str,
    doc: &Value,
    default_ns: &str,
) -> Option<(Type, Option<String>, String, Value)> {
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(ty) = type_of(api_version, kind) else {
        let known: Vec<String> = TYPES
            .iter()
            .map(|t| format!("{} {}", t.api_version, t.kind))
            .collect();
        let hint = if kind == "Secret" {
            "secrets do not belong in files: create them in the cluster, or reference the stack's secrets".to_string()
        } else {
            format!("provision manages {}", known.join(", "))
        };
        cx.error_hint(
            field,
            format!("`{api_version} {kind}` is not a type provision manages"),
            hint,
        );
        return None;
    };
    let meta = doc.get("metadata");
    let Some(name) = meta.and_then(|m| m.get("name")).and_then(Value::as_str) else {
        cx.error(field, format!("a {kind} without metadata.name"));
        return None;
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid {
        cx.error(
            field,
            format!(
                "`{name}` is not a Kubernetes object name (lowercase letters, digits, `-`, `.`)"
            ),
        );
        return None;
    }
    let ns = ty.namespaced.then(|| {
        meta.and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or(default_ns)
            .to_string()
    });
    let mut manifest = doc.clone();
    if let Value::Object(m) = &mut manifest {
        for k in ["apiVersion", "kind", "status"] {
            m.remove(k);
        }
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            for k in [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "managedFields",
                "creationTimestamp",
                "generation",
            ] {
                meta.remove(k);
            }
        }
    }
    Some((ty, ns, name.to_string(), manifest))
}

/// Substitute `${values.NAME}` and `${var.NAME}` in every text of `v`. A text holding a
/// reference becomes the reference, with the text around it kept as prefix and suffix.
fn substitute(
    v: &mut Value,
    values: &BTreeMap<String, Given>,
    vars: &BTreeMap<String, String>,
    unknown: &mut Vec<String>,
) {
    match v {
        Value::Object(m) => m
            .values_mut()
            .for_each(|x| substitute(x, values, vars, unknown)),
        Value::Array(a) => a
            .iter_mut()
            .for_each(|x| substitute(x, values, vars, unknown)),
        Value::String(text) => {
            let mut out = String::new();
            let mut rest = text.as_str();
            let mut reference: Option<(String, String, String)> = None;
            while let Some(start) = rest.find("${") {
                let Some(len) = rest[start..].find('}') else {
                    break;
                };
                let key = &rest[start + 2..start + len];
                out.push_str(&rest[..start]);
                let found = if let Some(n) = key.strip_prefix("values.") {
                    match values.get(n) {
                        Some(Given::Text(t)) => Some(t.clone()),
                        Some(Given::Raw(r)) => Some(match r {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        }),
                        Some(Given::Reference(target, attr)) if reference.is_none() => {
                            reference = Some((target.clone(), attr.clone(), out.clone()));
                            out.clear();
                            Some(String::new())
                        }
                        Some(Given::Reference(..)) => {
                            unknown.push(format!("{key} (a second resource's output in one text)"));
                            None
                        }
                        None => None,
                    }
                } else if let Some(n) = key.strip_prefix("var.") {
                    vars.get(n).cloned()
                } else {
                    // Not ours (a shell or Helm expression): kept as written.
                    Some(format!("${{{key}}}"))
                };
                match found {
                    Some(s) => out.push_str(&s),
                    None => unknown.push(key.to_string()),
                }
                rest = &rest[start + len + 1..];
            }
            out.push_str(rest);
            // A whole text that is one number or boolean value stays one.
            if let Some((target, attr, prefix)) = reference {
                let mut r = crate::engine::reference_attr(&target, &attr);
                if let Value::Object(m) = &mut r {
                    if !prefix.is_empty() {
                        m.insert("prefix".into(), Value::String(prefix));
                    }
                    if !out.is_empty() {
                        m.insert("suffix".into(), Value::String(out));
                    }
                }
                *v = r;
            } else if *text != out {
                *v = match values
                    .iter()
                    .find(|(k, _)| *text == format!("${{values.{k}}}"))
                {
                    Some((_, Given::Raw(r))) => r.clone(),
                    _ => Value::String(out),
                };
            }
        }
        _ => {}
    }
}

/// The stack's label and the object's name in the stack, on the manifest.
fn mark(manifest: &mut Value, stack: &str, name: &str) {
    if !manifest.is_object() {
        *manifest = json!({});
    }
    let Value::Object(m) = manifest else {
        return;
    };
    let meta = m.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    if let Value::Object(meta) = meta {
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Value::Object(l) = labels {
            l.insert(LABEL_STACK.into(), Value::String(stack.to_string()));
            l.insert(
                "app.kubernetes.io/managed-by".into(),
                Value::String("provision".into()),
            );
        }
        let notes = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Value::Object(a) = notes {
            a.insert(ANNOTATION_NAME.into(), Value::String(name.to_string()));
        }
    }
}

/// A desired object as it will be applied (`provision manifests`): another resource's
/// output, known only once it exists, is shown as `<name.output>`.
pub fn rendered(d: &Desired) -> Option<Value> {
    fn show(v: &Value) -> Value {
        if let Some((name, attr)) = crate::engine::as_ref(v) {
            let part = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            return Value::String(format!(
                "{}<{name}.{attr}>{}",
                part("prefix"),
                part("suffix")
            ));
        }
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| (k.clone(), show(x))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(show).collect()),
            other => other.clone(),
        }
    }
    if d.kind != INFO.kind {
        return None;
    }
    let p: Props<Value> = serde_json::from_value(Value::Object(d.props.clone())).ok()?;
    let mut object = serde_json::Map::new();
    object.insert("apiVersion".into(), Value::String(p.api_version));
    object.insert("kind".into(), Value::String(p.kind));
    if let Value::Object(m) = show(&p.manifest) {
        object.extend(m);
    }
    let meta = object.entry("metadata").or_insert_with(|| json!({}));
    if let Value::Object(meta) = meta {
        meta.insert("name".into(), Value::String(p.object_name));
        if let Some(ns) = p.namespace {
            meta.insert("namespace".into(), Value::String(ns));
        }
    }
    Some(Value::Object(object))
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(KubernetesObject(cx.clone(), Clients::default()))]
}

pub struct KubernetesObject(pub Arc<Context>, pub Clients);

/// A live object: its cluster and type, the object as the API gives it, and for a stalled
/// Deployment, why its pods are not ready.
#[derive(Debug, Clone)]
pub struct Remote {
    pub cluster: String,
    pub ty: Type,
    pub live: Value,
    pub problems: Vec<String>,
}

fn meta_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("metadata")?.get(key)?.as_str()
}

/// The load balancer's address of a Service or Ingress, once it has one.
fn address(live: &Value) -> Option<String> {
    let first = live
        .get("status")?
        .get("loadBalancer")?
        .get("ingress")?
        .as_array()?
        .first()?;
    first
        .get("hostname")
        .or_else(|| first.get("ip"))?
        .as_str()
        .map(str::to_string)
}

fn wants_address(ty: &Type, live: &Value) -> bool {
    ty.kind == "Ingress"
        || (ty.kind == "Service"
            && live.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer"))
}

impl KubernetesObject {
    async fn get(
        &self,
        cluster: &str,
        ty: Type,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, CloudError> {
        let client = self.1.get(&self.0, cluster).await?;
        let got = ty
            .api(&client, ns)
            .get_opt(name)
            .await
            .map_err(|e| kube_err(&format!("kubernetes:get {}", ty.kind), e))?;
        Ok(got.and_then(|o| serde_json::to_value(o).ok()))
    }

    /// Why a Deployment's pods are not ready: each waiting or failing container's reason
    /// and message, once.
    async fn pod_problems(&self, cluster: &str, live: &Value) -> Result<Vec<String>, CloudError> {
        let Some(labels) = live
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
        else {
            return Ok(Vec::new());
        };
        let selector: Vec<String> = labels
            .iter()
            .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
            .collect();
        let client = self.1.get(&self.0, cluster).await?;
        let ns = meta_str(live, "namespace").unwrap_or("default");
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, ns);
        let list = pods
            .list(&ListParams::default().labels(&selector.join(",")))
            .await
            .map_err(|e| kube_err("kubernetes:list pods", e))?;
        let mut out = Vec::new();
        for p in list.items {
            for c in p
                .status
                .and_then(|s| s.container_statuses)
                .unwrap_or_default()
            {
                let state = c.state.unwrap_or_default();
                let why = state
                    .waiting
                    .map(|w| (w.reason, w.message))
                    .or_else(|| state.terminated.map(|t| (t.reason, t.message)));
                if let Some((reason, message)) = why {
                    let text = format!(
                        "{}: {}{}",
                        c.name,
                        reason.unwrap_or_default(),
                        message.map(|m| format!(" ({m})")).unwrap_or_default()
                    );
                    if !out.contains(&text) {
                        out.push(text);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn apply(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let ty = type_of(&want.api_version, &want.kind).ok_or_else(|| {
            CloudError::new(
                "kubernetes:apply",
                format!("{} {} is not managed", want.api_version, want.kind),
            )
        })?;
        let mut object = want.manifest.clone();
        if let Value::Object(m) = &mut object {
            m.insert("apiVersion".into(), Value::String(want.api_version.clone()));
            m.insert("kind".into(), Value::String(want.kind.clone()));
            let meta = m.entry("metadata").or_insert_with(|| json!({}));
            if let Value::Object(meta) = meta {
                meta.insert("name".into(), Value::String(want.object_name.clone()));
                if let Some(ns) = &want.namespace {
                    meta.insert("namespace".into(), Value::String(ns.clone()));
                }
            }
        }
        let client = self.1.get(&self.0, &want.cluster).await?;
        let applied = ty
            .api(&client, want.namespace.as_deref())
            .patch(
                &want.object_name,
                &PatchParams::apply(fields::MANAGER).force(),
                &Patch::Apply(&object),
            )
            .await
            .map_err(|e| kube_err(&format!("kubernetes:apply {}", ty.kind), e))?;
        let live = serde_json::to_value(applied).unwrap_or_default();
        let mut found = Found::new(
            name,
            object_id(
                &want.cluster,
                &ty,
                want.namespace.as_deref(),
                &want.object_name,
            ),
            want.clone(),
        );
        if let Some(a) = address(&live) {
            found = found.output("address", a);
        }
        Ok(found)
    }
}

/// The id of an object: `<cluster>/<namespace>/<kind>/<name>`.
fn object_id(cluster: &str, ty: &Type, ns: Option<&str>, name: &str) -> String {
    format!("{cluster}/{}/{}/{name}", ns.unwrap_or("-"), ty.kind)
}

#[async_trait]
impl Kind for KubernetesObject {
    type Props = Props;
    type Remote = Remote;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn list(&self, clusters: &[Observed]) -> Result<Vec<Remote>, CloudError> {
        let selector = format!("{LABEL_STACK}={}", self.0.stack());
        let mut out = Vec::new();
        for cluster in clusters.iter().filter(|c| !c.deleting) {
            let client = self.1.get(&self.0, &cluster.id).await?;
            let lists = TYPES.iter().map(|ty| {
                let client = client.clone();
                let selector = selector.clone();
                async move {
                    let list = ty
                        .api(&client, None)
                        .list(&ListParams::default().labels(&selector))
                        .await
                        .map_err(|e| kube_err(&format!("kubernetes:list {}", ty.plural), e))?;
                    Ok::<_, CloudError>(
                        list.items
                            .into_iter()
                            .filter_map(|o| serde_json::to_value(o).ok())
                            .map(|live| Remote {
                                cluster: cluster.id.clone(),
                                ty: *ty,
                                live,
                                problems: Vec::new(),
                            })
                            .collect::<Vec<_>>(),
                    )
                }
            });
            for found in futures::future::try_join_all(lists).await? {
                out.extend(found);
            }
        }
        Ok(out)
    }

    fn observe(&self, r: &Remote) -> Option<Found<Props>> {
        let labels = r.live.get("metadata")?.get("labels")?;
        if labels.get(LABEL_STACK)?.as_str()? != self.0.stack() {
            return None;
        }
        let name = r
            .live
            .get("metadata")?
            .get("annotations")?
            .get(ANNOTATION_NAME)?
            .as_str()?
            .to_string();
        let object_name = meta_str(&r.live, "name")?.to_string();
        let namespace = r.ty.namespaced.then(|| {
            meta_str(&r.live, "namespace")
                .unwrap_or("default")
                .to_string()
        });
        let mut manifest = match fields::owned_set(&r.live, fields::MANAGER) {
            Some(set) => fields::project(&r.live, set),
            None => json!({}),
        };
        if let Value::Object(m) = &mut manifest {
            for k in ["apiVersion", "kind", "status"] {
                m.remove(k);
            }
            if let Some(Value::Object(meta)) = m.get_mut("metadata") {
                meta.remove("name");
                meta.remove("namespace");
            }
        }
        let mut found = Found::new(
            name,
            object_id(&r.cluster, &r.ty, namespace.as_deref(), &object_name),
            Props {
                cluster: r.cluster.clone(),
                api_version: r.ty.api_version.to_string(),
                kind: r.ty.kind.to_string(),
                namespace,
                object_name,
                manifest,
            },
        );
        found.deleting = meta_str(&r.live, "deletionTimestamp").is_some();
        if let Some(a) = address(&r.live) {
            found = found.output("address", a);
        }
        Some(found)
    }

    async fn find(&self, current: &Found<Props>) -> Result<Option<Remote>, CloudError> {
        let p = &current.props;
        let Some(ty) = type_of(&p.api_version, &p.kind) else {
            return Ok(None);
        };
        let Some(live) = self
            .get(&p.cluster, ty, p.namespace.as_deref(), &p.object_name)
            .await?
        else {
            return Ok(None);
        };
        let stalled = ty.kind == "Deployment"
            && matches!(
                deployment_state(&live),
                Status::Failed(_) | Status::Pending(_)
            );
        let problems = if stalled {
            self.pod_problems(&p.cluster, &live).await?
        } else {
            Vec::new()
        };
        Ok(Some(Remote {
            cluster: p.cluster.clone(),
            ty,
            live,
            problems,
        }))
    }

    fn state(&self, r: &Remote) -> Status {
        if meta_str(&r.live, "deletionTimestamp").is_some() {
            return Status::Pending("deleting (its load balancer goes first)".into());
        }
        if r.ty.kind == "Deployment" {
            return match deployment_state(&r.live) {
                Status::Failed(why) if !r.problems.is_empty() => {
                    Status::Failed(format!("{why}; {}", r.problems.join("; ")))
                }
                Status::Pending(what) if !r.problems.is_empty() => {
                    Status::Pending(format!("{what}; {}", r.problems.join("; ")))
                }
                other => other,
            };
        }
        if wants_address(&r.ty, &r.live) && address(&r.live).is_none() {
            return Status::Pending("waiting for its load balancer's address".into());
        }
        Status::Ready
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        self.apply(name, want).await
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        self.apply(&current.name, want).await
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        let p = &current.props;
        let Some(ty) = type_of(&p.api_version, &p.kind) else {
            return Ok(Deletion::Gone);
        };
        let client = self.1.get(&self.0, &p.cluster).await?;
        match ty
            .api(&client, p.namespace.as_deref())
            .delete(&p.object_name, &DeleteParams::foreground())
            .await
            .map_err(|e| kube_err(&format!("kubernetes:delete {}", ty.kind), e))
        {
            Err(e) if is_gone(&e) => Ok(Deletion::Gone),
            Err(e) => Err(e),
            Ok(_) => Ok(Deletion::Started),
        }
    }
}

/// A Deployment's rollout: complete when the newest generation is observed and every
/// replica is updated and available; failed when Kubernetes gave up progressing.
fn deployment_state(live: &Value) -> Status {
    let num = |p: &str| live.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let generation = live
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let want = live
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let conditions = live
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(c) = conditions.iter().find(|c| {
        c.get("type").and_then(Value::as_str) == Some("Progressing")
            && c.get("status").and_then(Value::as_str) == Some("False")
    }) {
        return Status::Failed(format!(
            "the rollout stalled: {}",
            c.get("message")
                .and_then(Value::as_str)
                .unwrap_or("ProgressDeadlineExceeded")
        ));
    }
    let (observed, updated, available) = (
        num("/status/observedGeneration"),
        num("/status/updatedReplicas"),
        num("/status/availableReplicas"),
    );
    if observed >= generation && updated >= want && available >= want {
        Status::Ready
    } else {
        Status::Pending(format!("rolling out: {available} of {want} available"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    const FILE: &str = "vpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\niam_roles:\n  eks: {trust: [eks.amazonaws.com]}\neks_clusters:\n  web: {version: '1.34', role: eks, subnets: [a, b]}\n";

    #[test]
    fn values_and_references_are_substituted_into_texts() {
        let values = BTreeMap::from([
            ("tag".to_string(), Given::Text("v2".into())),
            ("replicas".to_string(), Given::Raw(json!(3))),
            (
                "api".to_string(),
                Given::Reference("lb".into(), "dns_name".into()),
            ),
        ]);
        let vars = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let mut doc = json!({"image": "web:${values.tag}", "replicas": "${values.replicas}", "url": "http://${values.api}/api", "env": "${var.env}", "shell": "${HOME}"});
        let mut unknown = Vec::new();
        substitute(&mut doc, &values, &vars, &mut unknown);
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(
            doc,
            json!({"image": "web:v2", "replicas": 3, "url": {"$ref": "lb", "attr": "dns_name", "prefix": "http://", "suffix": "/api"}, "env": "prod", "shell": "${HOME}"})
        );
        let mut bad = json!("${values.nope}");
        substitute(&mut bad, &values, &vars, &mut unknown);
        assert_eq!(unknown, vec!["values.nope"]);
    }

    #[test]
    fn a_deployment_is_ready_when_its_rollout_is_complete() {
        let d = |status: Value| json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status});
        assert_eq!(
            deployment_state(&d(
                json!({"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2})
            )),
            Status::Ready
        );
        assert!(matches!(
            deployment_state(&d(
                json!({"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 2})
            )),
            Status::Pending(_)
        ));
        assert!(matches!(
            deployment_state(&d(json!({"conditions": [{"type": "Progressing", "status": "False", "message": "timed out"}]}))),
            Status::Failed(m) if m.contains("timed out")
        ));
    }

    #[test]
    fn a_live_object_is_what_the_file_wants_on_the_fields_it_owns() {
        let dir = std::env::temp_dir().join(format!("provision-k8s-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let manifest = dir.join("web.yaml");
        std::fs::write(&manifest, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n  ports: [{name: http, port: 80}]\n  selector: {app: '${values.app}'}\n---\n").expect("write");
        let file = format!("{FILE}kubernetes:\n  front:\n    cluster: web\n    manifests: ['{}']\n    values: {{app: web}}\n", manifest.display());
        let live = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "uid": "u",
                "labels": {LABEL_STACK: testing::STACK, "app.kubernetes.io/managed-by": "provision"},
                "annotations": {ANNOTATION_NAME: "front.service-web", "other": "x"},
                "managedFields": [{"manager": "provision", "operation": "Apply", "fieldsV1": {
                    "f:spec": {"f:type": {}, "f:selector": {}, "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}}}},
                    "f:metadata": {"f:labels": {"f:provision/stack": {}, "f:app.kubernetes.io/managed-by": {}}, "f:annotations": {"f:provision/name": {}}}
                }}]},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "clusterIP": "10.100.0.1",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 31000}]},
            "status": {"loadBalancer": {"ingress": [{"hostname": "web-1.elb.eu-west-3.amazonaws.com"}]}}
        });
        let remote = Remote {
            cluster: "web-id".into(),
            ty: type_of("v1", "Service").expect("type"),
            live,
            problems: Vec::new(),
        };
        let kind = KubernetesObject(context(), Clients::default());
        assert_eq!(kind.state(&remote), Status::Ready);
        let found = kind.observe(&remote).expect("ours");
        assert_eq!(
            found.outputs["address"],
            "web-1.elb.eu-west-3.amazonaws.com"
        );
        assert_observes(kind, &remote, &file, "front.service-web");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
