//! The read-only flows: `plan`, `drift`, `status`. They never take the stack lock.

use super::{CostChange, Error, Outcome, Session};
use crate::engine::Status;

/// What `up` would do.
pub async fn plan(
    s: &Session,
    detailed: bool,
    out: Option<&std::path::Path>,
) -> Result<Outcome, Error> {
    let (observed, plan) = s.discover().await?;
    s.available(&observed).await?;
    if let Some(path) = out {
        super::saved::write(path, &super::saved::make(s, &observed, &plan))?;
    }
    let cost = plan
        .has_changes()
        .then(|| cost_change(s, &observed))
        .flatten();
    Ok(Outcome::Planned {
        plan,
        detailed,
        cost,
    })
}

/// What the plan changes in the monthly bill (always-on usage), and the budgets the stack
/// would then exceed. `None` when the price table has no prices for the region.
fn cost_change(s: &Session, observed: &[crate::engine::Observed]) -> Option<CostChange> {
    use crate::report::cost;
    let table = cost::table();
    let usage = cost::Usage::always();
    let after = cost::estimate(
        &table,
        &s.stack.region,
        &usage,
        &cost::of_desired(&s.desired),
    )
    .ok()?;
    let before = cost::estimate(
        &table,
        &s.stack.region,
        &usage,
        &cost::of_observed(observed),
    )
    .ok()?;
    Some(CostChange {
        monthly_before: before.total,
        monthly_after: after.total,
        usage: usage.label,
        over_budgets: after
            .budgets
            .iter()
            .filter(|(_, limit)| after.total > *limit)
            .cloned()
            .collect(),
    })
}

/// Whether what exists matches the file.
pub async fn drift(s: &Session) -> Result<Outcome, Error> {
    let (_, plan) = s.discover().await?;
    Ok(Outcome::Drift { plan })
}

/// What exists of the stack, and who holds its lock.
pub async fn status(s: &Session) -> Result<Outcome, Error> {
    let observed = s.registry.discover_all().await?;
    if let Ok(mut e) = s.expiry.lock() {
        *e = super::recorded_expiry(&observed).map(str::to_string);
    }
    let lock = match crate::lock::holder(&*s.lock_store()).await? {
        None => None,
        Some(Ok(h)) => Some(format!(
            "{}; expires {}",
            h.describe(),
            crate::lock::utc(h.expires)
        )),
        Some(Err(raw)) => Some(format!("unreadable lock {raw:?}")),
    };
    let outputs = s.outputs(&observed);
    let settling = settling(s, &observed).await?;
    // What the file has and AWS does not.
    let mut missing: Vec<String> = s
        .desired
        .iter()
        .filter(|d| {
            !observed
                .iter()
                .any(|o| o.kind == d.kind && o.name == d.name)
        })
        .map(|d| format!("{} {}", d.kind, d.name))
        .collect();
    missing.sort();
    Ok(Outcome::Status {
        observed,
        lock,
        outputs,
        settling,
        missing,
    })
}

/// What is still changing in AWS (a distribution deploying, a service short of its
/// tasks), by `kind name`: AWS's status of each resource whose kind waits for one,
/// asked a few at a time.
async fn settling(
    s: &Session,
    observed: &[crate::engine::Observed],
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    use futures::{StreamExt, TryStreamExt};
    let asks = observed.iter().filter_map(|o| {
        let kind = s.registry.get(o.kind)?.clone();
        kind.info().wait?;
        Some(async move {
            let status = kind.status(o).await?;
            Ok::<_, Error>((format!("{} {}", o.kind, o.name), status))
        })
    });
    let found: Vec<(String, Status)> = futures::stream::iter(asks)
        .buffer_unordered(8)
        .try_collect()
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|(k, st)| match st {
            Status::Pending(text) => Some((k, text)),
            Status::Failed(text) => Some((k, format!("failed: {text}"))),
            Status::Missing => Some((k, "gone since it was listed".into())),
            Status::Ready => None,
        })
        .collect())
}
