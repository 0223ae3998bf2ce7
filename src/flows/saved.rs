//! Saved plans: `plan --out FILE` writes the plan with hashes of what it was made from
//! (the stack file, the variables' values, what AWS had); `up --plan FILE` applies exactly
//! that plan, and refuses when any of them changed since, as Terraform's saved plans do.
//! Variables are kept as a hash only; the steps hold what `plan` shows.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Error, Refusal, Session};
use crate::engine::plan::Plan;
use crate::engine::Observed;

/// The format's name and version, first in the file.
pub const FORMAT: &str = "provision-plan/1";

/// What a plan file holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Saved {
    pub format: String,
    pub stack: String,
    pub region: String,
    pub account: String,
    /// When the plan was made: a new expiry counts from here when it is applied.
    pub made: u64,
    /// `--ttl` of the plan, in seconds.
    pub ttl: Option<u64>,
    pub file_sha256: String,
    pub vars_sha256: String,
    pub observed_sha256: String,
    /// The changes, as `plan --json` shows them.
    pub steps: serde_json::Value,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        // Lengths first: ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex(&h.finalize())
}

/// The variables' values, in name order (sensitive ones only through the hash).
fn vars_hash(s: &Session) -> String {
    let parts: Vec<String> = s
        .stack
        .vars
        .values
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                serde_json::to_string(&v.value).unwrap_or_default()
            )
        })
        .collect();
    sha256(&parts.iter().map(String::as_str).collect::<Vec<_>>())
}

/// What AWS had of the stack, as compared: each resource's kind, name, id, properties
/// and whether it failed or is going.
pub fn observed_hash(observed: &[Observed]) -> String {
    let mut rows: Vec<String> = observed
        .iter()
        .map(|o| {
            format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1f}{}",
                o.kind,
                o.name,
                o.id,
                serde_json::Value::Object(o.props.clone()),
                o.failed,
                o.deleting
            )
        })
        .collect();
    rows.sort();
    sha256(&rows.iter().map(String::as_str).collect::<Vec<_>>())
}

fn steps(plan: &Plan) -> serde_json::Value {
    serde_json::to_value(&plan.steps).unwrap_or_default()
}

/// The plan file for what was just planned.
pub fn make(s: &Session, observed: &[Observed], plan: &Plan) -> Saved {
    Saved {
        format: FORMAT.into(),
        stack: s.stack.name.clone(),
        region: s.stack.region.clone(),
        account: s.cx.scope.account.clone(),
        made: s.started,
        ttl: s.ttl.map(|t| t.as_secs()),
        file_sha256: sha256(&[s.stack.text()]),
        vars_sha256: vars_hash(s),
        observed_sha256: observed_hash(observed),
        steps: steps(plan),
    }
}

/// Write a plan file (created anew, readable by its owner only on Unix).
pub fn write(path: &Path, saved: &Saved) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(saved).unwrap_or_default();
    let cannot = |e: std::io::Error| Refusal::PlanFile {
        message: format!("cannot write the plan to {}: {e}", path.display()),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(cannot)?;
    Ok(())
}

/// Read a plan file.
pub fn read(path: &Path) -> Result<Saved, Error> {
    let bad = |m: String| -> Error {
        Refusal::PlanFile {
            message: format!("{}: {m}", path.display()),
        }
        .into()
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let saved: Saved =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a plan file: {e}")))?;
    if saved.format != FORMAT {
        return Err(bad(format!(
            "made by another version of provision ({}, this one reads {FORMAT})",
            saved.format
        )));
    }
    Ok(saved)
}

/// Why a saved plan cannot be applied now: each input that changed since it was made.
pub fn stale(s: &Session, saved: &Saved, observed: &[Observed], plan: &Plan) -> Vec<String> {
    let mut why = Vec::new();
    let (stack, region, account) = (&s.stack.name, &s.stack.region, &s.cx.scope.account);
    if (&saved.stack, &saved.region, &saved.account) != (stack, region, account) {
        why.push(format!(
            "it is for stack {} in account {}, region {} (this is stack {stack} in account {account}, region {region})",
            saved.stack, saved.account, saved.region
        ));
        return why;
    }
    if saved.file_sha256 != sha256(&[s.stack.text()]) {
        why.push(format!("the stack file {} changed", s.stack.file));
    }
    if saved.vars_sha256 != vars_hash(s) {
        why.push("the variables' values changed".into());
    }
    if saved.observed_sha256 != observed_hash(observed) {
        why.push("what exists in AWS changed".into());
    }
    if why.is_empty() && saved.steps != steps(plan) {
        why.push("the plan made now differs from the saved one".into());
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_observed_hash_ignores_order_and_sees_every_compared_field() {
        let mut a = Observed::new("vpc", "main", "vpc-1");
        a.props.insert("cidr".into(), "10.0.0.0/16".into());
        let b = Observed::new("subnet", "a", "subnet-1");
        let h = observed_hash(&[a.clone(), b.clone()]);
        assert_eq!(h, observed_hash(&[b.clone(), a.clone()]));
        let mut changed = a.clone();
        changed.props.insert("cidr".into(), "10.1.0.0/16".into());
        assert_ne!(h, observed_hash(&[changed, b.clone()]));
        let mut going = a.clone();
        going.deleting = true;
        assert_ne!(h, observed_hash(&[going, b.clone()]));
        assert_ne!(h, observed_hash(&[a]));
        assert_ne!(sha256(&["ab", "c"]), sha256(&["a", "bc"]));
    }
}
