//! `snapshots`: what deletions left on purpose and AWS bills until deleted (the final
//! snapshots of databases), found by the stack's tags; with `--prune`, all but the newest
//! `keep` of each database are deleted, after asking.

use std::sync::Arc;

use super::{Error, Outcome, Session, View};
use crate::engine::prunable;

pub async fn snapshots(
    s: &Session,
    view: &Arc<dyn View>,
    prune: bool,
    keep: usize,
) -> Result<Outcome, Error> {
    let artifacts = s.registry.artifacts().await?;
    let doomed = if prune {
        prunable(&artifacts, keep)
    } else {
        Vec::new()
    };
    if doomed.is_empty() {
        return Ok(Outcome::Artifacts {
            artifacts,
            pruned: Vec::new(),
        });
    }
    let ids: Vec<&str> = doomed.iter().map(|a| a.id.as_str()).collect();
    view.confirm(&format!(
        "Delete {} older snapshot(s) of stack {} ({})? Their data cannot be restored afterwards.",
        doomed.len(),
        s.stack.name,
        ids.join(", ")
    ))?;
    for a in &doomed {
        s.registry.delete_artifact(a).await?;
    }
    let left = artifacts
        .into_iter()
        .filter(|a| !doomed.contains(a))
        .collect();
    Ok(Outcome::Artifacts {
        artifacts: left,
        pruned: doomed,
    })
}
