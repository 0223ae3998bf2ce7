//! IAM role: who may assume it (replacement of nothing: trust is updated in place), AWS
//! managed policy attachments and inline policies (in place), tags.
//!
//! Roles live under the path `/provision/<stack>/` and are named `<stack>-<name>`, so one
//! `ListRoles` with that path prefix finds the stack's roles. Inline policy statements name
//! the stack's own resources (`objects_in: media`, `secret_of: database`), which keeps
//! them least-privilege without writing ARNs by hand.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ec2::{desired_tags, str_prop};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel};

pub const KIND: &str = "iam_role";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// Service principals that may assume the role (`ecs-tasks.amazonaws.com`).
    trust: Vec<String>,
    #[serde(default)]
    managed_policies: Vec<String>,
    /// Inline policies: name to statements.
    #[serde(default)]
    policies: BTreeMap<String, Vec<StatementSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementSpec {
    actions: Vec<String>,
    /// Objects of a bucket of the stack (`arn:aws:s3:::<bucket>/*`).
    #[serde(default)]
    objects_in: Option<String>,
    /// A bucket of the stack itself (`arn:aws:s3:::<bucket>`).
    #[serde(default)]
    bucket: Option<String>,
    /// The managed master-password secret of a database of the stack.
    #[serde(default)]
    secret_of: Option<String>,
    /// Literal resource ARNs.
    #[serde(default)]
    resources: Vec<String>,
}

/// The path that marks a role as the stack's.
pub fn path(stack: &str) -> String {
    format!("/provision/{stack}/")
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "iam_roles"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let role_name = cx.physical_name(name);
        if role_name.len() > 64 {
            cx.error("", format!("the role name `{role_name}` is longer than IAM's 64 characters"));
        }
        if spec.trust.is_empty() {
            cx.error("trust", "at least one service must be allowed to assume the role");
        }
        for (i, t) in spec.trust.iter().enumerate() {
            if !t.ends_with(".amazonaws.com") || t.contains(' ') {
                cx.error(&format!("trust[{i}]"), format!("`{t}` is not a service principal like ecs-tasks.amazonaws.com"));
            }
        }
        for (i, p) in spec.managed_policies.iter().enumerate() {
            if !p.starts_with("arn:aws:iam::") || !p.contains(":policy/") {
                cx.error(&format!("managed_policies[{i}]"), format!("`{p}` is not a policy ARN (arn:aws:iam::aws:policy/NAME)"));
            }
        }
        let mut policies = serde_json::Map::new();
        for (pname, statements) in &spec.policies {
            let field = format!("policies.{pname}");
            if pname.is_empty() || pname.len() > 128 || !pname.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)) {
                cx.error(&field, format!("`{pname}` is not a valid policy name"));
            }
            let mut out = Vec::new();
            for (i, st) in statements.iter().enumerate() {
                let f = format!("{field}[{i}]");
                if st.actions.is_empty() {
                    cx.error(&format!("{f}.actions"), "a statement needs at least one action");
                }
                for (j, a) in st.actions.iter().enumerate() {
                    let ok = a == "*" || a.split_once(':').is_some_and(|(svc, act)| !svc.is_empty() && !act.is_empty() && svc.chars().all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit()));
                    if !ok {
                        cx.error(&format!("{f}.actions[{j}]"), format!("`{a}` is not an action like s3:GetObject"));
                    }
                    if a == "*" || a.ends_with(":*") {
                        cx.error_hint(&format!("{f}.actions[{j}]"), format!("`{a}` grants every action"), "list the actions the role needs (least privilege)");
                    }
                }
                let mut resources = Vec::new();
                if let Some(b) = &st.objects_in {
                    resources.push(cx.reference_suffixed(&format!("{f}.objects_in"), b, "arn", "/*", &[super::bucket::KIND]));
                }
                if let Some(b) = &st.bucket {
                    resources.push(cx.reference_attr(&format!("{f}.bucket"), b, "arn", &[super::bucket::KIND]));
                }
                if let Some(d) = &st.secret_of {
                    resources.push(cx.reference_attr(&format!("{f}.secret_of"), d, "secret_arn", &["database"]));
                }
                for (j, r) in st.resources.iter().enumerate() {
                    if r == "*" {
                        cx.error_hint(&format!("{f}.resources[{j}]"), "`*` grants access to every resource", "name the resources (least privilege)");
                    } else if !r.starts_with("arn:") {
                        cx.error(&format!("{f}.resources[{j}]"), format!("`{r}` is not an ARN"));
                    }
                    resources.push(Value::String(r.clone()));
                }
                if resources.is_empty() {
                    cx.error(&f, "a statement needs its resources: objects_in, bucket, secret_of or resources");
                }
                let mut actions = st.actions.clone();
                actions.sort();
                out.push(json!({"Effect": "Allow", "Action": actions, "Resource": resources}));
            }
            policies.insert(pname.clone(), json!({"Version": "2012-10-17", "Statement": out}));
        }
        let mut services = spec.trust.clone();
        services.sort();
        let mut managed = spec.managed_policies.clone();
        managed.sort();
        let mut props = Props::new();
        props.insert("role_name".into(), role_name.into());
        props.insert("path".into(), path(cx.stack).into());
        props.insert("trust".into(), trust_policy(&services));
        props.insert("managed_policies".into(), managed.into());
        props.insert("policies".into(), Value::Object(policies));
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

