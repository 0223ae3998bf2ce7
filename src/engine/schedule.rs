//! The schedule: a plan's steps as a graph of operations, in the order they may run.
//!
//! A replacement is two operations: delete the old, then create the new; or, for kinds
//! whose replacement can live next to the old one (`replace_creates_first`), create the
//! new, move what uses the old one to it, then delete the old. Creates and updates come
//! after what they reference; deletes come after whoever still references the doomed
//! resource lets go of it. Each ordering rule is one pass below. The executor
//! (`apply`) only runs the graph.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::graph::Graph;
use super::plan::{Action, Step};
use super::{strings_in, Desired, Observed, Registry};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    Create,
    Update,
    Delete,
}

/// One call sequence on one resource, with what must finish before it starts.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub op: OpKind,
    pub kind: &'static str,
    pub name: String,
    /// The existing resource's id (updates and deletes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Positions (in the schedule) of the operations that must finish first.
    pub after: Vec<usize>,
    /// Fields to change (updates).
    #[serde(skip)]
    pub changed: Vec<String>,
    /// The existing resource (updates and deletes).
    #[serde(skip)]
    pub current: Option<Observed>,
    /// What the stack file wants (creates and updates), references unresolved.
    #[serde(skip)]
    pub desired: Option<Desired>,
}

/// Errors that stop a plan from being scheduled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScheduleError {
    #[error("cannot order the plan: {0}")]
    Unorderable(String),
    #[error("no resource kind `{0}` is registered")]
    UnknownKind(String),
    #[error("{0}")]
    Ambiguous(String),
}

/// Operations of every changing step, ordered. `desired` gives references and
/// `depends_on`; `observed` gives what exists and who references whom.
pub fn schedule(
    steps: &[Step],
    desired: &[Desired],
    observed: &[Observed],
    registry: &Registry,
) -> Result<Vec<Operation>, ScheduleError> {
    for step in steps {
        if step.action.is_change() && registry.get(step.kind).is_none() {
            return Err(ScheduleError::UnknownKind(step.kind.to_string()));
        }
    }
    let creates_first = |kind: &str| {
        registry
            .get(kind)
            .is_some_and(|k| k.info().replace_creates_first)
    };
    let mut g = ops_from_steps(steps, desired, observed, &creates_first);
    reference_edges(&mut g, desired);
    destroy_edges(&mut g, desired, observed);
    kind_edges(&mut g, registry);
    in_order(g)
}

/// The operations being built, with indexes by resource name.
struct Draft {
    ops: Vec<Operation>,
    deps: Vec<BTreeSet<usize>>,
    /// Name -> the operation that makes the desired resource exist or up to date.
    up: BTreeMap<String, usize>,
    /// Name -> its delete operations (removed, replaced, duplicates).
    down: BTreeMap<String, Vec<usize>>,
    /// Replaced with the old one deleted first: what used it is not moved first.
    deleted_first: BTreeSet<String>,
}

impl Draft {
    fn push(&mut self, op: Operation, deps: BTreeSet<usize>) -> usize {
        self.ops.push(op);
        self.deps.push(deps);
        self.ops.len() - 1
    }
}

/// Pass 1: one operation per create, update and delete; a replacement is a delete and
/// then a create, or the other way round for kinds that allow it.
fn ops_from_steps(
    steps: &[Step],
    desired: &[Desired],
    observed: &[Observed],
    creates_first: &dyn Fn(&str) -> bool,
) -> Draft {
    let by_id: BTreeMap<(&str, &str), &Observed> = observed
        .iter()
        .map(|o| ((o.kind, o.id.as_str()), o))
        .collect();
    let desired_by_name: BTreeMap<&str, &Desired> =
        desired.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut g = Draft {
        ops: Vec::new(),
        deps: Vec::new(),
        up: BTreeMap::new(),
        down: BTreeMap::new(),
        deleted_first: BTreeSet::new(),
    };
    for step in steps {
        let current = step
            .id
            .as_deref()
            .and_then(|id| by_id.get(&(step.kind, id)).copied().cloned());
        let want = desired_by_name
            .get(step.name.as_str())
            .map(|d| (*d).clone());
        let op = |op: OpKind, current: Option<Observed>, desired: Option<Desired>| Operation {
            op,
            kind: step.kind,
            name: step.name.clone(),
            id: current.as_ref().map(|c| c.id.clone()),
            after: Vec::new(),
            changed: Vec::new(),
            current,
            desired,
        };
        match step.action {
            Action::NoOp => {}
            Action::Create | Action::Update => {
                let kind = if step.action == Action::Create {
                    OpKind::Create
                } else {
                    OpKind::Update
                };
                let mut o = op(kind, current, want);
                o.changed = step.changes.iter().map(|c| c.field.clone()).collect();
                let i = g.push(o, BTreeSet::new());
                g.up.insert(step.name.clone(), i);
            }
            Action::Replace if creates_first(step.kind) => {
                let create = g.push(op(OpKind::Create, None, want), BTreeSet::new());
                g.up.insert(step.name.clone(), create);
                let del = g.push(op(OpKind::Delete, current, None), BTreeSet::from([create]));
                g.down.entry(step.name.clone()).or_default().push(del);
            }
            Action::Replace => {
                g.deleted_first.insert(step.name.clone());
                let del = g.push(op(OpKind::Delete, current, None), BTreeSet::new());
                g.down.entry(step.name.clone()).or_default().push(del);
                let create = g.push(op(OpKind::Create, None, want), BTreeSet::from([del]));
                g.up.insert(step.name.clone(), create);
            }
            Action::Delete => {
                let del = g.push(op(OpKind::Delete, current, None), BTreeSet::new());
                g.down.entry(step.name.clone()).or_default().push(del);
            }
        }
    }
    g
}

