//! IAM role: who may assume it (in place), AWS managed policy attachments and inline
//! policies (in place), tags.
//!
//! Roles live under the path `/provision/<stack>/` and are named `<stack>-<name>`, so one
//! `ListRoles` with that path prefix finds the stack's roles. Inline policy statements name
//! the stack's own resources (`objects_in: media`, `secret_of: database`), which keeps
//! them least-privilege without writing ARNs by hand.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::Role;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::tags::{check_home, identity, name_taken, sync_tags, ServiceTags, Tags};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["role_name", "path"],
    ..KindInfo::new(names::IAM_ROLE, "iam_roles", "iam")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// Who may assume the role: service principals (`ecs-tasks.amazonaws.com`), and
    /// tokens of the stack's OpenID Connect providers (`{oidc: github, subjects: [...]}`).
    trust: Vec<TrustSpec>,
    #[serde(default)]
    managed_policies: Vec<String>,
    /// Inline policies: name to statements.
    #[serde(default)]
    policies: BTreeMap<String, Vec<StatementSpec>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum TrustSpec {
    Service(String),
    Federated(FederatedSpec),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FederatedSpec {
    /// One of the stack's `oidc_providers`.
    oidc: String,
    /// The token subjects allowed, `*` as a wildcard: for GitHub Actions
    /// `repo:OWNER/REPO:ref:refs/heads/main`, `repo:OWNER/REPO:pull_request`,
    /// `repo:OWNER/REPO:environment:NAME`.
    subjects: Vec<String>,
    /// The audience the tokens must carry (default `sts.amazonaws.com`).
    #[serde(default)]
    audience: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
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

/// What is compared: policy documents are JSON (references inside resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    pub role_name: String,
    pub path: String,
    pub trust: Value,
    pub managed_policies: Vec<String>,
    pub policies: BTreeMap<String, Value>,
    pub tags: Tags,
}

/// The path that marks a role as the stack's.
pub fn path(stack: &str) -> String {
    format!("/provision/{stack}/")
}

pub struct Model;

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
        let role_name = cx.physical_name(name);
        if role_name.len() > 64 {
            cx.error(
                "",
                format!("the role name `{role_name}` is longer than IAM's 64 characters"),
            );
        }
        if spec.trust.is_empty() {
            cx.error(
                "trust",
                "at least one service must be allowed to assume the role",
            );
        }
        let mut services = Vec::new();
        let mut federated = Vec::new();
        for (i, t) in spec.trust.iter().enumerate() {
            let f = format!("trust[{i}]");
            match t {
                TrustSpec::Service(t) => {
                    if !t.ends_with(".amazonaws.com") || t.contains(' ') {
                        cx.error(
                            &f,
                            format!(
                                "`{t}` is not a service principal like ecs-tasks.amazonaws.com"
                            ),
                        );
                    }
                    services.push(t.clone());
                }
                TrustSpec::Federated(o) => federated.push(web_identity(cx, &f, o)),
            }
        }
        for (i, p) in spec.managed_policies.iter().enumerate() {
            if !p.starts_with("arn:aws:iam::") || !p.contains(":policy/") {
                cx.error(
                    &format!("managed_policies[{i}]"),
                    format!("`{p}` is not a policy ARN (arn:aws:iam::aws:policy/NAME)"),
                );
            }
        }
        let mut policies = BTreeMap::new();
        for (pname, statements) in &spec.policies {
            let field = format!("policies.{pname}");
            let name_ok = !pname.is_empty()
                && pname.len() <= 128
                && pname
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
            if !name_ok {
                cx.error(&field, format!("`{pname}` is not a valid policy name"));
            }
            let out: Vec<Value> = statements
                .iter()
                .enumerate()
                .map(|(i, st)| statement(cx, &format!("{field}[{i}]"), st))
                .collect();
            policies.insert(
                pname.clone(),
                json!({"Version": "2012-10-17", "Statement": out}),
            );
        }
        services.sort();
        let mut managed_policies = spec.managed_policies.clone();
        managed_policies.sort();
        let props = Props {
            role_name,
            path: path(cx.stack),
            trust: trust_policy(&services, federated),
            managed_policies,
            policies,
            tags: cx.global_tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

/// One inline policy statement, checked: actions of the form `service:Action` (never
/// every action), resources that are ARNs or the stack's own resources.
fn statement(cx: &mut Cx, f: &str, st: &StatementSpec) -> Value {
    if st.actions.is_empty() {
        cx.error(
            &format!("{f}.actions"),
            "a statement needs at least one action",
        );
    }
    for (j, a) in st.actions.iter().enumerate() {
        let ok = a == "*"
            || a.split_once(':').is_some_and(|(svc, act)| {
                !svc.is_empty()
                    && !act.is_empty()
                    && svc
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit())
                    && act
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
            });
        if !ok {
            cx.error(
                &format!("{f}.actions[{j}]"),
                format!("`{a}` is not an action like s3:GetObject"),
            );
        }
        if a == "*" || a.ends_with(":*") {
            cx.error_hint(
                &format!("{f}.actions[{j}]"),
                format!("`{a}` grants every action"),
                "list the actions the role needs (least privilege)",
            );
        }
    }
    let mut resources = Vec::new();
    if let Some(b) = &st.objects_in {
        resources.push(cx.reference_suffixed(
            &format!("{f}.objects_in"),
            b,
            "arn",
            "/*",
            &[names::BUCKET],
        ));
    }
    if let Some(b) = &st.bucket {
        resources.push(cx.reference_attr(&format!("{f}.bucket"), b, "arn", &[names::BUCKET]));
    }
    if let Some(d) = &st.secret_of {
        resources.push(cx.reference_attr(
            &format!("{f}.secret_of"),
            d,
            "secret_arn",
            &[names::DATABASE],
        ));
    }
    let only_on_every = !st.actions.is_empty()
        && st
            .actions
            .iter()
            .all(|a| ONLY_ON_EVERY_RESOURCE.contains(&a.as_str()));
    for (j, r) in st.resources.iter().enumerate() {
        if r == "*" && only_on_every {
            // What AWS authorizes on no particular resource.
        } else if r == "*" {
            cx.error_hint(
                &format!("{f}.resources[{j}]"),
                "`*` grants access to every resource",
                "name the resources (least privilege)",
            );
        } else if !is_arn(r) {
            cx.error_hint(
                &format!("{f}.resources[{j}]"),
                format!("`{r}` is not an ARN"),
                "ARNs read arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, e.g. arn:aws:s3:::bucket/*",
            );
        }
        resources.push(Value::String(r.clone()));
    }
    if resources.is_empty() {
        cx.error(
            f,
            "a statement needs its resources: objects_in, bucket, secret_of or resources",
        );
    }
    let mut actions = st.actions.clone();
    actions.sort();
    json!({"Effect": "Allow", "Action": actions, "Resource": resources})
}

/// Actions IAM only grants on `*` (they act on no resource): a statement of these alone
/// may name `resources: ['*']`.
const ONLY_ON_EVERY_RESOURCE: &[&str] = &["ecr:GetAuthorizationToken", "sts:GetCallerIdentity"];

/// `arn:partition:service:region:account:resource`, partition and service named (IAM
/// refuses `arn:*` as "Resource vendor must be fully qualified").
fn is_arn(r: &str) -> bool {
    let parts: Vec<&str> = r.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && !parts[2].is_empty()
        && parts[2]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit())
        && !parts[5].is_empty()
}

