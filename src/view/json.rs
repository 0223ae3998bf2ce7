//! The JSON view (`--json`): one document on stdout at the end, nothing before; the same
//! document shapes as before the views were split out.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::aws::StatsReport;
use crate::engine::apply::{Event, Progress};
use crate::engine::plan::Plan;
use crate::engine::CloudError;
use crate::flows::{Error, Outcome, Place, Refusal, StackOutput, View};
use crate::lock::Holder;

/// Machine-readable output.
pub struct Json {
    /// `--yes`: never ask.
    pub yes: bool,
}

impl View for Json {
    fn proposal(&self, _plan: &Plan) {}

    fn sweep(&self, _derived: &[String], _forced: &[String]) {}

    fn confirm(&self, question: &str) -> Result<(), Refusal> {
        super::human::ask(self.yes, question)
    }

    fn lock_waiting(&self, _holder: &Holder, _waited: Duration) {}

    fn lock_not_released(&self, error: &CloudError) {
        tracing::warn!("could not release the stack lock: {error}");
    }

    fn stale_lock_released(&self, holder: &Holder) {
        tracing::warn!("released the stack lock left by {}", holder.describe());
    }

    fn done_meanwhile(&self) {
        tracing::info!("the operation waited for did everything");
    }

    fn progress(&self) -> Arc<dyn Progress> {
        Arc::new(Lines)
    }
}

/// The version of the documents `--json` prints (docs/json.md); raised when a field
/// changes meaning or goes away, not when one is added.
pub const FORMAT_VERSION: u32 = 1;

/// Progress as it happens, one JSON object per line on stdout (NDJSON), before the
/// command's result.
struct Lines;

impl Progress for Lines {
    fn event(&self, e: Event) {
        let doc = match e {
            Event::Started { op, kind, name } => {
                json!({"event": "started", "op": op, "kind": kind, "name": name})
            }
            Event::Waiting {
                kind,
                name,
                status,
                elapsed,
            } => {
                json!({"event": "waiting", "kind": kind, "name": name, "status": status, "elapsed_seconds": elapsed.as_secs()})
            }
            Event::Finished {
                op,
                kind,
                name,
                id,
                elapsed,
            } => {
                json!({"event": "finished", "op": op, "kind": kind, "name": name, "id": id, "elapsed_seconds": elapsed.as_secs()})
            }
            Event::Failed {
                op,
                kind,
                name,
                error,
            } => {
                json!({"event": "failed", "op": op, "kind": kind, "name": name, "error": error.to_string(), "code": error.code})
            }
            Event::Kept {
                kind,
                name,
                id,
                reason,
            } => json!({"event": "kept", "kind": kind, "name": name, "id": id, "reason": reason}),
        };
        println!("{doc}");
    }
}

/// The document for a command's result, with where it was made (account, region).
pub fn outcome(place: &Place, file: &str, o: &Outcome) -> Value {
    let mut doc = body(&place.stack, &place.region, file, o);
    if let Value::Object(m) = &mut doc {
        m.insert("account".into(), json!(place.account));
        if !place.region.is_empty() {
            m.insert("region".into(), json!(place.region));
        }
        if let Some(at) = &place.expires {
            m.insert("expires".into(), json!(at));
        }
    }
    doc
}