fn trust_policy(services: &[String]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": services}, "Action": ["sts:AssumeRole"]}]
    })
}

/// Canonical policy document: statements as a list, actions/resources/services as sorted
/// lists, so that what IAM returns compares equal to what was written.
pub fn normalize_policy(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(st) = v.get_mut("Statement") {
        if st.is_object() {
            *st = Value::Array(vec![st.clone()]);
        }
        if let Some(list) = st.as_array_mut() {
            for s in list.iter_mut() {
                for key in ["Action", "Resource"] {
                    if let Some(x) = s.get_mut(key) {
                        listify(x);
                    }
                }
                if let Some(x) = s.get_mut("Principal").and_then(|p| p.get_mut("Service")) {
                    listify(x);
                }
                if let Some(o) = s.as_object_mut() {
                    o.remove("Sid");
                }
            }
        }
    }
    v
}

fn listify(x: &mut Value) {
    if let Value::String(s) = x {
        *x = Value::Array(vec![Value::String(s.clone())]);
    }
    if let Value::Array(a) = x {
        a.sort_by_key(|v| v.to_string());
    }
}

/// IAM returns policy documents URL-encoded.
pub fn decode_policy(text: &str) -> Value {
    let decoded = percent_decode(text);
    serde_json::from_str(&decoded).or_else(|_| serde_json::from_str(text)).unwrap_or(Value::String(text.to_string()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

impl Cloud {
    fn iam(&self) -> &aws_sdk_iam::Client {
        &self.0.aws.iam
    }

    async fn observe(&self, role: &aws_sdk_iam::types::Role) -> Result<Option<Observed>, CloudError> {
        let role_name = role.role_name();
        let Some(name) = role_name.strip_prefix(&format!("{}-", self.0.stack)) else {
            return Ok(None);
        };
        let iam = self.iam();
        let (attached, inline, tags) = tokio::try_join!(
            async { iam.list_attached_role_policies().role_name(role_name).send().await.map_err(|e| err("iam:ListAttachedRolePolicies", e)) },
            async { iam.list_role_policies().role_name(role_name).send().await.map_err(|e| err("iam:ListRolePolicies", e)) },
            async { iam.list_role_tags().role_name(role_name).send().await.map_err(|e| err("iam:ListRoleTags", e)) },
        )?;
        let mut managed: Vec<String> = attached.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect();
        managed.sort();
        let mut policies = serde_json::Map::new();
        for pname in inline.policy_names() {
            let doc = iam.get_role_policy().role_name(role_name).policy_name(pname).send().await.map_err(|e| err("iam:GetRolePolicy", e))?;
            policies.insert(pname.clone(), normalize_policy(&decode_policy(doc.policy_document())));
        }
        let tags: BTreeMap<String, String> = tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        if tags.get(crate::model::TAG_STACK) != Some(&self.0.stack) {
            return Ok(None);
        }
        let trust = role.assume_role_policy_document().map(decode_policy).map(|v| normalize_policy(&v)).unwrap_or(Value::Null);
        Ok(Some(
            Observed::new(KIND, name, role_name)
                .with_prop("role_name", role_name)
                .with_prop("path", role.path())
                .with_prop("trust", trust)
                .with_prop("managed_policies", managed)
                .with_prop("policies", Value::Object(policies))
                .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                .with_output("arn", role.arn()),
        ))
    }

    async fn sync(&self, role: &str, have: &Props, want: &Props, changed: &[String]) -> Result<(), CloudError> {
        let iam = self.iam();
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("trust") {
            let doc = want.get("trust").map(Value::to_string).unwrap_or_default();
            iam.update_assume_role_policy().role_name(role).policy_document(doc).send().await.map_err(|e| err("iam:UpdateAssumeRolePolicy", e))?;
        }
        if has("managed_policies") {
            let list = |p: &Props| -> Vec<String> { p.get("managed_policies").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default() };
            let (h, w) = (list(have), list(want));
            for arn in w.iter().filter(|a| !h.contains(a)) {
                iam.attach_role_policy().role_name(role).policy_arn(arn).send().await.map_err(|e| err("iam:AttachRolePolicy", e))?;
            }
            for arn in h.iter().filter(|a| !w.contains(a)) {
                match iam.detach_role_policy().role_name(role).policy_arn(arn).send().await.map_err(|e| err("iam:DetachRolePolicy", e)) {
                    Err(e) if is_not_found(&e) => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        if has("policies") {
            let map = |p: &Props| p.get("policies").and_then(Value::as_object).cloned().unwrap_or_default();
            let (h, w) = (map(have), map(want));
            for (pname, doc) in &w {
                if h.get(pname) != Some(doc) {
                    iam.put_role_policy().role_name(role).policy_name(pname).policy_document(doc.to_string()).send().await.map_err(|e| err("iam:PutRolePolicy", e))?;
                }
            }
            for pname in h.keys().filter(|k| !w.contains_key(*k)) {
                match iam.delete_role_policy().role_name(role).policy_name(pname).send().await.map_err(|e| err("iam:DeleteRolePolicy", e)) {
                    Err(e) if is_not_found(&e) => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        if has("tags") {
            let (h, w) = (desired_tags(have), desired_tags(want));
            let set: Vec<aws_sdk_iam::types::Tag> = w
                .iter()
                .filter(|(k, v)| h.get(*k) != Some(*v))
                .filter_map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().ok())
                .collect();
            if !set.is_empty() {
                iam.tag_role().role_name(role).set_tags(Some(set)).send().await.map_err(|e| err("iam:TagRole", e))?;
            }
            let unset: Vec<String> = h.keys().filter(|k| !w.contains_key(*k)).cloned().collect();
            if !unset.is_empty() {
                iam.untag_role().role_name(role).set_tag_keys(Some(unset)).send().await.map_err(|e| err("iam:UntagRole", e))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["role_name", "path"]
    }

    fn normalize(&self, props: &mut Props) {
        if let Some(t) = props.get("trust") {
            let n = normalize_policy(t);
            props.insert("trust".into(), n);
        }
        if let Some(Value::Object(p)) = props.get_mut("policies") {
            for v in p.values_mut() {
                *v = normalize_policy(v);
            }
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let roles: Vec<_> = self
            .iam()
            .list_roles()
            .path_prefix(path(&self.0.stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("iam:ListRoles", e))?;
        let found = futures::future::try_join_all(roles.iter().map(|r| self.observe(r))).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let role = str_prop(props, "role_name")?.to_string();
        let tags: Vec<aws_sdk_iam::types::Tag> = desired_tags(props)
            .iter()
            .filter_map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().ok())
            .collect();
        let arn = match self
            .iam()
            .create_role()
            .role_name(&role)
            .path(str_prop(props, "path")?)
            .assume_role_policy_document(props.get("trust").map(Value::to_string).unwrap_or_default())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("iam:CreateRole", e))
        {
            Ok(out) => out.role.map(|r| r.arn).unwrap_or_default(),
            // Ours from an earlier run that stopped half-way (names are deterministic).
            Err(e) if e.has_code("EntityAlreadyExists") => {
                let r = self.iam().get_role().role_name(&role).send().await.map_err(|e| err("iam:GetRole", e))?;
                let r = r.role.ok_or(e.clone())?;
                if r.path != path(&self.0.stack) {
                    return Err(CloudError { message: format!("{}; the existing role is not this stack's", e.message), ..e });
                }
                r.arn
            }
            Err(e) => return Err(e),
        };
        let all: Vec<String> = ["managed_policies", "policies", "tags"].iter().map(|s| s.to_string()).collect();
        let empty = Props::new();
        self.sync(&role, &empty, props, &all).await?;
        let mut o = Observed::new(KIND, name, role).with_output("arn", arn);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        self.sync(&current.id, &current.props, props, changed).await?;
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let mut none = Props::new();
        none.insert("managed_policies".into(), json!([]));
        none.insert("policies".into(), json!({}));
        let res = self.sync(&current.id, &current.props, &none, &["managed_policies".into(), "policies".into()]).await;
        match res {
            Err(e) if is_not_found(&e) => return Ok(()),
            other => other?,
        }
        match self.iam().delete_role().role_name(&current.id).send().await.map_err(|e| err("iam:DeleteRole", e)) {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_documents_decode_and_normalize() {
        let stored = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ecs-tasks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%7D";
        let decoded = normalize_policy(&decode_policy(stored));
        assert_eq!(decoded, normalize_policy(&trust_policy(&["ecs-tasks.amazonaws.com".to_string()])));
    }
}