/// The statement letting tokens of one of the stack's OpenID Connect providers assume
/// the role: its audience, and only the subjects named (never every subject).
fn web_identity(cx: &mut Cx, f: &str, o: &FederatedSpec) -> Value {
    let provider = cx.reference_attr(
        &format!("{f}.oidc"),
        &o.oidc,
        "arn",
        &[names::OIDC_PROVIDER],
    );
    // Condition keys are named after the issuer's host, known from the file.
    let host = cx
        .entry_field("oidc_providers", &o.oidc, "url")
        .map(|u| super::oidc_provider::host(&u))
        .unwrap_or_default();
    if o.subjects.is_empty() {
        cx.error_hint(
            &format!("{f}.subjects"),
            "a federated trust needs the subjects it allows",
            "for GitHub Actions: repo:OWNER/REPO:ref:refs/heads/main",
        );
    }
    for (j, s) in o.subjects.iter().enumerate() {
        if s.trim_matches('*').is_empty() || s.starts_with("repo:*") {
            cx.error_hint(
                &format!("{f}.subjects[{j}]"),
                format!("`{s}` lets tokens of any repository assume the role"),
                "name the repository: repo:OWNER/REPO:ref:refs/heads/main",
            );
        }
    }
    let mut subjects = o.subjects.clone();
    subjects.sort();
    let audience = o
        .audience
        .clone()
        .unwrap_or_else(|| "sts.amazonaws.com".into());
    json!({
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": ["sts:AssumeRoleWithWebIdentity"],
        "Condition": {
            "StringEquals": {format!("{host}:aud"): [audience]},
            "StringLike": {format!("{host}:sub"): subjects}
        }
    })
}

