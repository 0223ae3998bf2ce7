//! `unlock`: break the stack's lock left by an operation that died or hangs. It says what
//! can be known about the holder, and asks twice when the holder is running here.

use std::sync::Arc;

use super::{Error, Outcome, Session, View};
use crate::lock::{utc, Liveness};

pub async fn unlock(s: &Session, view: &Arc<dyn View>) -> Result<Outcome, Error> {
    let store = s.lock_store();
    let (holder, liveness) = match crate::lock::holder(&*store).await? {
        None => return Ok(Outcome::Unlocked { broken: None }),
        Some(Ok(h)) => {
            let l = h.liveness();
            let said = match l {
                Liveness::Gone => "its process is gone".to_string(),
                Liveness::Alive => format!("its process {} is still running on this machine", h.pid),
                Liveness::Unknown => format!(
                    "whether it still runs cannot be told from here; its lease ends at {} unless renewed",
                    utc(h.expires)
                ),
            };
            (format!("{} ({said})", h.describe()), l)
        }
        Some(Err(raw)) => (format!("an unreadable lock ({raw:?})"), Liveness::Unknown),
    };
    view.confirm(&format!(
        "Stack {} is locked by {holder}. Break this lock? Only do so if that operation is no longer running.",
        s.stack.name
    ))?;
    if liveness == Liveness::Alive {
        view.confirm(
            "That operation is running: breaking its lock lets a second one change the stack at the same time. Break it anyway?",
        )?;
    }
    store.remove().await?;
    Ok(Outcome::Unlocked {
        broken: Some(holder),
    })
}
