//! Kubernetes kinds: objects applied to one of the stack's EKS clusters through the
//! Kubernetes API (kube-rs over rustls with aws-lc-rs, as the SDK), authenticated with an
//! EKS token made in-process (`token.rs`). What they share: the object types provision
//! manages, and a client per cluster (endpoint and certificate authority from EKS, a token
//! renewed before it expires).

pub mod fields;
pub mod object;
pub mod token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

use crate::aws::err;
use crate::engine::CloudError;
use crate::kinds::support::Context;

/// Label every object of the stack carries (what `list` selects on).
pub const LABEL_STACK: &str = "provision/stack";
/// Annotation holding the object's name in the stack (`frontend.deployment-web`): longer
/// than a label value may be.
pub const ANNOTATION_NAME: &str = "provision/name";

/// An object type provision manages: API version, kind, plural, namespaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Type {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

const fn t(api_version: &'static str, kind: &'static str, plural: &'static str) -> Type {
    Type {
        api_version,
        kind,
        plural,
        namespaced: true,
    }
}

/// The types a stack may hold. Discovery lists each of them by the stack's label (one
/// call per type and cluster), so an object of another type could not be found again:
/// the model refuses it. Secrets are left out on purpose: they do not belong in files.
pub const TYPES: &[Type] = &[
    Type {
        namespaced: false,
        ..t("v1", "Namespace", "namespaces")
    },
    t("v1", "ConfigMap", "configmaps"),
    t("v1", "ServiceAccount", "serviceaccounts"),
    t("v1", "Service", "services"),
    t("apps/v1", "Deployment", "deployments"),
    t("apps/v1", "StatefulSet", "statefulsets"),
    t("apps/v1", "DaemonSet", "daemonsets"),
    t("networking.k8s.io/v1", "Ingress", "ingresses"),
    t("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    t(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
    ),
    t("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
];

/// The type of `api_version` + `kind`, if provision manages it.
pub fn type_of(api_version: &str, kind: &str) -> Option<Type> {
    TYPES
        .iter()
        .find(|t| t.api_version == api_version && t.kind == kind)
        .copied()
}

impl Type {
    pub fn resource(&self) -> ApiResource {
        let (group, version) = self
            .api_version
            .split_once('/')
            .unwrap_or(("", self.api_version));
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, self.kind),
            self.plural,
        )
    }

    /// The API of this type in `namespace` (or cluster-wide, or across namespaces).
    pub fn api(&self, client: &kube::Client, namespace: Option<&str>) -> kube::Api<DynamicObject> {
        let ar = self.resource();
        match (self.namespaced, namespace) {
            (true, Some(ns)) => kube::Api::namespaced_with(client.clone(), ns, &ar),
            _ => kube::Api::all_with(client.clone(), &ar),
        }
    }
}

/// A Kubernetes API error as a cloud error: the call, the API's reason and message.
pub fn kube_err(operation: &str, e: kube::Error) -> CloudError {
    match e {
        kube::Error::Api(s) => {
            CloudError::new(operation, s.message.clone()).with_code(if s.reason.is_empty() {
                s.code.to_string()
            } else {
                s.reason.clone()
            })
        }
        other => {
            // The causes too: "client error (SendRequest)" alone says nothing.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(&other);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            CloudError::new(operation, text).with_code("Unreachable")
        }
    }
}

/// Whether a Kubernetes API error says the object is not there.
pub fn is_gone(e: &CloudError) -> bool {
    e.code
        .as_deref()
        .is_some_and(|c| c == "NotFound" || c == "404")
}

/// A token lives 15 minutes on EKS; clients are renewed well before.
const RENEW_AFTER: Duration = Duration::from_secs(10 * 60);

/// Clients per cluster name, renewed before their token expires.
#[derive(Default)]
pub struct Clients(tokio::sync::Mutex<HashMap<String, (kube::Client, Instant)>>);

impl Clients {
    /// A client for the stack's EKS cluster `cluster` (its AWS name).
    pub async fn get(&self, cx: &Arc<Context>, cluster: &str) -> Result<kube::Client, CloudError> {
        let mut cache = self.0.lock().await;
        if let Some((c, made)) = cache.get(cluster) {
            if made.elapsed() < RENEW_AFTER {
                return Ok(c.clone());
            }
        }
        let client = connect(cx, cluster).await?;
        cache.insert(cluster.to_string(), (client.clone(), Instant::now()));
        Ok(client)
    }
}

/// The DER certificates of a PEM bundle (EKS gives its certificate authority as base64 of
/// PEM text).
fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            current = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            if let Some(body) = current.take() {
                if let Ok(der) = b64.decode(body) {
                    out.push(der);
                }
            }
        } else if let Some(body) = current.as_mut() {
            body.push_str(line);
        }
    }
    out
}

async fn connect(cx: &Arc<Context>, cluster: &str) -> Result<kube::Client, CloudError> {
    use base64::Engine;
    let described = cx
        .aws
        .eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .map_err(|e| err("eks:DescribeCluster", e))?;
    let c = described
        .cluster()
        .ok_or_else(|| CloudError::new("eks:DescribeCluster", format!("no cluster {cluster}")))?;
    let endpoint = c.endpoint().unwrap_or_default();
    let uri: http::Uri = endpoint.parse().map_err(|e: http::uri::InvalidUri| {
        CloudError::new("eks:DescribeCluster", format!("endpoint `{endpoint}`: {e}"))
    })?;
    let identity = cx.aws.identity().await?;
    let token = token::token(
        &identity,
        &cx.scope.region,
        cluster,
        std::time::SystemTime::now(),
    )?;
    let mut config = kube::Config::new(uri);
    if endpoint.starts_with("https://") {
        let pem = c
            .certificate_authority()
            .and_then(|a| a.data())
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let roots = pem_certificates(&pem);
        if !roots.is_empty() {
            config.root_cert = Some(roots);
        }
    }
    let bearer = http::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| CloudError::new("eks:token", e.to_string()))?;
    config.headers.push((http::header::AUTHORIZATION, bearer));
    config.read_timeout = Some(Duration::from_secs(60));
    kube::Client::try_from(config).map_err(|e| kube_err("kubernetes:connect", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_maps_to_its_api_path() {
        let d = type_of("apps/v1", "Deployment").expect("managed");
        let ar = d.resource();
        assert_eq!(
            (ar.group.as_str(), ar.version.as_str(), ar.plural.as_str()),
            ("apps", "v1", "deployments")
        );
        let s = type_of("v1", "Service").expect("managed").resource();
        assert_eq!((s.group.as_str(), s.api_version.as_str()), ("", "v1"));
        assert!(type_of("v1", "Secret").is_none());
        assert!(!type_of("v1", "Namespace").expect("managed").namespaced);
    }

    #[test]
    fn a_pem_bundle_gives_its_certificates() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\njunk\n-----BEGIN CERTIFICATE-----\nBAU=\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(pem), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    }
}