fn trust_policy(services: &[String], federated: Vec<Value>) -> Value {
    let mut statements = Vec::new();
    if !services.is_empty() {
        statements.push(json!({"Effect": "Allow", "Principal": {"Service": services}, "Action": ["sts:AssumeRole"]}));
    }
    statements.extend(federated);
    json!({"Version": "2012-10-17", "Statement": statements})
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
                // Condition values: a single one may come back as a string.
                if let Some(Value::Object(ops)) = s.get_mut("Condition") {
                    for keys in ops.values_mut() {
                        if let Value::Object(keys) = keys {
                            keys.values_mut().for_each(listify);
                        }
                    }
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
    serde_json::from_str(&decoded)
        .or_else(|_| serde_json::from_str(text))
        .unwrap_or(Value::String(text.to_string()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
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
    vec![adapt(IamRole(cx.clone()))]
}

pub struct IamRole(pub Arc<Context>);

/// A role as IAM describes it across its calls.
#[derive(Debug, Clone)]
pub struct Remote {
    pub role: Role,
    pub managed_policies: Vec<String>,
    pub policies: BTreeMap<String, Value>,
    pub tags: Tags,
}

/// IAM's tag calls for roles (by name).
struct RoleTags<'a>(&'a aws_sdk_iam::Client);

#[async_trait]
impl ServiceTags for RoleTags<'_> {
    async fn tag(&self, role: &str, set: &Tags) -> Result<(), CloudError> {
        let tags = super::sdk_tags(set);
        self.0
            .tag_role()
            .role_name(role)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("iam:TagRole", e))?;
        Ok(())
    }

    async fn untag(&self, role: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_role()
            .role_name(role)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("iam:UntagRole", e))?;
        Ok(())
    }
}

impl IamRole {
    fn iam(&self) -> &aws_sdk_iam::Client {
        &self.0.aws.iam
    }

    /// A role's attachments, inline policies and tags (IAM gives them per role).
    async fn read(&self, role: Role) -> Result<Remote, CloudError> {
        let iam = self.iam();
        let role_name = role.role_name().to_string();
        let (attached, inline, tags) = tokio::try_join!(
            async {
                iam.list_attached_role_policies()
                    .role_name(&role_name)
                    .send()
                    .await
                    .map_err(|e| err("iam:ListAttachedRolePolicies", e))
            },
            async {
                iam.list_role_policies()
                    .role_name(&role_name)
                    .send()
                    .await
                    .map_err(|e| err("iam:ListRolePolicies", e))
            },
            async {
                iam.list_role_tags()
                    .role_name(&role_name)
                    .send()
                    .await
                    .map_err(|e| err("iam:ListRoleTags", e))
            },
        )?;
        let mut managed_policies: Vec<String> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        managed_policies.sort();
        let mut policies = BTreeMap::new();
        for pname in inline.policy_names() {
            let doc = iam
                .get_role_policy()
                .role_name(&role_name)
                .policy_name(pname)
                .send()
                .await
                .map_err(|e| err("iam:GetRolePolicy", e))?;
            policies.insert(
                pname.clone(),
                normalize_policy(&decode_policy(doc.policy_document())),
            );
        }
        let tags =
            crate::kinds::support::tags::visible(tags.tags().iter().map(|t| (t.key(), t.value())));
        Ok(Remote {
            role,
            managed_policies,
            policies,
            tags,
        })
    }