fn body(stack: &str, region: &str, file: &str, o: &Outcome) -> Value {
    match o {
        Outcome::Validated { resources } => {
            json!({"ok": true, "file": file, "stack": stack, "region": region, "resources": resources})
        }
        Outcome::Stacks {
            stacks,
            regions,
            dry_run,
        } => json!({"ok": true, "regions": regions, "stacks": stacks, "dry_run": dry_run}),
        Outcome::Planned { plan, cost, .. } => {
            json!({"ok": true, "stack": stack, "summary": plan.summary(), "plan": plan, "cost": cost})
        }
        Outcome::Document { text, written } => match written {
            Some(f) => json!({"ok": true, "stack": stack, "written": f}),
            None => json!({"ok": true, "stack": stack, "document": text}),
        },
        Outcome::Cost { estimate } => json!({"ok": true, "stack": stack, "cost": estimate}),
        Outcome::Footprint { footprint } => {
            json!({"ok": true, "stack": stack, "footprint": footprint})
        }
        Outcome::Drift { plan } => {
            let drifted: Vec<_> = plan
                .steps
                .iter()
                .filter(|st| st.action.is_change())
                .map(|st| {
                    let mut doc = json!(st);
                    let differences: Vec<Value> = st
                        .changes
                        .iter()
                        .flat_map(crate::view::differences)
                        .map(|d| json!({"field": d.field, "file": d.file, "aws": d.aws}))
                        .collect();
                    doc["differences"] = json!(differences);
                    doc["drifted_itself"] = json!(crate::view::drifted_itself(st));
                    doc
                })
                .collect();
            json!({
                "ok": true,
                "stack": stack,
                "exists": !crate::view::never_deployed(plan),
                "drift": !drifted.is_empty(),
                "resources": drifted,
            })
        }
        Outcome::Outputs { outputs, only } => match only {
            Some(name) => {
                let value = outputs.iter().find(|o| &o.name == name).map(|o| &o.value);
                json!({"ok": true, "stack": stack, "name": name, "value": value})
            }
            None => json!({"ok": true, "stack": stack, "outputs": outputs_doc(outputs)}),
        },
        Outcome::Status {
            observed,
            lock,
            outputs,
            settling,
            missing,
        } => {
            let items: Vec<_> = observed
                .iter()
                .map(|o| {
                    let state = o
                        .failed
                        .as_deref()
                        .map(|f| format!("failed: {f}"))
                        .or_else(|| {
                            settling
                                .get(&format!("{} {}", o.kind, o.name))
                                .map(|s| format!("not ready: {s}"))
                        })
                        .unwrap_or_else(|| "ok".into());
                    json!({"kind": o.kind, "name": o.name, "id": o.id, "state": state, "outputs": o.outputs})
                })
                .collect();
            json!({"ok": true, "stack": stack, "lock": lock, "resources": items, "outputs": outputs_doc(outputs), "missing": missing})
        }
        Outcome::Applied {
            command,
            plan,
            report,
            remaining,
            artifacts,
            outputs,
        } => {
            let mut doc = json!({"ok": report.as_ref().is_none_or(|r| r.ok()), "command": command, "stack": stack, "summary": plan.summary(), "plan": plan});
            if let Some(r) = report {
                doc["result"] = json!(r);
            }
            if let Some(left) = remaining {
                let left: Vec<_> = left
                    .iter()
                    .map(|o| json!({"kind": o.kind, "name": o.name, "id": o.id}))
                    .collect();
                doc["remaining"] = json!(left);
            }
            if *command == "down" {
                doc["kept"] = json!(artifacts);
            } else {
                doc["outputs"] = outputs_doc(outputs);
            }
            doc
        }
        Outcome::Artifacts { artifacts, pruned } => {
            json!({"ok": true, "stack": stack, "snapshots": artifacts, "pruned": pruned})
        }
        Outcome::Unlocked { broken } => match broken {
            None => json!({"ok": true, "stack": stack, "locked": false}),
            Some(h) => json!({"ok": true, "stack": stack, "locked": false, "broken": h}),
        },
        Outcome::Kubeconfig {
            cluster,
            context,
            file,
        } => json!({"ok": true, "cluster": cluster, "context": context, "file": file}),
        Outcome::Adopted {
            kind,
            name,
            id,
            plan,
        } => json!({
            "ok": true,
            "stack": stack,
            "adopted": {"kind": kind, "name": name, "id": id},
            "summary": plan.summary(),
            "plan": plan,
        }),
    }
}

/// Outputs as one object, name to value (what `provision output --json` prints).
fn outputs_doc(outputs: &[StackOutput]) -> Value {
    Value::Object(
        outputs
            .iter()
            .map(|o| (o.name.clone(), Value::String(o.value.clone())))
            .collect(),
    )
}

/// The document for a failure.
pub fn failure(e: &Error) -> Value {
    match e {
        Error::Invalid(i) => {
            json!({"ok": false, "error": "invalid stack file", "diagnostics": i.diagnostics})
        }
        Error::Refused(r) => json!({"ok": false, "error": r.to_string(), "refusal": r}),
        Error::Cloud(c) => json!({
            "ok": false,
            "error": c.to_string(),
            "operation": c.operation,
            "code": c.code,
            "hint": c.code.as_deref().and_then(crate::aws::advice),
        }),
        other => json!({"ok": false, "error": other.to_string()}),
    }
}

/// Print a document, with the call statistics when asked.
/// Print a command's last document: one line, with the format's version.
pub fn emit(mut doc: Value, stats: Option<&StatsReport>) {
    if let Some(s) = stats {
        doc["stats"] = serde_json::to_value(s).unwrap_or_default();
    }
    if let Value::Object(m) = &mut doc {
        m.insert("format_version".into(), json!(FORMAT_VERSION));
    }
    println!("{doc}");
}
