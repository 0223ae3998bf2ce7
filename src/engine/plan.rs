//! The plan: desired (stack file) against observed (cloud), per resource and per field.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::graph::Graph;
use super::schedule::{observed_refs, schedule, Operation, ScheduleError};
use super::{resolve, Desired, Observed, Props, Registry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    #[serde(rename = "no-op")]
    NoOp,
}

impl Action {
    pub fn is_change(self) -> bool {
        self != Action::NoOp
    }
}

/// One field that differs. `after == None` means the value is only known after apply;
/// `after_known_parts` then holds what is known of it, each unknown leaf an object
/// `{"$unknown": "<resource>.<output>"}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The value is only known after apply (never the same as a null value).
    pub after_unknown: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_known_parts: Option<Value>,
    pub forces_replacement: bool,
}

/// The key of an unknown leaf in `after_known_parts`.
pub const UNKNOWN_KEY: &str = "$unknown";

/// A value with its references resolved where they can be, and each one that cannot
/// marked `{"$unknown": "<resource>.<output>"}`.
fn known_parts(v: &Value, lookup: &dyn Fn(&str, &str) -> Option<String>) -> Value {
    if let Some((name, attr)) = super::as_ref(v) {
        return match super::resolve(v, lookup) {
            Some(r) => r,
            None => serde_json::json!({ UNKNOWN_KEY: format!("{name}.{attr}") }),
        };
    }
    match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| known_parts(x, lookup)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), known_parts(x, lookup)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    /// Physical id of the existing resource (update, replace, delete, no-op).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// Why, when the fields alone do not say it (failed resource, duplicate, removed from file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The resource holds data and the step would destroy it.
    pub destroys_data: bool,
    /// When the existing resource was created (RFC 3339), where known: `down` shows it
    /// next to the id before asking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// A replacement made before the old one is deleted (`replace_creates_first`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub creates_first: bool,
}

/// What to do, per resource (`steps`), and how: the operations in the order they may
/// run (`operations`, each naming the ones it waits for).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub operations: Vec<Operation>,
    /// The existing resource of each desired name: where references resolve from.
    #[serde(skip)]
    pub existing: BTreeMap<String, Observed>,
}

#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub unchanged: usize,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action.is_change())
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for st in &self.steps {
            match st.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::NoOp => s.unchanged += 1,
            }
        }
        s
    }

    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Steps that would destroy data held by a stateful resource.
    pub fn destructive(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.destroys_data)
    }
}

/// Observed resources split into the one matching each name and the rest (duplicates,
/// or a resource of another kind under the same name), which the plan deletes.
pub struct Matched<'a> {
    pub by_name: BTreeMap<&'a str, &'a Observed>,
    pub extra: Vec<(&'a Observed, String)>,
    /// Copies with one identity that nothing tells apart (equally used, neither known to
    /// be older): which one is the stack's is not guessed.
    pub ambiguous: Vec<(&'a Observed, &'a Observed)>,
}

pub fn match_observed<'a>(desired: &[Desired], observed: &'a [Observed]) -> Matched<'a> {
    let kinds: BTreeMap<&str, &str> = desired.iter().map(|d| (d.name.as_str(), d.kind)).collect();
    let used = uses(observed);
    let mut by_name: BTreeMap<&str, &Observed> = BTreeMap::new();
    let mut extra = Vec::new();
    let mut ambiguous = Vec::new();
    for o in observed {
        if let Some(k) = kinds.get(o.name.as_str()) {
            if *k != o.kind {
                extra.push((
                    o,
                    format!("the stack file now declares {} as a {k}", o.name),
                ));
                continue;
            }
        }
        match by_name.get(o.name.as_str()).copied() {
            // The one being deleted gives way to one that is not.
            Some(first) if first.deleting && !o.deleting => {
                extra.push((first, "being deleted (an earlier run)".to_string()));
                by_name.insert(&o.name, o);
            }
            Some(_) if o.deleting => extra.push((o, "being deleted (an earlier run)".to_string())),
            // Two copies with one identity: the one the rest of the stack uses stays (a
            // copy nobody refers to, such as a decoy given the tags, is the duplicate);
            // equally used, the older stays; otherwise nothing is guessed.
            Some(first) => {
                let (a, b) = (used(first), used(o));
                let older = match (&first.created, &o.created) {
                    (Some(x), Some(y)) if x != y => Some(if x < y { first } else { o }),
                    _ => None,
                };
                let (keep, why) = if a != b {
                    (if a > b { first } else { o }, "which is in use")
                } else if let Some(keep) = older {
                    (keep, "which is older")
                } else {
                    ambiguous.push((first, o));
                    continue;
                };
                let other = if std::ptr::eq(keep, first) { o } else { first };
                extra.push((
                    other,
                    format!("duplicate of {} {} ({why})", keep.kind, keep.id),
                ));
                by_name.insert(&o.name, keep);
            }
            None => {
                by_name.insert(&o.name, o);
            }
        }
    }
    Matched {
        by_name,
        extra,
        ambiguous,
    }
}

