//! EKS cluster: name and role (replacement); Kubernetes version, subnets, security groups,
//! endpoint access and control-plane logging (in place, one update at a time, as EKS
//! requires), tags. Takes 10-15 minutes to become ACTIVE on AWS: the wait shows its
//! progress.
//!
//! Created with the access mode `API_AND_CONFIG_MAP` (managed node groups get access
//! entries for their role, whatever its path) and standard support only (no paid extended
//! support unless the file asks). A version EKS moved forward on its own, at the end of
//! support, is not a change to undo.
//!
//! With control-plane logging on, the log group EKS writes to (`/aws/eks/<cluster>/cluster`)
//! must be one of the stack's log groups, named in `log_group`: made before the cluster with
//! a retention, deleted after it. Left to EKS, it would never expire and outlive the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::types::{
    AuthenticationMode, Cluster, ClusterStatus, ClusterVersionStatus, CreateAccessConfigRequest,
    LogSetup, LogType, Logging, SupportType, UpgradePolicyRequest, VersionStatus, VpcConfigRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{access, tags_of, EksTags, NOT_FOUND};
use crate::aws::err;
use crate::engine::{
    as_ref, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Shown, Status,
    Unavailable, WaitPolicy,
};
use crate::kinds::names;
use crate::kinds::support::props::check_two_zones;
use crate::kinds::support::retry::{client_token, retry_iam_propagation};
use crate::kinds::support::tags::{identity, name_taken, owned, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, props_of, wanted_name, Context, Found, Kind};
use crate::model::{Cx, KindModel};

const WAIT: WaitPolicy = WaitPolicy::new(
    Duration::from_secs(40 * 60),
    Duration::from_secs(2),
    Duration::from_secs(30),
)
.expecting(Duration::from_secs(600))
.gone_within(Duration::from_secs(300));

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn", "endpoint"],
    shown: &[Shown {
        name: "endpoint",
        template: "{endpoint}",
        about: "the Kubernetes API (`provision kubeconfig` writes a context for it)",
    }],
    replace: &["cluster_name", "role"],
    write_only: &["extended_support"],
    stateful: true,
    wait: Some(WAIT),
    ..KindInfo::new(names::EKS_CLUSTER, "eks_clusters", "eks")
};

const LOG_TYPES: &[&str] = &[
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    version: String,
    role: String,
    subnets: Vec<String>,
    #[serde(default)]
    security_groups: Vec<String>,
    #[serde(default = "yes")]
    endpoint_public_access: bool,
    #[serde(default = "yes")]
    endpoint_private_access: bool,
    #[serde(default)]
    logging: Vec<String>,
    /// The stack's log group for the control-plane logs (needed with `logging`).
    #[serde(default)]
    log_group: Option<String>,
    /// Stay on a version past its standard support, in paid extended support.
    #[serde(default)]
    extended_support: bool,
    /// Who else operates the cluster (cluster admin through an access entry): roles of
    /// the stack by name, or IAM role and user ARNs (a teammate, CI's role).
    #[serde(default)]
    admins: Vec<String>,
}

fn yes() -> bool {
    true
}

/// What is compared; `R` names other resources (references, then ids and ARNs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub cluster_name: String,
    pub version: String,
    pub role: R,
    pub subnets: Vec<R>,
    pub security_groups: Vec<R>,
    pub endpoint_public_access: bool,
    pub endpoint_private_access: bool,
    pub logging: Vec<String>,
    /// The control-plane log group, when logging is on.
    pub log_group: Option<R>,
    #[serde(default)]
    pub extended_support: bool,
    pub tags: Tags,
}

/// A Kubernetes version as EKS names it: `1.<minor>`.
pub fn parse_version(v: &str) -> Option<u32> {
    let minor = v.strip_prefix("1.")?;
    if minor.is_empty() || minor.len() > 2 || !minor.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    minor.parse().ok()
}

/// The log group EKS writes a cluster's control-plane logs to.
pub fn log_group_name(cluster: &str) -> String {
    format!("/aws/eks/{cluster}/cluster")
}

/// A Kubernetes version EKS offers, as `DescribeClusterVersions` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Offered {
    pub version: String,
    /// In standard support (priced $0.10/h) rather than extended support ($0.60/h).
    pub standard: bool,
    /// End of standard support, `YYYY-MM-DD`.
    pub standard_until: Option<String>,
}

