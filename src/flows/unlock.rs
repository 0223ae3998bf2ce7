//! `unlock`: break the stack's lock left by an operation that died or hangs.

use std::sync::Arc;

use super::{Error, Outcome, Session, View};

pub async fn unlock(s: &Session, view: &Arc<dyn View>) -> Result<Outcome, Error> {
    let store = s.lock_store();
    let holder = match crate::lock::holder(&*store).await? {
        None => return Ok(Outcome::Unlocked { broken: None }),
        Some(Ok(h)) => h.describe(),
        Some(Err(raw)) => format!("an unreadable lock ({raw:?})"),
    };
    view.confirm(&format!(
        "Stack {} is locked by {holder}. Break this lock? Only do so if that operation is no longer running.",
        s.stack.name
    ))?;
    store.remove().await?;
    Ok(Outcome::Unlocked {
        broken: Some(holder),
    })
}
