//! Everything the user sees. The flows return outcomes and ask questions through the
//! [`crate::flows::View`] trait; the two views here are the only code that prints: text
//! for people ([`human`]) and one JSON document for scripts ([`json`]).

pub mod human;
pub mod json;

use serde_json::Value;

/// When text gets colours (`--color`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

use crate::engine::plan::{Action, FieldChange, Plan, Step};

/// Whether nothing of the stack exists: every step of the plan is a create.
pub fn never_deployed(plan: &Plan) -> bool {
    !plan.steps.is_empty() && plan.steps.iter().all(|s| s.action == Action::Create)
}

/// A step is drift of its own when one of its changes is known: a change whose file
/// value is unknown only follows from a resource that is missing or replaced.
pub fn drifted_itself(s: &Step) -> bool {
    match s.action {
        Action::Create | Action::Delete => true,
        Action::NoOp => false,
        _ => {
            s.reason.as_ref().is_some_and(|r| !r.is_empty())
                || s.changes.iter().any(|c| c.after.is_some())
        }
    }
}

/// One difference between the file and AWS: the field's path down to the leaf that
/// differs, what the file says, what AWS has (`None`: absent on that side).
pub struct Difference {
    pub field: String,
    pub file: Option<Value>,
    pub aws: Option<Value>,
}

/// The differences a change holds, leaf by leaf for maps; lists item by item.
pub fn differences(c: &FieldChange) -> Vec<Difference> {
    fn walk(path: String, file: Option<&Value>, aws: Option<&Value>, out: &mut Vec<Difference>) {
        match (file, aws) {
            (Some(Value::Object(f)), Some(Value::Object(a))) => {
                let keys: std::collections::BTreeSet<&String> = f.keys().chain(a.keys()).collect();
                for k in keys {
                    walk(format!("{path}.{k}"), f.get(k), a.get(k), out);
                }
            }
            (Some(Value::Array(f)), Some(Value::Array(a))) => {
                for x in f.iter().filter(|x| !a.contains(x)) {
                    out.push(Difference {
                        field: path.clone(),
                        file: Some(x.clone()),
                        aws: None,
                    });
                }
                for y in a.iter().filter(|y| !f.contains(y)) {
                    out.push(Difference {
                        field: path.clone(),
                        file: None,
                        aws: Some(y.clone()),
                    });
                }
            }
            (f, a) if f == a => {}
            (f, a) => out.push(Difference {
                field: path,
                file: f.cloned(),
                aws: a.cloned(),
            }),
        }
    }
    let mut out = Vec::new();
    if c.after.is_some() {
        walk(
            c.field.clone(),
            c.after.as_ref(),
            c.before.as_ref(),
            &mut out,
        );
    }
    out
}
