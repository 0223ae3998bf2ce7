//! `adopt`: make a resource made outside the stack (by hand, by another tool) the
//! stack's, explicitly, by its id. A name alone never does it: the resource gets the
//! stack's identity tags only here, after checks and a confirmation, under the lock.
//! The plan shown at the end says what `up` will then change to match the file.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{give_back, take_lock, Error, Outcome, Refusal, RunOptions, Session, View};
use crate::engine::CloudError;

pub async fn adopt(
    s: &Session,
    view: &Arc<dyn View>,
    run: &RunOptions,
    name: &str,
    id: &str,
) -> Result<Outcome, Error> {
    let Some(want) = s.desired.iter().find(|d| d.name == name) else {
        let known = s.desired.iter().map(|d| d.name.as_str());
        return Err(Refusal::NotInFile {
            name: name.to_string(),
            hint: crate::model::net::closest(name, known).map(str::to_string),
        }
        .into());
    };
    if let Some((entry, _)) = name.split_once('.') {
        return Err(Refusal::AdoptPart {
            name: name.to_string(),
            entry: entry.to_string(),
        }
        .into());
    }
    let kind = s
        .registry
        .get(want.kind)
        .ok_or_else(|| CloudError::new("adopt", format!("no kind {}", want.kind)))?
        .clone();
    let observed = s.registry.discover_all().await?;
    if let Some(have) = observed.iter().find(|o| o.name == name) {
        return Err(Refusal::AlreadyInStack {
            kind: have.kind.to_string(),
            name: name.to_string(),
            id: have.id.clone(),
        }
        .into());
    }
    // Only provision's own tags: the rest comes with the next `up`, shown by its plan.
    let identity: BTreeMap<String, String> = want
        .props
        .get("tags")
        .and_then(|t| t.as_object())
        .map(|t| {
            t.iter()
                .filter(|(k, _)| k.starts_with("provision:"))
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    view.confirm(&format!(
        "Adopt {} {id} as `{name}` of {}? It gets the stack's tags ({}); from then on `down` deletes it with the stack.",
        want.kind,
        s.place(),
        identity
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let lock = take_lock(s, view, "adopt", run).await?;
    let result = async {
        kind.adopt(id, &identity).await?;
        let (now, plan) = s.discover().await?;
        if !now.iter().any(|o| o.name == name && o.id == id) {
            return Err(Error::Cloud(CloudError::new(
                format!("adopt {} {id}", want.kind),
                format!("{id} was tagged but is not found as the stack's {name}: is it in this account and region?"),
            )));
        }
        Ok(Outcome::Adopted {
            kind: want.kind,
            name: name.to_string(),
            id: id.to_string(),
            plan,
        })
    }
    .await;
    give_back(view, lock).await;
    result
}