/// How many times other observed resources refer to a resource, through any of its
/// outputs (id, ARN, ...): the copy in use of two with one identity.
fn uses(observed: &[Observed]) -> impl Fn(&Observed) -> usize + '_ {
    fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut mentions: Vec<(usize, Vec<&str>)> = Vec::new();
    for (i, o) in observed.iter().enumerate() {
        let mut s = Vec::new();
        o.props.values().for_each(|v| strings(v, &mut s));
        mentions.push((i, s));
    }
    let mut count: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for (i, s) in &mentions {
        for v in s {
            count.entry(v).or_default().insert(*i);
        }
    }
    move |o: &Observed| {
        let me = observed.iter().position(|x| std::ptr::eq(x, o));
        let mut by: BTreeSet<usize> = BTreeSet::new();
        for v in o.outputs.values() {
            if let Some(users) = count.get(v.as_str()) {
                by.extend(users.iter().filter(|u| Some(**u) != me));
            }
        }
        by.len()
    }
}

/// Order desired resources so that dependencies come first.
pub fn desired_order(desired: &[Desired]) -> Result<Vec<&Desired>, Vec<String>> {
    let mut g = Graph::new();
    for d in desired {
        g.add_node(&d.name);
        for dep in d.deps() {
            g.add_edge(&d.name, &dep);
        }
    }
    let by_name: BTreeMap<&str, &Desired> = desired.iter().map(|d| (d.name.as_str(), d)).collect();
    Ok(g.topo_order()?
        .iter()
        .filter_map(|n| by_name.get(n.as_str()).copied())
        .collect())
}

/// Compute the plan. `desired` must be free of cycles and dangling references (the model
/// validates that); a reference to a name that does not exist is treated as unknown.
pub fn plan(
    desired: &[Desired],
    observed: &[Observed],
    registry: &Registry,
) -> Result<Plan, ScheduleError> {
    let matched = match_observed(desired, observed);
    if let Some((a, b)) = matched.ambiguous.first() {
        return Err(ScheduleError::Ambiguous(format!(
            "{} {} and {} both carry the identity of {} {}{}, neither is used by the rest of the stack nor known to be older, so provision does not guess which one is the stack's. Delete the one that is not, or remove its provision:stack tag, then run again",
            a.kind,
            a.id,
            b.id,
            a.kind,
            a.name,
            match (&a.created, &b.created) {
                (Some(x), Some(y)) => format!(" (created {x} and {y})"),
                _ => String::new(),
            }
        )));
    }
    let order = desired_order(desired).unwrap_or_else(|_| desired.iter().collect());
    let mut actions: BTreeMap<&str, Action> = BTreeMap::new();
    let desired_kinds: BTreeMap<&str, &str> =
        desired.iter().map(|d| (d.name.as_str(), d.kind)).collect();
    let mut steps = Vec::new();

    for d in order {
        let Some(kind) = registry.get(d.kind) else {
            continue;
        };
        let current = matched.by_name.get(d.name.as_str()).copied();
        let lookup = |name: &str, attr: &str| -> Option<String> {
            let new_outputs = |n: &str| {
                desired_kinds
                    .get(n)
                    .and_then(|k| registry.get(k))
                    .is_some_and(|k| k.info().new_outputs_on_update && attr != super::ID)
            };
            match actions.get(name) {
                Some(Action::Create | Action::Replace) => None,
                Some(Action::Update) if new_outputs(name) => None,
                _ => matched
                    .by_name
                    .get(name)
                    .and_then(|o| o.outputs.get(attr).cloned()),
            }
        };
        let (known, unknown) = resolve_props(&d.props, &lookup);
        let mut resolved = known;
        // Fields only known after apply stand in with their current values while the
        // rest is normalized (a kind normalizes whole properties), then go again.
        if let Some(o) = current {
            for f in &unknown {
                if let Some(v) = o.props.get(f) {
                    resolved.insert(f.clone(), v.clone());
                }
            }
        }
        kind.normalize(&mut resolved);
        for f in &unknown {
            resolved.remove(f);
        }
        if let Some(o) = current {
            kind.settle(&mut resolved, &o.props);
        }
        let info = kind.info();
        let replace_fields = info.replace;

        let (action, changes, reason) = match current {
            None => {
                let mut changes: Vec<FieldChange> = d
                    .props
                    .keys()
                    .map(|f| FieldChange {
                        field: f.clone(),
                        before: None,
                        after: resolved.get(f).map(|v| kind.as_written(f, v)),
                        after_unknown: unknown.contains(f),
                        after_known_parts: unknown
                            .contains(f)
                            .then(|| kind.as_written(f, &known_parts(&d.props[f], &lookup))),
                        forces_replacement: false,
                    })
                    .collect();
                changes.sort_by(|a, b| a.field.cmp(&b.field));
                (Action::Create, changes, None)
            }
            Some(o) => {
                let mut changes = Vec::new();
                for f in d
                    .props
                    .keys()
                    .filter(|f| !info.write_only.contains(&f.as_str()))
                {
                    let before = o.props.get(f).cloned();
                    let after = resolved.get(f).cloned();
                    let differs = unknown.contains(f) || before != after;
                    if differs {
                        changes.push(FieldChange {
                            field: f.clone(),
                            before: before.map(|v| kind.as_written(f, &v)),
                            after: after.map(|v| kind.as_written(f, &v)),
                            after_unknown: unknown.contains(f),
                            after_known_parts: unknown
                                .contains(f)
                                .then(|| kind.as_written(f, &known_parts(&d.props[f], &lookup))),
                            forces_replacement: replace_fields.contains(&f.as_str()),
                        });
                    }
                }
                let reason = match (&o.failed, o.deleting) {
                    (_, true) => Some(
                        "being deleted (an earlier run): waited for, then created again"
                            .to_string(),
                    ),
                    (Some(r), _) => Some(format!("in a failed state: {r}")),
                    (None, false) => None,
                };
                let action = if reason.is_some() || changes.iter().any(|c| c.forces_replacement) {
                    Action::Replace
                } else if changes.is_empty() {
                    Action::NoOp
                } else {
                    Action::Update
                };
                (action, changes, reason)
            }
        };
        actions.insert(&d.name, action);
        steps.push(Step {
            kind: d.kind,
            name: d.name.clone(),
            action,
            id: current.map(|o| o.id.clone()),
            changes,
            reason,
            // What is being deleted already has no data to keep.
            destroys_data: d.stateful
                && action == Action::Replace
                && !current.is_some_and(|o| o.deleting),
            created: current.and_then(|o| o.created.clone()),
            creates_first: action == Action::Replace && kind.info().replace_creates_first,
        });
    }

    // Deletes: removed from the file, duplicates, kind changed. Dependents first.
    let desired_names: BTreeSet<&str> = desired.iter().map(|d| d.name.as_str()).collect();
    let mut doomed: Vec<(&Observed, String)> = matched
        .by_name
        .values()
        .filter(|o| !desired_names.contains(o.name.as_str()))
        .map(|o| (*o, "no longer in the stack file".to_string()))
        .collect();
    doomed.extend(matched.extra.iter().map(|(o, r)| (*o, r.clone())));
    for (o, reason) in delete_order(doomed, observed) {
        let stateful = registry.get(o.kind).is_some_and(|k| k.info().stateful);
        steps.push(Step {
            kind: o.kind,
            name: o.name.clone(),
            action: Action::Delete,
            id: Some(o.id.clone()),
            changes: Vec::new(),
            reason: Some(reason),
            destroys_data: stateful,
            created: o.created.clone(),
            creates_first: false,
        });
    }
    let operations = schedule(&steps, desired, observed, registry)?;
    let existing = matched
        .by_name
        .iter()
        .map(|(n, o)| (n.to_string(), (*o).clone()))
        .collect();
    Ok(Plan {
        steps,
        operations,
        existing,
    })
}

