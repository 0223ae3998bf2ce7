//! `down`: delete everything the stack owns, and nothing else. Before deleting anything:
//! refuse when a resource cannot be deleted as it is (deletion protection), and find what
//! else would block the teardown (refuse naming the foreign blockers unless `--force`).
//! All of it under the stack's lock, taken first: one discovery, confirm, clear the
//! blockers, delete, and check that nothing of the stack remains but what was kept on
//! purpose.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{give_back, take_lock, Error, Outcome, Refusal, RunOptions, Session, View};
use crate::engine::{apply, plan, Observed};
use crate::kinds::names;
use crate::teardown::blockers::{self, Sort};

/// The stack's network as observed: what blockers are looked for around.
fn network_scope(observed: &[Observed]) -> blockers::Scope {
    let ids = |kind: &str| -> BTreeSet<String> {
        observed
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.id.clone())
            .collect()
    };
    blockers::Scope {
        vpcs: ids(names::VPC),
        groups: ids(names::SECURITY_GROUP),
        subnets: ids(names::SUBNET),
        clusters: ids(names::EKS_CLUSTER),
        services: observed
            .iter()
            .filter(|o| o.kind == names::KUBERNETES_OBJECT)
            .filter(|o| {
                matches!(
                    o.props.get("kind").and_then(|k| k.as_str()),
                    Some("Service" | "Ingress")
                )
            })
            .filter_map(|o| {
                let ns = o.props.get("namespace")?.as_str()?;
                let name = o.props.get("object_name")?.as_str()?;
                Some(format!("{ns}/{name}"))
            })
            .collect(),
    }
}

/// What `down` keeps of what it deletes, said before it asks: final snapshots (billed
/// until deleted) and what still holds data.
fn what_is_kept(s: &Session, plan: &plan::Plan) -> String {
    let has = |kind: &str| plan.steps.iter().any(|st| st.kind == kind);
    let options = &s.cx.options;
    let mut kept = Vec::new();
    if has(names::DATABASE) && !options.skip_final_snapshot {
        kept.push("each database leaves a final snapshot, billed until deleted");
    }
    if (has(names::BUCKET) || has(names::ECR_REPOSITORY)) && !options.force_empty {
        kept.push("buckets and image repositories that still hold data are kept");
    }
    if kept.is_empty() {
        String::new()
    } else {
        format!(" ({})", kept.join("; "))
    }
}

pub async fn down(
    s: &Session,
    view: &Arc<dyn View>,
    run: &RunOptions,
    force: bool,
) -> Result<Outcome, Error> {
    // Under the lock from the first read to the final check (held while asking, as
    // Terraform holds its state lock): one discovery serves the proposal and the deletes,
    // and nothing can change what was shown in between.
    let lock = take_lock(s, view, "down", run).await?;
    let result = locked(s, view, run, force).await;
    give_back(view, lock).await;
    result
}

async fn locked(
    s: &Session,
    view: &Arc<dyn View>,
    run: &RunOptions,
    force: bool,
) -> Result<Outcome, Error> {
    let observed = s.registry.discover_all().await?;
    // The file's references and depends_on also order the deletes of what it still names.
    let plan = plan::teardown(&observed, &s.desired, &s.registry)?;
    if !plan.has_changes() {
        return Ok(Outcome::Applied {
            command: "down",
            plan,
            report: None,
            remaining: Some(Vec::new()),
            artifacts: Vec::new(),
            outputs: Vec::new(),
        });
    }
    let protected: Vec<String> = observed
        .iter()
        .filter_map(|o| s.registry.get(o.kind)?.delete_guard(o))
        .collect();
    view.proposal(&plan);
    if !protected.is_empty() {
        return Err(Refusal::DeletionProtected { reasons: protected }.into());
    }
    // What is not the stack's but would block its teardown: named before anything is
    // deleted, and removed only with --force. What was made for the stack goes with it.
    let found = blockers::find(&s.cx, &network_scope(&observed)).await?;
    let (foreign, derived): (Vec<_>, Vec<_>) =
        found.into_iter().partition(|b| b.sort == Sort::Foreign);
    if !foreign.is_empty() && !force {
        return Err(Refusal::ForeignBlockers {
            blockers: foreign.iter().map(|b| b.what.clone()).collect(),
        }
        .into());
    }
    let what = |bs: &[blockers::Blocker]| bs.iter().map(|b| b.what.clone()).collect::<Vec<_>>();
    view.sweep(&what(&derived), &what(&foreign));
    view.confirm(&format!(
        "Delete these {} resources of {}?{}",
        plan.steps.len() + derived.len() + foreign.len(),
        s.place(),
        what_is_kept(s, &plan)
    ))?;
    let mut sweep = derived;
    sweep.extend(foreign);
    sweep.sort_by(|a, b| a.item.cmp(&b.item));
    blockers::clear(&s.cx, &sweep).await?;
    let options = apply::Options {
        parallelism: run.parallelism,
        stop: run.stop.clone(),
        in_use_wait: run.in_use_wait,
    };
    let report = apply::apply(&plan, &s.registry, &options, view.progress()).await;
    // Final check: what of the stack is left, apart from what was kept on purpose. Only
    // the kinds of deletes AWS did not confirm can hold any (each done delete ended when
    // AWS said it was gone; the lock keeps other runs out): none after a clean run.
    let kept: Vec<&str> = report.kept().map(|o| o.name.as_str()).collect();
    let unsure: BTreeSet<&str> = report
        .failed()
        .chain(report.not_started())
        .chain(report.settling())
        .map(|o| o.kind)
        .collect();
    let remaining: Vec<Observed> = s
        .registry
        .discover_kinds(&unsure)
        .await?
        .into_iter()
        .filter(|o| !kept.contains(&o.name.as_str()))
        .collect();
    // Named so that nobody pays for them unknowingly; not a failure when unreadable.
    let artifacts = s.registry.artifacts().await.unwrap_or_else(|e| {
        tracing::warn!("could not list the final snapshots: {e}");
        Vec::new()
    });
    Ok(Outcome::Applied {
        command: "down",
        plan,
        report: Some(report),
        remaining: Some(remaining),
        artifacts,
        outputs: Vec::new(),
    })
}