/// Pass 2: creates and updates wait for what they reference.
fn reference_edges(g: &mut Draft, desired: &[Desired]) {
    for d in desired {
        let Some(&i) = g.up.get(&d.name) else {
            continue;
        };
        for dep in d.deps() {
            if let Some(&j) = g.up.get(&dep) {
                g.deps[i].insert(j);
            }
        }
    }
}

/// Which observed resources reference which: a property holding any output of another
/// resource (its id, ARN, name, domain...) is a reference to it. Numbers (ports) and
/// values of one or two characters are not taken as references.
pub fn observed_refs(observed: &[Observed]) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_value: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for o in observed {
        let values = std::iter::once(o.id.as_str()).chain(o.outputs.values().map(String::as_str));
        let meaningful = |v: &&str| v.len() >= 3 && !v.chars().all(|c| c.is_ascii_digit());
        for v in values.filter(meaningful) {
            by_value.entry(v).or_default().insert(o.name.as_str());
        }
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in observed {
        let mut strings = Vec::new();
        for v in o.props.values() {
            strings_in(v, &mut strings);
        }
        let entry = out.entry(o.name.clone()).or_default();
        // A value that is also the resource's own id or output names itself, not another.
        let own = |s: &str| o.id == s || o.outputs.values().any(|v| v == s);
        for s in strings.iter().filter(|s| !own(s)) {
            for target in by_value.get(s.as_str()).into_iter().flatten() {
                if *target != o.name {
                    entry.insert(target.to_string());
                }
            }
        }
    }
    out
}

/// Pass 3: a delete waits for the resources that reference the doomed one to let go of
/// it: their own delete, or (unless it is replaced with the old one deleted first, when
/// the update needs the new one) their update. References
/// are what exists (any output) and what the file says (references and `depends_on`).
fn destroy_edges(g: &mut Draft, desired: &[Desired], observed: &[Observed]) {
    let mut referenced_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in observed_refs(observed) {
        for t in targets {
            referenced_by.entry(t).or_default().insert(from.clone());
        }
    }
    for d in desired {
        for t in d.deps() {
            referenced_by.entry(t).or_default().insert(d.name.clone());
        }
    }
    let down = g.down.clone();
    for (name, dels) in &down {
        for y in referenced_by.get(name).into_iter().flatten() {
            let mut waits: Vec<usize> = down.get(y).cloned().unwrap_or_default();
            if !g.deleted_first.contains(name) {
                if let Some(&u) = g.up.get(y) {
                    if g.ops[u].op == OpKind::Update {
                        waits.push(u);
                    }
                }
            }
            for &i in dels {
                let extra: Vec<usize> = waits.iter().copied().filter(|&w| w != i).collect();
                g.deps[i].extend(extra);
            }
        }
    }
}

/// Pass 4: orderings the cloud needs that no reference shows, declared by the kinds
/// (`create_after`, `delete_after`).
fn kind_edges(g: &mut Draft, registry: &Registry) {
    let n = g.ops.len();
    for i in 0..n {
        let Some(info) = registry.get(g.ops[i].kind).map(|k| k.info()) else {
            continue;
        };
        let (op, kinds) = match g.ops[i].op {
            OpKind::Create => (OpKind::Create, info.create_after),
            OpKind::Delete => (OpKind::Delete, info.delete_after),
            OpKind::Update => continue,
        };
        for j in 0..n {
            let other = &g.ops[j];
            let matches = kinds.contains(&other.kind)
                && match op {
                    OpKind::Delete => other.op == OpKind::Delete,
                    _ => other.op != OpKind::Delete,
                };
            if j != i && matches {
                g.deps[i].insert(j);
            }
        }
    }
}

/// Pass 5: number the operations in an order that runs dependencies first; a cycle is an
/// error naming it.
fn in_order(g: Draft) -> Result<Vec<Operation>, ScheduleError> {
    // Zero-padded so that ties keep the steps' order.
    let key = |i: usize| format!("{i:08}");
    let mut graph = Graph::new();
    for (i, deps) in g.deps.iter().enumerate() {
        graph.add_node(&key(i));
        for &d in deps {
            graph.add_edge(&key(i), &key(d));
        }
    }
    let label = |i: usize| {
        let op = &g.ops[i];
        format!("{:?} {}", op.op, op.name).to_lowercase()
    };
    let order: Vec<usize> = match graph.topo_order() {
        Ok(o) => o.iter().filter_map(|i| i.parse().ok()).collect(),
        Err(cycle) => {
            let names: Vec<String> = cycle
                .iter()
                .filter_map(|i| i.parse::<usize>().ok())
                .map(label)
                .collect();
            return Err(ScheduleError::Unorderable(names.join(" -> ")));
        }
    };
    let position: BTreeMap<usize, usize> = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let mut ops = g.ops;
    let mut out = Vec::with_capacity(order.len());
    let mut taken: Vec<Option<Operation>> = ops.drain(..).map(Some).collect();
    for &i in &order {
        if let Some(mut op) = taken[i].take() {
            op.after = g.deps[i]
                .iter()
                .filter_map(|d| position.get(d).copied())
                .collect();
            op.after.sort_unstable();
            out.push(op);
        }
    }
    Ok(out)
}
