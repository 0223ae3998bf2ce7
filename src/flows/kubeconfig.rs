//! `kubeconfig`: add one of the stack's EKS clusters to a kubeconfig file.

use std::path::Path;

use super::{Error, Outcome, Refusal, Session};
use crate::engine::Observed;
use crate::kinds::names;

pub async fn kubeconfig(
    s: &Session,
    cluster: Option<&str>,
    output: Option<&Path>,
    profile: Option<String>,
) -> Result<Outcome, Error> {
    let refuse = |message: String| Error::Refused(Refusal::Cluster { message });
    let kind = s
        .registry
        .get(names::EKS_CLUSTER)
        .ok_or_else(|| refuse("no EKS support registered".into()))?;
    let clusters: Vec<Observed> = kind.discover(&[]).await?;
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let stack = &s.stack.name;
    let chosen = match (cluster, clusters.as_slice()) {
        (Some(n), _) => clusters.iter().find(|c| c.name == n).ok_or_else(|| {
            refuse(format!(
                "stack {stack} has no EKS cluster `{n}` (it has: {})",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
        })?,
        (None, [one]) => one,
        (None, []) => {
            return Err(refuse(format!(
                "stack {stack} has no EKS cluster; run `provision up` first"
            )))
        }
        (None, _) => {
            return Err(refuse(format!(
                "stack {stack} has several EKS clusters ({}): pick one with --cluster",
                names.join(", ")
            )))
        }
    };
    let out = |k: &str| chosen.outputs.get(k).cloned().unwrap_or_default();
    let entry = crate::kubeconfig::Entry {
        arn: out("arn"),
        cluster_name: chosen.id.clone(),
        endpoint: out("endpoint"),
        certificate_authority: out("certificate_authority"),
        region: s.stack.region.clone(),
        profile,
    };
    let path = crate::kubeconfig::default_path(output);
    crate::kubeconfig::write(&path, &entry)
        .map_err(|message| Error::Refused(Refusal::Kubeconfig { message }))?;
    Ok(Outcome::Kubeconfig {
        cluster: chosen.name.clone(),
        context: entry.arn,
        file: path.display().to_string(),
    })
}