/// The versions the file asks for that EKS would refuse or bill as extended support.
/// `asks` holds (name, version, extended_support) of the clusters to create or upgrade.
pub fn check_versions(asks: &[(String, String, bool)], offered: &[Offered]) -> Vec<Unavailable> {
    let current: Vec<&Offered> = offered.iter().filter(|o| o.standard).collect();
    let mut out = Vec::new();
    for (name, version, extended) in asks {
        match offered.iter().find(|o| &o.version == version) {
            None => out.push(Unavailable {
                name: name.clone(),
                field: "version".into(),
                message: format!("EKS does not offer Kubernetes {version}"),
                hint: Some(format!(
                    "versions offered now: {}",
                    offered
                        .iter()
                        .map(|o| if o.standard {
                            format!("{} (standard support)", o.version)
                        } else {
                            format!("{} (extended support, paid)", o.version)
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }),
            Some(o) if !o.standard && !extended => out.push(Unavailable {
                name: name.clone(),
                field: "version".into(),
                message: format!(
                    "Kubernetes {version} is past its standard support: EKS bills it as extended \
                     support ($0.60 an hour instead of $0.10)"
                ),
                hint: Some(format!(
                    "use a version in standard support ({}), or set `extended_support: true` to \
                     pay for it",
                    current
                        .iter()
                        .map(|o| match &o.standard_until {
                            Some(d) => format!("{} until {d}", o.version),
                            None => o.version.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }),
            Some(_) => {}
        }
    }
    out
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
        let cluster = cx.physical_name(name);
        if cluster.len() > 100 {
            cx.error("", "an EKS cluster name is at most 100 characters");
        }
        if parse_version(&spec.version).is_none() {
            cx.error_hint(
                "version",
                format!("`{}` is not a Kubernetes version", spec.version),
                "EKS names versions 1.<minor>, like 1.34",
            );
        }
        if spec.subnets.len() < 2 {
            cx.error(
                "subnets",
                "an EKS cluster needs subnets in at least two zones",
            );
        }
        if !spec.endpoint_public_access && !spec.endpoint_private_access {
            cx.error(
                "endpoint_private_access",
                "the cluster endpoint must be reachable somehow: enable public or private access",
            );
        }
        let mut logging = Vec::new();
        for (i, l) in spec.logging.iter().enumerate() {
            if !LOG_TYPES.contains(&l.as_str()) {
                cx.error(
                    &format!("logging[{i}]"),
                    format!("unknown log type `{l}`: use {}", LOG_TYPES.join(", ")),
                );
            }
            logging.push(l.clone());
        }
        logging.sort();
        logging.dedup();
        let log_group = match (&spec.log_group, logging.is_empty()) {
            (Some(g), _) => Some(cx.reference("log_group", g, &[names::LOG_GROUP])),
            (None, true) => None,
            (None, false) => {
                cx.error_hint(
                    "log_group",
                    "control-plane logging needs a log group of the stack (EKS's own never expires and outlives the cluster)",
                    format!(
                        "add `log_groups: {{{name}-control-plane: {{eks_control_plane: {name}, retention_days: 7}}}}` and `log_group: {name}-control-plane` here"
                    ),
                );
                None
            }
        };
        let subnets = spec
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[names::SUBNET]))
            .collect();
        let security_groups = spec
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                cx.reference(
                    &format!("security_groups[{i}]"),
                    g,
                    &[names::SECURITY_GROUP],
                )
            })
            .collect();
        let props = Props {
            version: spec.version,
            role: cx.reference_attr("role", &spec.role, "arn", &[names::IAM_ROLE]),
            subnets,
            security_groups,
            endpoint_public_access: spec.endpoint_public_access,
            endpoint_private_access: spec.endpoint_private_access,
            log_group,
            logging,
            extended_support: spec.extended_support,
            cluster_name: cluster,
            tags: cx.tags(),
        };
        let mut out = vec![desired(&INFO, name, &props)];
        if !spec.admins.is_empty() {
            let admins = spec
                .admins
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let field = format!("admins[{i}]");
                    if a.starts_with("arn:") {
                        cx.check(&field, access::check_principal(a));
                        Value::String(a.clone())
                    } else {
                        cx.reference_attr(&field, a, "arn", &[names::IAM_ROLE])
                    }
                })
                .collect();
            let access_name = format!("{name}{}", access::SUFFIX);
            let mut tags = cx.tags();
            tags.insert(crate::model::TAG_NAME.into(), access_name.clone());
            tags.insert("Name".into(), cx.physical_name(&access_name));
            let access = access::Props {
                cluster: crate::engine::reference(name),
                admins,
                tags,
            };
            out.push(desired(&access::INFO, &access_name, &access));
        }
        out
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        // The log group must be the one EKS writes this cluster's logs to.
        let Some(p) = props_of::<Props<Value>>(d) else {
            return;
        };
        check_two_zones(cx, "an EKS cluster", &p.subnets, all);
        let Some((group, _)) = p.log_group.as_ref().and_then(as_ref) else {
            return;
        };
        let want = log_group_name(&p.cluster_name);
        let have = all
            .get(group)
            .and_then(|g| g.props.get("log_group_name"))
            .and_then(Value::as_str);
        if let Some(have) = have.filter(|h| *h != want) {
            cx.error_hint(
                "log_group",
                format!(
                    "EKS writes the control-plane logs of this cluster to {want}, not to {have}"
                ),
                format!("give log group `{group}` `eks_control_plane: {}`", d.name),
            );
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![
        adapt(EksCluster(cx.clone())),
        adapt(access::EksAccess(cx.clone())),
    ]
}

pub struct EksCluster(pub Arc<Context>);

fn logging(on: &[String]) -> Logging {
    let off: Vec<LogType> = LOG_TYPES
        .iter()
        .filter(|t| !on.iter().any(|o| o == *t))
        .map(|t| LogType::from(*t))
        .collect();
    let mut setups = vec![LogSetup::builder()
        .set_types(Some(on.iter().map(|t| LogType::from(t.as_str())).collect()))
        .enabled(true)
        .build()];
    if !off.is_empty() {
        setups.push(
            LogSetup::builder()
                .set_types(Some(off))
                .enabled(false)
                .build(),
        );
    }
    Logging::builder().set_cluster_logging(Some(setups)).build()
}

fn support(extended: bool) -> UpgradePolicyRequest {
    UpgradePolicyRequest::builder()
        .support_type(if extended {
            SupportType::Extended
        } else {
            SupportType::Standard
        })
        .build()
}

impl EksCluster {
    async fn describe(&self, name: &str) -> Result<Option<Cluster>, CloudError> {
        match self
            .0
            .aws
            .eks
            .describe_cluster()
            .name(name)
            .send()
            .await
            .map_err(|e| err("eks:DescribeCluster", e))
        {
            Err(e) if e.has_code(NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
            Ok(o) => Ok(o.cluster),
        }
    }

    /// EKS takes one update at a time: wait until the cluster is ACTIVE again.
    async fn settled(&self, name: &str) -> Result<(), CloudError> {
        let started = tokio::time::Instant::now();
        let mut interval = WAIT.first_interval;
        loop {
            let c = self.describe(name).await?;
            match c.as_ref().map(|c| self.state(c)) {
                Some(Status::Ready) => return Ok(()),
                Some(Status::Failed(r)) => {
                    return Err(CloudError::new(format!("eks cluster {name}"), r))
                }
                None => {
                    return Err(CloudError::new(
                        format!("eks cluster {name}"),
                        "disappeared during an update",
                    ))
                }
                Some(_) if started.elapsed() >= WAIT.timeout => {
                    return Err(CloudError::new(
                        format!("eks cluster {name}"),
                        "an update did not finish in time",
                    )
                    .with_code("WaitTimeout"))
                }
                Some(_) => {}
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(WAIT.max_interval);
        }
    }

    async fn update_config(
        &self,
        name: &str,
        vpc: Option<VpcConfigRequest>,
        logs: Option<Logging>,
    ) -> Result<(), CloudError> {
        self.0
            .aws
            .eks
            .update_cluster_config()
            .name(name)
            .set_resources_vpc_config(vpc)
            .set_logging(logs)
            .send()
            .await
            .map_err(|e| err("eks:UpdateClusterConfig", e))?;
        self.settled(name).await
    }
}

#[async_trait]
impl Kind for EksCluster {
    type Props = Props;
    type Remote = Cluster;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "cluster_name") else {
            return Ok(None);
        };
        let c = self.describe(&name).await?;
        Ok(c.map(|c| (name.clone(), tags_of(c.tags()))))
    }

    fn normalize(p: &mut Props) {
        p.subnets.sort();
        p.security_groups.sort();
        p.logging.sort();
    }

    /// EKS upgrades a cluster whose version left support: a newer version than the
    /// file's is not a downgrade to make.
    fn settle(want: &mut Props, have: &Props) {
        if let (Some(w), Some(h)) = (parse_version(&want.version), parse_version(&have.version)) {
            if h > w {
                want.version = have.version.clone();
            }
        }
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Cluster>, CloudError> {
        let names: Vec<String> = self
            .0
            .aws
            .eks
            .list_clusters()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("eks:ListClusters", e))?;
        let prefix = format!("{}-", self.0.stack());
        // EKS has no batch describe: one call per cluster of the stack (by name prefix).
        let reads = names
            .iter()
            .filter(|n| n.starts_with(&prefix))
            .map(|n| self.describe(n));
        Ok(futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    fn observe(&self, c: &Cluster) -> Option<Found<Props>> {
        let tags = tags_of(c.tags());
        let name = identity(&tags, self.0.stack())?;
        let cluster = c.name()?;
        let vpc = c.resources_vpc_config();
        let mut subnets: Vec<String> = vpc.map(|v| v.subnet_ids().to_vec()).unwrap_or_default();
        subnets.sort();
        let mut security_groups: Vec<String> = vpc
            .map(|v| v.security_group_ids().to_vec())
            .unwrap_or_default();
        security_groups.sort();
        let mut logging: Vec<String> = c
            .logging()
            .map(|l| {
                l.cluster_logging()
                    .iter()
                    .filter(|s| s.enabled() == Some(true))
                    .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        logging.sort();
        let props = Props {
            cluster_name: cluster.to_string(),
            version: c.version().unwrap_or_default().to_string(),
            role: c.role_arn().unwrap_or_default().to_string(),
            subnets,
            security_groups,
            endpoint_public_access: vpc.map(|v| v.endpoint_public_access()).unwrap_or(false),
            endpoint_private_access: vpc.map(|v| v.endpoint_private_access()).unwrap_or(false),
            log_group: (!logging.is_empty()).then(|| log_group_name(cluster)),
            logging,
            extended_support: c
                .upgrade_policy()
                .and_then(|u| u.support_type())
                .is_some_and(|s| *s == SupportType::Extended),
            tags,
        };
        let mut f = Found::new(name, cluster, props)
            .output("arn", c.arn().unwrap_or_default())
            .output("endpoint", c.endpoint().unwrap_or_default())
            .output(
                "certificate_authority",
                c.certificate_authority()
                    .and_then(|a| a.data())
                    .unwrap_or_default(),
            );
        if c.status() == Some(&ClusterStatus::Failed) {
            f.failed = Some("cluster status FAILED".into());
        }
        f.deleting = c.status() == Some(&ClusterStatus::Deleting);
        Some(f)
    }

    async fn find(&self, current: &Found<Props>) -> Result<Option<Cluster>, CloudError> {
        self.describe(&current.id).await
    }

    fn state(&self, c: &Cluster) -> Status {
        match c.status() {
            Some(ClusterStatus::Active) => Status::Ready,
            Some(ClusterStatus::Failed) => {
                let issues: Vec<String> = c
                    .health()
                    .map(|h| {
                        h.issues()
                            .iter()
                            .filter_map(|i| i.message().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                Status::Failed(if issues.is_empty() {
                    "cluster status FAILED".into()
                } else {
                    issues.join("; ")
                })
            }
            Some(s) => Status::Pending(s.as_str().to_lowercase()),
            None => Status::Pending("unknown".into()),
        }
    }

    /// Checked against `DescribeClusterVersions` for the clusters to create or upgrade: a
    /// version EKS no longer offers, or one it would bill as extended support unasked.
    async fn availability(
        &self,
        wanted: &[&Desired],
        observed: &[Observed],
    ) -> Result<Vec<Unavailable>, CloudError> {
        let asks: Vec<(String, String, bool)> = wanted
            .iter()
            .filter_map(|d| {
                let p: Props<Value> = props_of(d)?;
                let have = observed
                    .iter()
                    .find(|o| o.name == d.name)
                    .and_then(|o| o.props.get("version"))
                    .and_then(Value::as_str)
                    .and_then(parse_version);
                let upgrade = match (have, parse_version(&p.version)) {
                    (Some(h), Some(w)) => w > h,
                    _ => true,
                };
                upgrade.then(|| (d.name.clone(), p.version, p.extended_support))
            })
            .collect();
        if asks.is_empty() {
            return Ok(Vec::new());
        }
        let mut offered = Vec::new();
        let mut pages = self
            .0
            .aws
            .eks
            .describe_cluster_versions()
            .cluster_type("eks")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("eks:DescribeClusterVersions", e))?;
            for v in page.cluster_versions() {
                let Some(version) = v.cluster_version() else {
                    continue;
                };
                let standard = match v.version_status() {
                    Some(s) => *s == VersionStatus::StandardSupport,
                    None => v.status() == Some(&ClusterVersionStatus::StandardSupport),
                };
                offered.push(Offered {
                    version: version.to_string(),
                    standard,
                    standard_until: v
                        .end_of_standard_support_date()
                        .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                        .map(|d| d.chars().take(10).collect()),
                });
            }
        }
        Ok(check_versions(&asks, &offered))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(want.subnets.clone()))
            .set_security_group_ids(Some(want.security_groups.clone()))
            .endpoint_public_access(want.endpoint_public_access)
            .endpoint_private_access(want.endpoint_private_access)
            .build();
        let access = CreateAccessConfigRequest::builder()
            .authentication_mode(AuthenticationMode::ApiAndConfigMap)
            .bootstrap_cluster_creator_admin_permissions(true)
            .build();
        let token = client_token(self.0.stack(), name);
        let res = retry_iam_propagation(|| async {
            self.0
                .aws
                .eks
                .create_cluster()
                .name(&want.cluster_name)
                .version(&want.version)
                .role_arn(&want.role)
                .resources_vpc_config(vpc.clone())
                .logging(logging(&want.logging))
                .access_config(access.clone())
                .upgrade_policy(support(want.extended_support))
                .client_request_token(&token)
                .set_tags(Some(want.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(|e| err("eks:CreateCluster", e))
        })
        .await;
        let c = match res {
            Ok(out) => out.cluster,
            Err(e) if e.has_code("ResourceInUseException") => {
                let c = self.describe(&want.cluster_name).await?;
                let tags = tags_of(c.as_ref().and_then(|c| c.tags()));
                if !owned(&tags, self.0.stack()) {
                    return Err(name_taken(
                        "eks:CreateCluster",
                        "EKS cluster",
                        &want.cluster_name,
                        &tags,
                    ));
                }
                c
            }
            Err(e) => return Err(e),
        };
        let found = c
            .as_ref()
            .and_then(|c| self.observe(c))
            .unwrap_or_else(|| Found::new(name, &want.cluster_name, want.clone()));
        Ok(Found {
            name: name.to_string(),
            props: want.clone(),
            ..found
        })
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let eks = &self.0.aws.eks;
        let have = &current.props;
        let id = &current.id;
        // A version goes up one minor per update.
        if let (Some(mut at), Some(to)) =
            (parse_version(&have.version), parse_version(&want.version))
        {
            while at < to {
                at += 1;
                eks.update_cluster_version()
                    .name(id)
                    .version(format!("1.{at}"))
                    .send()
                    .await
                    .map_err(|e| err("eks:UpdateClusterVersion", e))?;
                self.settled(id).await?;
            }
        }
        if (&have.subnets, &have.security_groups) != (&want.subnets, &want.security_groups) {
            let vpc = VpcConfigRequest::builder()
                .set_subnet_ids(Some(want.subnets.clone()))
                .set_security_group_ids(Some(want.security_groups.clone()))
                .build();
            self.update_config(id, Some(vpc), None).await?;
        }
        if (have.endpoint_public_access, have.endpoint_private_access)
            != (want.endpoint_public_access, want.endpoint_private_access)
        {
            let vpc = VpcConfigRequest::builder()
                .endpoint_public_access(want.endpoint_public_access)
                .endpoint_private_access(want.endpoint_private_access)
                .build();
            self.update_config(id, Some(vpc), None).await?;
        }
        if have.logging != want.logging {
            self.update_config(id, None, Some(logging(&want.logging)))
                .await?;
        }
        let arn = current.outputs.get("arn").cloned().unwrap_or_default();
        sync_tags(&EksTags(eks), &arn, &have.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        if current.deleting {
            return Ok(Deletion::Started);
        }
        match self
            .0
            .aws
            .eks
            .delete_cluster()
            .name(&current.id)
            .send()
            .await
            .map_err(|e| err("eks:DeleteCluster", e))
        {
            Err(e) if e.has_code(NOT_FOUND) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Started),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes_with, context, out};
    use aws_sdk_eks::types::VpcConfigResponse;

    const FILE: &str = "iam_roles:\n  eks: {trust: [eks.amazonaws.com]}\nvpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  priv-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  priv-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\nlog_groups:\n  web-logs: {eks_control_plane: web, retention_days: 7}\neks_clusters:\n  web: {version: '1.34', role: eks, subnets: [priv-a, priv-b], logging: [api], log_group: web-logs}\n";

    fn cluster(status: ClusterStatus, version: &str) -> Cluster {
        let vpc = VpcConfigResponse::builder()
            .subnet_ids(out("priv-b", "id"))
            .subnet_ids(out("priv-a", "id"))
            .endpoint_public_access(true)
            .endpoint_private_access(true)
            .build();
        Cluster::builder()
            .name("app-web")
            .arn("arn:aws:eks:eu-west-3:1:cluster/app-web")
            .status(status)
            .version(version)
            .role_arn(out("eks", "arn"))
            .resources_vpc_config(vpc)
            .logging(logging(&["api".to_string()]))
            .set_tags(Some(testing::identity_tags("web").into_iter().collect()))
            .build()
    }

    #[test]
    fn a_described_cluster_is_what_the_file_wants() {
        let c = cluster(ClusterStatus::Active, "1.34");
        let group = ("web-logs", "id", "/aws/eks/app-web/cluster");
        assert_observes_with(EksCluster(context()), &c, FILE, "web", &[group]);
        let k = EksCluster(context());
        assert_eq!(k.state(&c), Status::Ready);
        assert_eq!(
            k.state(&cluster(ClusterStatus::Creating, "1.34")),
            Status::Pending("creating".into())
        );
        assert!(k
            .observe(&cluster(ClusterStatus::Deleting, "1.34"))
            .is_some_and(|f| f.deleting));
    }

    #[test]
    fn versions_are_checked_against_what_eks_offers() {
        let offered = |v: &str, standard: bool| Offered {
            version: v.into(),
            standard,
            standard_until: standard.then(|| "2026-12-02".to_string()),
        };
        let catalog = [
            offered("1.35", true),
            offered("1.34", true),
            offered("1.33", false),
        ];
        let ask = |v: &str, extended: bool| ("web".to_string(), v.to_string(), extended);
        assert!(check_versions(&[ask("1.34", false)], &catalog).is_empty());
        assert!(check_versions(&[ask("1.33", true)], &catalog).is_empty());
        let gone = check_versions(&[ask("1.31", false)], &catalog);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].field, "version");
        assert!(gone[0].message.contains("does not offer Kubernetes 1.31"));
        assert!(gone[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("1.34 (standard support), 1.33 (extended support")));
        let paid = check_versions(&[ask("1.33", false)], &catalog);
        assert!(paid[0].message.contains("extended support"));
        assert!(
            paid[0].hint.as_deref().is_some_and(
                |h| h.contains("1.34 until 2026-12-02") && h.contains("extended_support")
            )
        );
    }

    #[test]
    fn a_version_eks_moved_forward_is_not_a_downgrade() {
        let have = EksCluster(context())
            .observe(&cluster(ClusterStatus::Active, "1.35"))
            .expect("observed")
            .props;
        let mut want = have.clone();
        want.version = "1.34".into();
        EksCluster::settle(&mut want, &have);
        assert_eq!(want.version, "1.35");
        want.version = "1.36".into();
        EksCluster::settle(&mut want, &have);
        assert_eq!(want.version, "1.36", "an upgrade stays a change");
        assert_eq!(parse_version("1.34"), Some(34));
        assert_eq!(parse_version("2.1"), None);
        assert_eq!(parse_version("1.x"), None);
    }
}