/// A plan that deletes everything observed (for `down`). `desired` (the stack file, when
/// there is one) adds its references and `depends_on` to the order.
pub fn teardown(
    observed: &[Observed],
    desired: &[Desired],
    registry: &Registry,
) -> Result<Plan, ScheduleError> {
    let doomed = observed.iter().map(|o| (o, String::new())).collect();
    let steps: Vec<Step> = delete_order(doomed, observed)
        .into_iter()
        .map(|(o, _)| Step {
            kind: o.kind,
            name: o.name.clone(),
            action: Action::Delete,
            id: Some(o.id.clone()),
            changes: Vec::new(),
            reason: None,
            destroys_data: registry.get(o.kind).is_some_and(|k| k.info().stateful),
            created: o.created.clone(),
            creates_first: false,
        })
        .collect();
    let operations = schedule(&steps, desired, observed, registry)?;
    Ok(Plan {
        steps,
        operations,
        existing: BTreeMap::new(),
    })
}

/// Split properties into resolved ones and the names of fields only known after apply.
pub fn resolve_props(
    props: &Props,
    lookup: &dyn Fn(&str, &str) -> Option<String>,
) -> (Props, BTreeSet<String>) {
    let mut known = Props::new();
    let mut unknown = BTreeSet::new();
    for (k, v) in props {
        match resolve(v, lookup) {
            Some(r) => {
                known.insert(k.clone(), r);
            }
            None => {
                unknown.insert(k.clone());
            }
        }
    }
    (known, unknown)
}

fn delete_order<'a>(
    doomed: Vec<(&'a Observed, String)>,
    observed: &[Observed],
) -> Vec<(&'a Observed, String)> {
    let refs = observed_refs(observed);
    let mut g = Graph::new();
    for (o, _) in &doomed {
        g.add_node(&o.name);
        for t in refs.get(&o.name).into_iter().flatten() {
            g.add_edge(&o.name, t);
        }
    }
    let order = g.topo_order().unwrap_or_default();
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut doomed = doomed;
    // Dependents (high rank) first.
    doomed.sort_by_key(|(o, _)| std::cmp::Reverse(rank.get(o.name.as_str()).copied().unwrap_or(0)));
    doomed
}
