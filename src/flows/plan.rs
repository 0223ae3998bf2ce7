//! The read-only flows: `plan`, `drift`, `status`. They never take the stack lock.

use super::{Error, Outcome, Session};

/// What `up` would do.
pub async fn plan(s: &Session, detailed: bool) -> Result<Outcome, Error> {
    let (observed, plan) = s.discover().await?;
    s.available(&observed).await?;
    Ok(Outcome::Planned { plan, detailed })
}

/// Whether what exists matches the file.
pub async fn drift(s: &Session) -> Result<Outcome, Error> {
    let (_, plan) = s.discover().await?;
    Ok(Outcome::Drift { plan })
}

/// What exists of the stack, and who holds its lock.
pub async fn status(s: &Session) -> Result<Outcome, Error> {
    let observed = s.registry.discover_all().await?;
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
    Ok(Outcome::Status {
        observed,
        lock,
        outputs,
    })
}