    /// Bring the role from `have` to `want`: its trust, managed and inline policies and
    /// tags are independent calls, sent concurrently (IAM's request bound keeps them few).
    async fn sync(&self, role: &str, have: &Props, want: &Props) -> Result<(), CloudError> {
        let iam = self.iam();
        let tagging = RoleTags(iam);
        // One call's outcome, with "already gone" counted as done for removals.
        let gone_ok = |r: Result<(), CloudError>| match r {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other,
        };
        let mut calls: Vec<futures::future::BoxFuture<'_, Result<(), CloudError>>> = Vec::new();
        if normalize_policy(&have.trust) != normalize_policy(&want.trust) {
            calls.push(Box::pin(async move {
                iam.update_assume_role_policy()
                    .role_name(role)
                    .policy_document(want.trust.to_string())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| err("iam:UpdateAssumeRolePolicy", e))
            }));
        }
        let (h, w) = (&have.managed_policies, &want.managed_policies);
        for arn in w.iter().filter(|a| !h.contains(a)) {
            calls.push(Box::pin(async move {
                iam.attach_role_policy()
                    .role_name(role)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| err("iam:AttachRolePolicy", e))
            }));
        }
        for arn in h.iter().filter(|a| !w.contains(a)) {
            calls.push(Box::pin(async move {
                gone_ok(
                    iam.detach_role_policy()
                        .role_name(role)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| err("iam:DetachRolePolicy", e)),
                )
            }));
        }
        let (h, w) = (&have.policies, &want.policies);
        for (pname, doc) in w {
            if h.get(pname).map(normalize_policy) != Some(normalize_policy(doc)) {
                calls.push(Box::pin(async move {
                    iam.put_role_policy()
                        .role_name(role)
                        .policy_name(pname)
                        .policy_document(doc.to_string())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| err("iam:PutRolePolicy", e))
                }));
            }
        }
        for pname in h.keys().filter(|k| !w.contains_key(*k)) {
            calls.push(Box::pin(async move {
                gone_ok(
                    iam.delete_role_policy()
                        .role_name(role)
                        .policy_name(pname)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| err("iam:DeleteRolePolicy", e)),
                )
            }));
        }
        calls.push(Box::pin(sync_tags(&tagging, role, &have.tags, &want.tags)));
        futures::future::try_join_all(calls).await.map(|_| ())
    }
}

