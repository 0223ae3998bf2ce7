//! `up`: bring the stack to the file. Plan, refuse data loss without consent, confirm,
//! take the lock, plan again under it (refusing a changed plan), apply, give the lock back.
//! Nothing to change: no lock, no write.

use std::sync::Arc;

use super::{
    give_back, release_dead_lock, take_lock, unchanged, Error, Outcome, Refusal, RunOptions,
    Session, View,
};
use crate::engine::apply;

pub async fn up(
    s: &Session,
    view: &Arc<dyn View>,
    run: &RunOptions,
    allow_data_loss: bool,
    saved: Option<&super::saved::Saved>,
) -> Result<Outcome, Error> {
    let (observed, plan) = s.discover().await?;
    if let Some(saved) = saved {
        // Exactly the plan that was saved, or nothing.
        let reasons = super::saved::stale(s, saved, &observed, &plan);
        if !reasons.is_empty() {
            return Err(Refusal::StalePlan { reasons }.into());
        }
    }
    if plan.has_changes() {
        s.available(&observed).await?;
    }
    view.proposal(&plan);
    if !plan.has_changes() {
        release_dead_lock(s, view).await;
        let outputs = s.outputs(&observed);
        return Ok(Outcome::Applied {
            command: "up",
            plan,
            report: None,
            remaining: None,
            artifacts: Vec::new(),
            outputs,
        });
    }
    let destructive: Vec<String> = plan
        .destructive()
        .map(|st| format!("{} {}", st.kind, st.name))
        .collect();
    if !destructive.is_empty() && !allow_data_loss {
        return Err(Refusal::DataLoss {
            resources: destructive,
        }
        .into());
    }
    if saved.is_none() {
        // A saved plan was looked at when it was made (as Terraform applies a plan file).
        view.confirm("Apply these changes?")?;
    }
    let lock = take_lock(s, view, "up", run).await?;
    let result = async {
        // Looked at again under the lock: another operation may have changed the stack
        // since the plan was shown.
        let (now, fresh) = s.discover().await?;
        if !fresh.has_changes() {
            // An identical operation held the lock and did the work.
            view.done_meanwhile();
            return Ok(Outcome::Applied {
                command: "up",
                plan: fresh,
                report: None,
                remaining: None,
                artifacts: Vec::new(),
                outputs: s.outputs(&now),
            });
        }
        unchanged(&plan, &fresh, "applied")?;
        let options = apply::Options {
            parallelism: run.parallelism,
            stop: run.stop.clone(),
            in_use_wait: run.in_use_wait,
        };
        let mut report = apply::apply(&fresh, &s.registry, &options, view.progress()).await;
        s.locate_refusals(&mut report);
        Ok(Outcome::Applied {
            command: "up",
            outputs: s.outputs(&report.live),
            plan: fresh,
            report: Some(report),
            remaining: None,
            artifacts: Vec::new(),
        })
    }
    .await;
    give_back(view, lock).await;
    result
}