#[async_trait]
impl Kind for IamRole {
    type Props = Props;
    type Remote = Remote;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "role_name") else {
            return Ok(None);
        };
        let tags = self
            .iam()
            .list_role_tags()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| err("iam:ListRoleTags", e));
        match tags {
            Err(e) if e.has_code("NoSuchEntity") => Ok(None),
            Err(e) => Err(e),
            Ok(t) => Ok(Some((
                name.clone(),
                t.tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            ))),
        }
    }

    fn normalize(p: &mut Props) {
        p.trust = normalize_policy(&p.trust);
        for v in p.policies.values_mut() {
            *v = normalize_policy(v);
        }
        p.managed_policies.sort();
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Remote>, CloudError> {
        let roles: Vec<Role> = self
            .iam()
            .list_roles()
            .path_prefix(path(self.0.stack()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("iam:ListRoles", e))?;
        let remotes =
            futures::future::try_join_all(roles.into_iter().map(|r| self.read(r))).await?;
        for r in &remotes {
            check_home(
                "iam:ListRoles",
                "role",
                r.role.role_name(),
                &r.tags,
                &self.0.scope,
            )?;
        }
        Ok(remotes)
    }

    fn observe(&self, r: &Remote) -> Option<Found<Props>> {
        let name = identity(&r.tags, self.0.stack())?;
        let role = &r.role;
        let trust = role
            .assume_role_policy_document()
            .map(decode_policy)
            .map(|v| normalize_policy(&v))
            .unwrap_or(Value::Null);
        let props = Props {
            role_name: role.role_name().to_string(),
            path: role.path().to_string(),
            trust,
            managed_policies: r.managed_policies.clone(),
            policies: r.policies.clone(),
            tags: r.tags.clone(),
        };
        Some(Found::new(name, role.role_name(), props).output("arn", role.arn()))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let tags = super::sdk_tags(&want.tags);
        let res = self
            .iam()
            .create_role()
            .role_name(&want.role_name)
            .path(&want.path)
            .assume_role_policy_document(want.trust.to_string())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("iam:CreateRole", e));
        // What the role has right after its create: its trust and tags.
        let mut have = Props {
            managed_policies: Vec::new(),
            policies: BTreeMap::new(),
            ..want.clone()
        };
        let arn = match res {
            Ok(out) => out.role.map(|r| r.arn).unwrap_or_default(),
            // Ours from an earlier run that stopped half-way (names are deterministic);
            // anyone else's is not taken.
            Err(e) if e.has_code("EntityAlreadyExists") => {
                let r = self
                    .iam()
                    .get_role()
                    .role_name(&want.role_name)
                    .send()
                    .await
                    .map_err(|e| err("iam:GetRole", e))?;
                let role = r.role.ok_or(e.clone())?;
                let current = self.read(role).await?;
                let Some(found) = self.observe(&current) else {
                    return Err(name_taken(
                        "iam:CreateRole",
                        "role",
                        &want.role_name,
                        &current.tags,
                    ));
                };
                have = found.props;
                current.role.arn
            }
            Err(e) => return Err(e),
        };
        self.sync(&want.role_name, &have, want).await?;
        Ok(Found::new(name, &want.role_name, want.clone()).output("arn", arn))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        self.sync(&current.id, &current.props, want).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        let none = Props {
            managed_policies: Vec::new(),
            policies: BTreeMap::new(),
            ..current.props.clone()
        };
        match self.sync(&current.id, &current.props, &none).await {
            Err(e) if is_not_found(&e) => return Ok(Deletion::Gone),
            other => other?,
        }
        match self
            .iam()
            .delete_role()
            .role_name(&current.id)
            .send()
            .await
            .map_err(|e| err("iam:DeleteRole", e))
        {
            Err(e) if is_not_found(&e) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out, ACCOUNT};

    #[test]
    fn iam_documents_decode_and_normalize() {
        let stored = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ecs-tasks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%7D";
        let decoded = normalize_policy(&decode_policy(stored));
        assert_eq!(
            decoded,
            normalize_policy(&trust_policy(
                &["ecs-tasks.amazonaws.com".to_string()],
                Vec::new()
            ))
        );
    }

    #[test]
    fn a_read_role_is_what_the_file_wants() {
        let file = "buckets:\n  media: {}\niam_roles:\n  task:\n    trust: [ecs-tasks.amazonaws.com]\n    managed_policies: [arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess]\n    policies:\n      media: [{actions: [s3:PutObject, s3:GetObject], objects_in: media}]\n";
        let role = Role::builder()
            .role_name("app-task")
            .path("/provision/app/")
            .arn(format!(
                "arn:aws:iam::{ACCOUNT}:role/provision/app/app-task"
            ))
            .role_id("AROA1")
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .assume_role_policy_document(
                trust_policy(&["ecs-tasks.amazonaws.com".to_string()], Vec::new()).to_string(),
            )
            .build()
            .unwrap();
        let remote = Remote {
            role,
            managed_policies: vec!["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess".into()],
            policies: BTreeMap::from([(
                "media".to_string(),
                json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": format!("{}/*", out("media", "arn"))}}),
            )]),
            tags: testing::global_identity_tags("task"),
        };
        assert_observes(IamRole(context()), &remote, file, "task");
    }
}
