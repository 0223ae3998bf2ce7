//! The human view: plans, reports, drift, status, call statistics and progress as text;
//! results on stdout, progress, questions and errors on stderr.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::aws::StatsReport;
use crate::engine::apply::{Event, OpKind, OpResult, Progress, Report};
use crate::engine::plan::{Action, FieldChange, Plan, Step, UNKNOWN_KEY};
use crate::engine::{CloudError, Observed};
use crate::flows::{Error, Outcome, Place, Refusal, StackOutput, View};
use crate::lock::Holder;
use crate::model::Invalid;
use crate::view::ColorChoice;
use crate::view::{differences, drifted_itself, never_deployed};

const UNKNOWN: &str = "(known after apply)";

static COLOR: std::sync::OnceLock<ColorChoice> = std::sync::OnceLock::new();

/// The `--color` choice, for the rest of the process.
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// Whether a stream gets colours: as chosen, or, on auto, when it is a terminal and
/// NO_COLOR is not set (or empty).
pub fn colour_for(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        // no-color.org: NO_COLOR counts when it is set and not empty.
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// Colours on standard output (plans, reports).
fn color() -> bool {
    colour_for(
        COLOR.get().copied().unwrap_or(ColorChoice::Auto),
        std::io::stdout().is_terminal(),
    )
}

/// Colours on standard error (errors, questions).
fn color_err() -> bool {
    colour_for(
        COLOR.get().copied().unwrap_or(ColorChoice::Auto),
        std::io::stderr().is_terminal(),
    )
}

/// `s` in colour on standard error.
fn paint_err(s: &str, code: &str) -> String {
    if color_err() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn paint(s: &str, code: &str) -> String {
    if color() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn symbol(a: Action) -> String {
    match a {
        Action::Create => paint("+", "32"),
        Action::Update => paint("~", "33"),
        Action::Replace => paint("-/+", "35"),
        Action::Delete => paint("-", "31"),
        Action::NoOp => " ".into(),
    }
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update in place",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::NoOp => "no change",
    }
}

/// A value on one line.
fn show(v: &Option<Value>) -> String {
    match v {
        None => UNKNOWN.to_string(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(Value::Null) => "null".into(),
        Some(v) => v.to_string(),
    }
}

/// A value with unknown leaves (`after_known_parts`): what is known shown as it is, each
/// unknown leaf as `(known after apply: <resource>.<output>)`.
fn show_known_parts(v: &Value) -> String {
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key(UNKNOWN_KEY) => format!(
            "(known after apply: {})",
            o[UNKNOWN_KEY].as_str().unwrap_or("?")
        ),
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, x)| format!("{k:?}: {}", show_known_parts(x)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(show_known_parts).collect();
            format!("[{}]", items.join(", "))
        }
        other => show(&Some(other.clone())),
    }
}

/// What a change sets: its value, or what is known of it.
fn show_after(c: &FieldChange) -> String {
    match (&c.after, &c.after_known_parts) {
        (None, Some(parts)) => show_known_parts(parts),
        (after, _) => show(after),
    }
}

/// Lines describing one field change, diff-style: maps key by key, lists item by item.
fn field_lines(c: &FieldChange, creating: bool) -> Vec<String> {
    let tag = if c.forces_replacement {
        paint("  # forces replacement", "35")
    } else {
        String::new()
    };
    if creating {
        return vec![format!("      {} = {}", c.field, show_after(c))];
    }
    match (&c.before, &c.after) {
        // Maps and lists: down to the leaf (or list item) that changed, each on its line,
        // with its path inside the field.
        (Some(b), Some(a))
            if (b.is_object() && a.is_object()) || (b.is_array() && a.is_array()) =>
        {
            let (open, close) = if a.is_object() {
                ("{", "}")
            } else {
                ("[", "]")
            };
            let mut out = vec![format!("      ~ {} {open}{tag}", c.field)];
            for d in differences(c) {
                let path = d
                    .field
                    .strip_prefix(&c.field)
                    .map(|p| p.trim_start_matches('.'))
                    .filter(|p| !p.is_empty())
                    .map(|p| format!("{p}: "))
                    .unwrap_or_default();
                let value = |v: &Value| show(&Some(v.clone()));
                out.push(match (&d.file, &d.aws) {
                    (Some(f), Some(a)) => {
                        format!(
                            "          {} {path}{} -> {}",
                            paint("~", "33"),
                            value(a),
                            value(f)
                        )
                    }
                    (Some(f), None) => format!("          {} {path}{}", paint("+", "32"), value(f)),
                    (None, Some(a)) => format!("          {} {path}{}", paint("-", "31"), value(a)),
                    (None, None) => continue,
                });
            }
            out.push(format!("        {close}"));
            out
        }
        // A list whose new items are partly known after apply: the items that go and
        // the items that come, each on its line.
        (Some(Value::Array(before)), None) => {
            let Some(Value::Array(after)) = &c.after_known_parts else {
                return vec![format!(
                    "      ~ {}: {} -> {}{tag}",
                    c.field,
                    show(&c.before),
                    show_after(c)
                )];
            };
            let mut out = vec![format!("      ~ {} [{tag}", c.field)];
            for b in before.iter().filter(|b| !after.contains(b)) {
                out.push(format!(
                    "          {} {}",
                    paint("-", "31"),
                    show(&Some(b.clone()))
                ));
            }
            for a in after.iter().filter(|a| !before.contains(a)) {
                out.push(format!(
                    "          {} {}",
                    paint("+", "32"),
                    show_known_parts(a)
                ));
            }
            out.push("        ]".into());
            out
        }
        _ => vec![format!(
            "      ~ {}: {} -> {}{tag}",
            c.field,
            show(&c.before),
            show_after(c)
        )],
    }
}

/// Tags every resource of a plan carries alike (the stack's `tags:` and `provision:stack`),
/// told once in the plan's header instead of on every resource.
fn common_tags(steps: &[&Step]) -> BTreeMap<String, Value> {
    let mut common: Option<BTreeMap<String, Value>> = None;
    for s in steps.iter().filter(|s| s.action == Action::Create) {
        let Some(Value::Object(tags)) = s
            .changes
            .iter()
            .find(|c| c.field == "tags")
            .and_then(|c| c.after.as_ref())
        else {
            continue;
        };
        let these: BTreeMap<String, Value> = tags
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "Name" | "provision:name"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        common = Some(match common {
            None => these,
            Some(c) => c
                .into_iter()
                .filter(|(k, v)| these.get(k) == Some(v))
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// A created resource's tags without what the header tells once: the common tags, its
/// identity tag, and a `Name` that is the usual `<stack>-<name>`.
fn own_tags(
    c: &FieldChange,
    s: &Step,
    place: &Place,
    common: &BTreeMap<String, Value>,
) -> Option<Value> {
    let stack = place.stack.as_str();
    let Some(Value::Object(tags)) = &c.after else {
        return c.after.clone();
    };
    let own: serde_json::Map<String, Value> = tags
        .iter()
        .filter(|(k, v)| common.get(*k) != Some(v))
        .filter(|(k, v)| !(k.as_str() == "provision:name" && v.as_str() == Some(&s.name)))
        .filter(|(k, v)| {
            !(k.as_str() == "provision:region" && v.as_str() == Some(place.region.as_str()))
        })
        .filter(|(k, v)| {
            !(k.as_str() == "Name" && v.as_str() == Some(&format!("{stack}-{}", s.name)))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!own.is_empty()).then_some(Value::Object(own))
}

/// A long map or list as an indented block, one key or item per line.
fn block(v: &Value, indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    let inline = |x: &Value| show_known_parts(x);
    match v {
        Value::Object(o) if !(o.len() == 1 && o.contains_key(UNKNOWN_KEY)) => {
            for (k, x) in o {
                let text = inline(x);
                if text.len() <= 70 || !(x.is_object() || x.is_array()) {
                    out.push(format!("{pad}{k}: {text}"));
                } else {
                    out.push(format!("{pad}{k}:"));
                    block(x, indent + 2, out);
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                let text = inline(x);
                if text.len() <= 70 || !(x.is_object() || x.is_array()) {
                    out.push(format!("{pad}- {text}"));
                } else {
                    // YAML's way: the item's first line on the dash.
                    let mut item = Vec::new();
                    block(x, indent + 2, &mut item);
                    for (i, l) in item.into_iter().enumerate() {
                        if i == 0 {
                            out.push(format!("{pad}- {}", l.trim_start()));
                        } else {
                            out.push(l);
                        }
                    }
                }
            }
        }
        other => out.push(format!("{pad}{}", inline(other))),
    }
}

/// A created resource's field: inline when short, else as a block.
fn created_field_lines(field: &str, value: &Value) -> Vec<String> {
    let text = show_known_parts(value);
    if text.len() <= 90 || !(value.is_object() || value.is_array()) {
        return vec![format!("      {field} = {text}")];
    }
    let mut out = vec![format!("      {field}:")];
    block(value, 8, &mut out);
    out
}

/// `2026-11-28T17:40:12Z` as `2026-11-28 17:40 UTC`.
fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) if rfc3339.ends_with('Z') => format!("{day} {time} UTC"),
        _ => rfc3339.to_string(),
    }
}

/// A step's sign and verb: a replacement made before the old one goes reads so.
fn action_words(s: &Step) -> (String, &'static str) {
    if s.creates_first {
        (
            paint("+/-", "35"),
            "replace (the new one first, then the old one is deleted)",
        )
    } else {
        (symbol(s.action), verb(s.action))
    }
}

fn step_lines(s: &Step, place: Option<&Place>, common: &BTreeMap<String, Value>) -> Vec<String> {
    // What goes away is shown with its creation time, to tell it from a look-alike.
    let created = s
        .created
        .as_deref()
        .filter(|_| matches!(s.action, Action::Delete | Action::Replace))
        .map(|c| format!(", created {}", when(c)))
        .unwrap_or_default();
    let id =
        s.id.as_deref()
            .map(|i| format!(" ({i}{created})"))
            .unwrap_or_default();
    let (sign, verb) = action_words(s);
    let mut out = vec![format!("  {sign} {} {}{id}: {verb}", s.kind, s.name)];
    if let Some(r) = &s.reason {
        if !r.is_empty() {
            out.push(format!("      # {r}"));
        }
    }
    if s.destroys_data {
        out.push(paint("      ! destroys the data it holds", "31;1"));
    }
    for c in &s.changes {
        if s.action != Action::Create {
            out.extend(field_lines(c, false));
            continue;
        }
        let value = if let (Some(place), "tags") = (place, c.field.as_str()) {
            match own_tags(c, s, place, common) {
                Some(v) => Some(v),
                None => continue,
            }
        } else {
            c.after.clone().or_else(|| c.after_known_parts.clone())
        };
        match value {
            Some(v) => out.extend(created_field_lines(&c.field, &v)),
            None => out.extend(field_lines(c, true)),
        }
    }
    out
}

pub fn plan_text(plan: &Plan, place: &Place) -> String {
    let mut changes: Vec<&Step> = plan.steps.iter().filter(|s| s.action.is_change()).collect();
    // The file's order; what the file no longer has (deletes) last.
    changes.sort_by_key(|s| {
        (
            place.lines.get(&s.name).copied().unwrap_or(usize::MAX),
            s.name.clone(),
        )
    });
    let sum = plan.summary();
    if changes.is_empty() {
        return format!(
            "No changes: the {} resources of {place} match the stack file.\n",
            sum.unchanged
        );
    }
    let mut out = format!("Plan for {place}:\n");
    out.push_str(&format!(
        "  ({} create, {} update in place, {} replace, {} delete; \"known after apply: x.id\" is set once x exists)\n",
        symbol(Action::Create),
        symbol(Action::Update),
        symbol(Action::Replace),
        symbol(Action::Delete)
    ));
    let common = common_tags(&changes);
    if !common.is_empty() {
        let tags: Vec<String> = common
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect();
        let mut line = String::from("  Tags on every resource:");
        let n = tags.len();
        for (i, t) in tags.into_iter().enumerate() {
            let t = if i + 1 < n { format!("{t},") } else { t };
            if line.len() + t.len() > 92 {
                out.push_str(&line);
                out.push('\n');
                line = String::from("   ");
            }
            line.push(' ');
            line.push_str(&t);
        }
        out.push_str(&line);
        out.push_str(&format!(
            "\n    and each its own provision:name=<name> and Name={}-<name> (global ones also\n    provision:region={}), unless shown.\n",
            place.stack, place.region
        ));
    }
    for s in changes {
        let mut lines = step_lines(s, Some(place), &common);
        // A part of an entry (`alb.rules`) is shown inside it, as the file writes it.
        if let Some((entry, part)) = s.name.split_once('.') {
            if let Some(head) = lines.first_mut() {
                let (sign, verb) = action_words(s);
                *head = format!("    {sign} {part} of {entry} ({}): {verb}", s.kind);
            }
            for l in lines.iter_mut().skip(1) {
                l.insert_str(0, "  ");
            }
        }
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\n{} to create, {} to update, {} to replace, {} to delete, {} unchanged.\n",
        sum.create, sum.update, sum.replace, sum.delete, sum.unchanged
    ));
    out
}

pub fn drift_text(plan: &Plan, place: &Place) -> String {
    if never_deployed(plan) {
        return format!(
            "Nothing of {place} exists: it is not deployed (`provision up` creates it).\n"
        );
    }
    let (drifted, following): (Vec<&Step>, Vec<&Step>) = plan
        .steps
        .iter()
        .filter(|s| s.action.is_change())
        .partition(|s| drifted_itself(s));
    if drifted.is_empty() {
        return format!("No drift: the resources of {place} match the stack file.\n");
    }
    let mut out = format!(
        "Drift in {place}: {} resource(s) differ from the stack file.\n",
        drifted.len()
    );
    let value = |v: &Value| show(&Some(v.clone()));
    for s in drifted {
        let id =
            s.id.as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default();
        let what = match s.action {
            Action::Create => ": missing from AWS",
            Action::Delete => ": in AWS, not in the stack file",
            _ => "",
        };
        out.push_str(&format!(
            "  {} {} {}{id}{what}\n",
            symbol(s.action),
            s.kind,
            s.name
        ));
        if let Some(r) = s.reason.as_ref().filter(|r| !r.is_empty()) {
            out.push_str(&format!("      # {r}\n"));
        }
        if matches!(s.action, Action::Create | Action::Delete) {
            continue;
        }
        for c in &s.changes {
            for d in differences(c) {
                let line = match (&d.file, &d.aws) {
                    (Some(f), Some(a)) => {
                        format!("the file says {}, AWS has {}", value(f), value(a))
                    }
                    (Some(f), None) => format!("the file has {}, AWS does not", value(f)),
                    (None, Some(a)) => format!("AWS has {}, the file does not", value(a)),
                    (None, None) => continue,
                };
                let tag = if c.forces_replacement {
                    " (forces replacement)"
                } else {
                    ""
                };
                out.push_str(&format!("      {}: {line}{tag}\n", d.field));
            }
        }
    }
    if !following.is_empty() {
        let names: Vec<String> = following
            .iter()
            .map(|s| format!("{} {}", s.kind, s.name))
            .collect();
        out.push_str(&format!(
            "  (also changed by `up`, through what differs above: {})\n",
            names.join(", ")
        ));
    }
    out.push_str("`provision up` brings AWS back to the stack file.\n");
    out
}

pub fn report_text(report: &Report) -> String {
    let mut out = String::new();
    let done = report.done().count();
    let failed: Vec<_> = report.failed().collect();
    let not_started: Vec<_> = report.not_started().collect();
    for o in report.kept() {
        if let OpResult::Kept { reason, .. } = &o.result {
            out.push_str(&format!("kept: {} {}: {reason}\n", o.kind, o.name));
        }
    }
    let mut hints: Vec<String> = Vec::new();
    for o in &failed {
        if let OpResult::Failed { error, code } = &o.result {
            out.push_str(&format!(
                "failed: {} {} {}: {error}\n",
                op_word(o.op),
                o.kind,
                o.name
            ));
            if let Some(h) = code.as_deref().and_then(crate::aws::advice) {
                if !hints.contains(&h) {
                    hints.push(h);
                }
            }
        }
    }
    for h in hints {
        out.push_str(&format!("  hint: {h}\n"));
    }
    if !not_started.is_empty() {
        let names: Vec<String> = not_started
            .iter()
            .map(|o| format!("{} {}", op_word(o.op), o.name))
            .collect();
        out.push_str(&format!("not done: {}\n", names.join(", ")));
    }
    let settling: Vec<String> = report
        .settling()
        .filter_map(|o| match &o.result {
            OpResult::Settling { status, .. } => Some(format!(
                "{} {} {} ({status})",
                op_word(o.op),
                o.kind,
                o.name
            )),
            _ => None,
        })
        .collect();
    if !settling.is_empty() {
        out.push_str(&format!(
            "still settling in AWS (it carries on; the next run picks up from there): {}\n",
            settling.join(", ")
        ));
    }
    if report.interrupted {
        out.push_str(
            "Interrupted: no new work was started after the interrupt, and waits ended.\n",
        );
    }
    if failed.is_empty() && not_started.is_empty() && settling.is_empty() {
        out.push_str(&format!("Done: {done} operation(s) applied.\n"));
    } else {
        out.push_str(&format!(
            "{done} operation(s) applied, {} failed, {} settling, {} not done. Run the command again to continue from what exists.\n",
            failed.len(),
            settling.len(),
            not_started.len()
        ));
    }
    out
}

fn op_word(op: OpKind) -> &'static str {
    match op {
        OpKind::Create => "create",
        OpKind::Update => "update",
        OpKind::Delete => "delete",
    }
}

pub fn status_text(observed: &[Observed], settling: &BTreeMap<String, String>) -> String {
    if observed.is_empty() {
        return "Nothing of this stack exists.\n".into();
    }
    let mut out = String::new();
    let w = observed.iter().map(|o| o.kind.len()).max().unwrap_or(0);
    let n = observed.iter().map(|o| o.name.len()).max().unwrap_or(0);
    for o in observed {
        let now = settling.get(&format!("{} {}", o.kind, o.name));
        let state = o
            .failed
            .as_deref()
            .map(|f| format!("failed: {f}"))
            .or_else(|| now.map(|s| format!("not ready: {s}")))
            .unwrap_or_else(|| match o.outputs.get("pending_confirmation") {
                // Nothing is delivered to them until the link AWS sent is followed.
                Some(p) if !p.is_empty() => format!("ok; not yet confirmed by {p}"),
                _ => "ok".into(),
            });
        out.push_str(&format!(
            "  {:w$}  {:n$}  {}  {state}\n",
            o.kind, o.name, o.id
        ));
    }
    out
}

/// The stack's outputs, aligned: `  cdn.url      https://d111.cloudfront.net`.
pub fn outputs_text(outputs: &[StackOutput]) -> String {
    if outputs.is_empty() {
        return String::new();
    }
    let w = outputs.iter().map(|o| o.name.len()).max().unwrap_or(0);
    let mut out = String::from("Outputs:\n");
    for o in outputs {
        out.push_str(&format!("  {:w$}  {}\n", o.name, o.value));
    }
    out
}

pub fn stats_text(s: &StatsReport) -> String {
    let mut out = format!(
        "AWS calls: {} ({} reads, {} writes, {} attempts with retries; at most {} in flight)\n",
        s.reads + s.writes,
        s.reads,
        s.writes,
        s.attempts,
        s.peak_in_flight
    );
    for o in &s.operations {
        out.push_str(&format!(
            "  {:5}  {:>4}  {}:{}\n",
            if o.write { "write" } else { "read" },
            o.calls,
            o.service,
            o.operation
        ));
    }
    out
}

pub fn invalid_text(i: &Invalid) -> String {
    let mut out = String::new();
    for d in &i.diagnostics {
        out.push_str(&format!("{} {d}\n", paint_err("error:", "31;1")));
    }
    out.push_str(&format!(
        "{} problem(s) found; {}.\n",
        i.diagnostics.len(),
        if i.from_aws {
            "nothing was changed"
        } else {
            "nothing was sent to AWS"
        }
    ));
    out
}

/// On a terminal, a live view (indicatif): an overall bar "n/m operations" and a spinner
/// for each operation in flight with AWS's status and its time; the lines of ends stay
/// above it.
pub struct Live {
    multi: indicatif::MultiProgress,
    overall: Mutex<Option<indicatif::ProgressBar>>,
    running: Mutex<BTreeMap<String, indicatif::ProgressBar>>,
}

impl Live {
    pub fn new(target: indicatif::ProgressDrawTarget) -> Live {
        Live {
            multi: indicatif::MultiProgress::with_draw_target(target),
            overall: Mutex::new(None),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    fn planned(&self, operations: usize) {
        let bar = self
            .multi
            .add(indicatif::ProgressBar::new(operations as u64));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} {pos}/{len} operations",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        if let Ok(mut o) = self.overall.lock() {
            *o = Some(bar);
        }
    }

    fn started(&self, key: String, what: String) {
        let bar = self
            .multi
            .insert_from_back(1, indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(what);
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut r) = self.running.lock() {
            r.insert(key, bar);
        }
    }

    fn waiting(&self, key: &str, what: String) {
        if let Some(bar) = self.running.lock().ok().and_then(|r| r.get(key).cloned()) {
            bar.set_message(what);
        }
    }

    fn ended(&self, key: &str, line: &str) {
        if let Some(bar) = self.running.lock().ok().and_then(|mut r| r.remove(key)) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        if let Some(o) = self.overall.lock().ok().and_then(|o| o.clone()) {
            o.inc(1);
            if o.position() >= o.length().unwrap_or(0) {
                o.finish_and_clear();
            }
        }
        let _ = self.multi.println(line);
    }

    /// Operations ended so far, and in flight.
    pub fn counts(&self) -> (u64, usize) {
        let ended = self
            .overall
            .lock()
            .ok()
            .and_then(|o| o.as_ref().map(|b| b.position()))
            .unwrap_or(0);
        let running = self.running.lock().map(|r| r.len()).unwrap_or(0);
        (ended, running)
    }
}

/// Progress on stderr: one line per start and end, and for waits a line when the status
/// changes or, while it stays the same, at most every 30 seconds. On a terminal, the
/// live view instead.
pub struct HumanProgress {
    live: Option<Live>,
    last: Mutex<BTreeMap<String, (String, Instant)>>,
    every: Duration,
    /// Operations ended, and planned: "[12/45]".
    ended: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
}

impl HumanProgress {
    pub fn new() -> Self {
        let terminal = std::io::stderr().is_terminal();
        HumanProgress {
            live: terminal.then(|| Live::new(indicatif::ProgressDrawTarget::stderr())),
            ended: std::sync::atomic::AtomicUsize::new(0),
            total: std::sync::atomic::AtomicUsize::new(0),
            last: Mutex::new(BTreeMap::new()),
            every: if std::io::stderr().is_terminal() {
                Duration::from_secs(10)
            } else {
                Duration::from_secs(30)
            },
        }
    }
}

impl Default for HumanProgress {
    fn default() -> Self {
        Self::new()
    }
}

/// The line an operation's end leaves (keyed `kind/name`): created, failed, kept.
fn ended(e: &Event) -> Option<(String, String)> {
    let (kind, name, line) = match e {
        Event::Finished {
            op,
            kind,
            name,
            id,
            elapsed,
        } => {
            let done = match op {
                OpKind::Create => "Created",
                OpKind::Update => "Updated",
                OpKind::Delete => "Deleted",
            };
            let secs = elapsed.as_secs_f64();
            (
                kind,
                name,
                format!("{done} {kind} {name} ({id}) in {secs:.1}s"),
            )
        }
        Event::Failed {
            op,
            kind,
            name,
            error,
        } => (
            kind,
            name,
            format!("Failed to {} {kind} {name}: {error}", op_word(*op)),
        ),
        Event::Kept {
            kind, name, reason, ..
        } => (kind, name, format!("Kept {kind} {name}: {reason}")),
        Event::Started { .. } | Event::Waiting { .. } => return None,
    };
    Some((format!("{kind}/{name}"), line))
}

impl HumanProgress {
    /// An event in the live view: spinners start, change their message and end in a
    /// line that stays.
    fn live_event(&self, live: &Live, e: Event) {
        if let Some((key, line)) = ended(&e) {
            live.ended(&key, &line);
            return;
        }
        match e {
            Event::Started { op, kind, name } => live.started(
                format!("{kind}/{name}"),
                format!("{} {kind} {name}", op_word(op)),
            ),
            Event::Waiting {
                kind, name, status, ..
            } => live.waiting(
                &format!("{kind}/{name}"),
                format!("{kind} {name}: {status}"),
            ),
            _ => {}
        }
    }

    /// "[12/45] " once an operation ends: how far the run is.
    fn count(&self) -> String {
        use std::sync::atomic::Ordering;
        let n = self.ended.fetch_add(1, Ordering::SeqCst) + 1;
        match self.total.load(Ordering::SeqCst) {
            0 => String::new(),
            total => format!("[{n}/{total}] "),
        }
    }
}

impl Progress for HumanProgress {
    fn planned(&self, operations: usize) {
        self.total
            .store(operations, std::sync::atomic::Ordering::SeqCst);
        if let Some(live) = &self.live {
            live.planned(operations);
        }
    }

    fn event(&self, e: Event) {
        if let Some(live) = &self.live {
            self.live_event(live, e);
            return;
        }
        let line = match e {
            Event::Started { op, kind, name } => {
                Some(format!("{} {kind} {name}...", capital(op_word(op))))
            }
            Event::Finished { .. } | Event::Failed { .. } | Event::Kept { .. } => {
                ended(&e).map(|(_, line)| format!("{}{line}", self.count()))
            }
            Event::Waiting {
                kind,
                name,
                status,
                elapsed,
            } => {
                let key = format!("{kind}/{name}");
                let mut last = match self.last.lock() {
                    Ok(l) => l,
                    Err(p) => p.into_inner(),
                };
                let now = Instant::now();
                let due = match last.get(&key) {
                    Some((s, t)) => *s != status || now.duration_since(*t) >= self.every,
                    None => true,
                };
                if due {
                    last.insert(key, (status.clone(), now));
                    Some(format!(
                        "  waiting for {kind} {name}: {status} ({}s elapsed)",
                        elapsed.as_secs()
                    ))
                } else {
                    None
                }
            }
        };
        if let Some(l) = line {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{l}");
        }
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Text for people, on a terminal or in a log.
pub struct Human {
    /// `--yes`: never ask.
    pub yes: bool,
    pub place: Place,
}

impl View for Human {
    fn proposal(&self, plan: &Plan) {
        print!("{}", plan_text(plan, &self.place));
    }

    fn sweep(&self, derived: &[String], forced: &[String]) {
        for b in derived {
            println!("  - {b} (made for the stack): delete");
        }
        for b in forced {
            println!("  - {b} (not the stack's, --force): delete");
        }
    }

    fn confirm(&self, question: &str) -> Result<(), Refusal> {
        ask(self.yes, question)
    }

    fn lock_waiting(&self, holder: &Holder, waited: Duration) {
        eprintln!(
            "Waiting for the stack lock, held by {} ({}s so far)",
            holder.describe(),
            waited.as_secs()
        );
    }

    fn lock_not_released(&self, error: &CloudError) {
        eprintln!("warning: could not release the stack lock ({error}); it expires by itself, or run `provision unlock`");
    }

    fn stale_lock_released(&self, holder: &Holder) {
        eprintln!(
            "Released the stack lock left by {} (that process is gone).",
            holder.describe()
        );
    }

    fn done_meanwhile(&self) {
        eprintln!("The operation waited for did everything: nothing left to do.");
    }

    fn progress(&self) -> Arc<dyn Progress> {
        Arc::new(HumanProgress::new())
    }
}

/// Ask on the terminal, unless `--yes`; refuse when nobody can answer.
pub fn ask(yes: bool, question: &str) -> Result<(), Refusal> {
    if yes {
        // Said even when not asked: the log shows what was agreed to.
        eprintln!("{question} yes (--yes)");
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Refusal::NoTerminal);
    }
    eprint!("{question} Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(Refusal::NotConfirmed)
    }
}

/// The stacks `list` found (or the expired ones `down --expired --dry-run` would take).
fn stacks_text(
    stacks: &[crate::flows::list::StackSummary],
    regions: &[String],
    dry_run: bool,
) -> String {
    let now = crate::clock::now_secs();
    let mut out = String::new();
    let in_regions = regions.join(", ");
    if stacks.is_empty() {
        let what = if dry_run {
            "No expired stack"
        } else {
            "No stack"
        };
        return format!("{what} in {in_regions}.\n");
    }
    if dry_run {
        out.push_str(&format!(
            "Expired stacks `provision down --expired` would tear down (dry run, nothing deleted), in {in_regions}:\n"
        ));
    } else {
        out.push_str(&format!("Stacks in {in_regions}:\n"));
    }
    let rows: Vec<[String; 7]> = stacks
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.region.clone(),
                s.resources.to_string(),
                s.created.clone().unwrap_or_else(|| "-".into()),
                match &s.expires {
                    Some(e) if s.expired => format!("{e} (expired)"),
                    Some(e) => crate::model::expiry::describe(e, now),
                    None => "-".into(),
                },
                s.lock.clone().unwrap_or_else(|| "-".into()),
                s.cost_per_day
                    .map(|c| format!("${c:.2}"))
                    .unwrap_or_else(|| "?".into()),
            ]
        })
        .collect();
    let head = [
        "STACK",
        "REGION",
        "RESOURCES",
        "CREATED",
        "EXPIRES",
        "LOCK",
        "COST/DAY",
    ];
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut l = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            l.push_str(&format!(" {c:<w$}", w = widths[i]));
        }
        format!("{}\n", l.trim_end())
    };
    out.push_str(&line(head.to_vec()));
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out.push_str("  Cost per day: NAT gateways, public addresses, load balancers, EKS clusters, databases and nodes by the hour; not usage, not Fargate tasks.\n");
    out
}

/// When the stack expires, as recorded on its resources.
fn expiry_text(place: &Place) -> String {
    match &place.expires {
        Some(at) => format!(
            "Expires {}: `provision down --expired` tears it down after.\n",
            crate::model::expiry::describe(at, crate::clock::now_secs())
        ),
        None => String::new(),
    }
}

/// The result of a command, on stdout (a failed `down` check also on stderr).
pub fn outcome(place: &Place, file: &str, o: &Outcome) {
    let stack = &place.stack;
    let region = &place.region;
    match o {
        Outcome::Validated { resources } => {
            println!("{file} is valid: stack {stack} in {region}, {resources} resources.")
        }
        Outcome::Stacks {
            stacks,
            regions,
            dry_run,
        } => print!("{}", stacks_text(stacks, regions, *dry_run)),
        Outcome::Planned { plan, cost, .. } => {
            print!("{}", plan_text(plan, place));
            if let Some(c) = cost {
                print!("{}", cost_change_text(c));
            }
            print!("{}", expiry_text(place));
        }
        Outcome::Document { text, written } => match written {
            Some(f) => println!("Wrote {f}."),
            None => print!("{text}"),
        },
        Outcome::Cost { estimate } => print!("{}", cost_text(estimate)),
        Outcome::Footprint { footprint } => print!("{}", footprint_text(footprint)),
        Outcome::Drift { plan } => print!("{}", drift_text(plan, place)),
        Outcome::Status {
            observed,
            lock,
            outputs,
            settling,
            missing,
        } => {
            if let Some(l) = lock {
                println!("Locked by {l}.");
            }
            println!("Status of {place}:");
            print!("{}", status_text(observed, settling));
            print!("{}", expiry_text(place));
            if !missing.is_empty() && !observed.is_empty() {
                println!(
                    "In the stack file, not in AWS ({}): {}",
                    missing.len(),
                    missing.join(", ")
                );
            }
            print!("{}", outputs_text(outputs));
        }
        Outcome::Outputs {
            outputs,
            only: Some(name),
        } => {
            // Raw, for scripts: `curl "$(provision output cdn.url)"`.
            if let Some(o) = outputs.iter().find(|o| &o.name == name) {
                println!("{}", o.value);
            }
        }
        Outcome::Outputs {
            outputs,
            only: None,
        } => {
            if outputs.is_empty() {
                println!("Stack {stack} has no outputs: nothing that shows one exists.");
            } else {
                print!("{}", outputs_text(outputs));
            }
        }
        Outcome::Applied {
            command,
            plan,
            report,
            remaining,
            artifacts,
            outputs,
        } => {
            let Some(report) = report else {
                if *command == "down" && !plan.has_changes() {
                    println!("Nothing of stack {stack} exists.");
                }
                print!("{}", outputs_text(outputs));
                print!("{}", expiry_text(place));
                return;
            };
            print!("{}", report_text(report));
            print!("{}", outputs_text(outputs));
            print!("{}", expiry_text(place));
            let leaks = remaining.as_deref().unwrap_or_default();
            if !leaks.is_empty() {
                eprintln!("error: {} resource(s) of the stack remain:", leaks.len());
                for o in leaks {
                    eprintln!("  {} {} ({})", o.kind, o.name, o.id);
                }
            } else if remaining.is_some() && report.ok() {
                let kept: Vec<&str> = report.kept().map(|o| o.name.as_str()).collect();
                println!(
                    "Nothing of stack {stack} remains{}.",
                    if kept.is_empty() {
                        String::new()
                    } else {
                        format!(" but what was kept on purpose ({})", kept.join(", "))
                    }
                );
            }
            if !artifacts.is_empty() {
                print!(
                    "{}",
                    artifacts_text(stack, artifacts, "Kept on purpose, billed until deleted")
                );
                println!(
                    "`provision snapshots --prune` deletes all but the newest of each database."
                );
            }
        }
        Outcome::Artifacts { artifacts, pruned } => {
            if !pruned.is_empty() {
                print!("{}", artifacts_text(stack, pruned, "Deleted"));
            }
            if artifacts.is_empty() {
                println!("Stack {stack} has no final snapshots.");
            } else {
                print!(
                    "{}",
                    artifacts_text(stack, artifacts, "Final snapshots, billed until deleted")
                );
            }
        }
        Outcome::Unlocked { broken: None } => println!("Stack {stack} is not locked."),
        Outcome::Unlocked {
            broken: Some(holder),
        } => println!("Stack {stack} was locked by {holder}. Lock broken."),
        Outcome::Kubeconfig {
            cluster,
            context,
            file,
        } => println!("Added context {context} for cluster {cluster} to {file}."),
        Outcome::Adopted {
            kind,
            name,
            id,
            plan,
        } => {
            println!("Adopted {kind} {id} as `{name}`: it carries the stack's tags now.");
            print!("{}", plan_text(plan, place));
            if plan.has_changes() {
                println!("`provision up` makes these changes.");
            }
        }
    }
}

/// A list of artifacts under a title: id, what it was taken from, size, date.
pub fn artifacts_text(stack: &str, artifacts: &[crate::engine::Artifact], title: &str) -> String {
    let mut out = format!("{title} (stack {stack}):\n");
    for a in artifacts {
        let size = a.size_gib.map(|g| format!(", {g} GiB")).unwrap_or_default();
        out.push_str(&format!(
            "  {} {} of {}{size}, taken {}\n",
            a.what, a.id, a.of, a.created
        ));
    }
    out
}

/// The plan's effect on the bill: `Cost: + $212.40/month (...)`, and the budgets it
/// would exceed.
pub fn cost_change_text(c: &crate::flows::CostChange) -> String {
    let delta = c.monthly_after - c.monthly_before;
    let sign = if delta < 0.0 { "-" } else { "+" };
    let mut out = format!(
        "Cost: {sign} ${:.2}/month (${:.2} to ${:.2}, {}; `provision cost` for details)\n",
        delta.abs(),
        c.monthly_before,
        c.monthly_after,
        c.usage
    );
    for (name, limit) in &c.over_budgets {
        out.push_str(&format!(
            "warning: the estimate (${:.2}/month) exceeds budget {name} (${limit:.2}/month)\n",
            c.monthly_after
        ));
    }
    out
}

/// `cost`: each resource's monthly estimate, the total against the budgets, and what
/// would lower it.
pub fn cost_text(e: &crate::report::cost::Estimate) -> String {
    let mut out = format!(
        "Monthly cost estimate, {}, {}\n(assumed: {} GB transferred, {} GB stored, {} GB of logs a month; prices: {}, read {})\n\n",
        e.region,
        e.usage.label,
        e.usage.transfer_gb,
        e.usage.stored_gb,
        e.usage.logs_gb,
        e.source,
        e.read
    );
    let width = e
        .lines
        .iter()
        .map(|l| l.name.len() + l.kind.len())
        .max()
        .unwrap_or(0)
        + 3;
    for l in &e.lines {
        let who = format!("{} ({})", l.name, l.kind);
        out.push_str(&format!(
            "  {who:<width$} {:>9}  {}\n",
            format!("${:.2}", l.monthly),
            l.detail
        ));
        if let Some(f) = &l.free_tier {
            out.push_str(&format!("  {:<width$} {:>9}  free tier: {f}\n", "", ""));
        }
    }
    out.push_str(&format!(
        "  {:<width$} {:>9}\n",
        "total",
        format!("${:.2}", e.total)
    ));
    for (name, limit) in &e.budgets {
        if e.total > *limit {
            out.push_str(&format!(
                "\nwarning: the estimate (${:.2}) exceeds budget {name} (${limit:.2} a month)\n",
                e.total
            ));
        }
    }
    if !e.unpriced.is_empty() {
        out.push_str(&format!(
            "\nNot priced (not in the table): {}\n",
            e.unpriced.join(", ")
        ));
    }
    if !e.suggestions.is_empty() {
        out.push_str("\nWhat would lower it:\n");
        for s in &e.suggestions {
            out.push_str(&format!(
                "  - {} (saves ${:.2} a month)\n",
                s.change, s.saving
            ));
        }
    }
    out
}

/// `footprint`: Boavizta's figures per resource, the total, and what it does not cover.
pub fn footprint_text(f: &crate::report::footprint::Footprint) -> String {
    let mut out = format!(
        "Monthly footprint, {} (grid {}), {}; computed by Boavizta at {}\n\n",
        f.region, f.location, f.usage.label, f.api
    );
    let width = f
        .lines
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(5)
        .max(5)
        + 2;
    out.push_str(&format!(
        "  {:<width$} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "", "embodied", "use", "kgCO2eq", "MJ", "kgSbeq"
    ));
    let row = |name: &str, i: &crate::report::footprint::Impacts| {
        format!(
            "  {name:<width$} {:>10.2} {:>10.2} {:>10.2} {:>10.1} {:>10.2e}\n",
            i.gwp_kg.embedded,
            i.gwp_kg.usage,
            i.gwp_kg.total(),
            i.pe_mj.total(),
            i.adp_kgsb.total()
        )
    };
    for l in &f.lines {
        out.push_str(&row(&l.name, &l.impacts));
        out.push_str(&format!("  {:<width$} counted as {}\n", "", l.method));
    }
    out.push_str(&row("total", &f.total));
    if !f.not_covered.is_empty() {
        out.push_str("\nNot covered by Boavizta (not estimated):\n");
        for n in &f.not_covered {
            out.push_str(&format!("  - {} ({}): {}\n", n.name, n.kind, n.reason));
        }
    }
    out
}

/// The one report of a failure, on stderr.
pub fn failure(e: &Error) {
    match e {
        Error::Invalid(i) => eprint!("{}", invalid_text(i)),
        Error::Cloud(c) => {
            eprintln!("error: {c}");
            if let Some(hint) = c.code.as_deref().and_then(crate::aws::advice) {
                eprintln!("  hint: {hint}");
            }
        }
        other => eprintln!("error: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_view_counts_what_ended_and_shows_what_is_in_flight() {
        let progress = HumanProgress {
            live: Some(Live::new(indicatif::ProgressDrawTarget::hidden())),
            ..HumanProgress::new()
        };
        let live = progress.live.as_ref().expect("live");
        progress.planned(3);
        for name in ["a", "b"] {
            progress.event(Event::Started {
                op: OpKind::Create,
                kind: "subnet",
                name: name.into(),
            });
        }
        progress.event(Event::Waiting {
            kind: "subnet",
            name: "a".into(),
            status: "pending".into(),
            elapsed: Duration::from_secs(3),
        });
        assert_eq!(live.counts(), (0, 2));
        progress.event(Event::Finished {
            op: OpKind::Create,
            kind: "subnet",
            name: "a".into(),
            id: "subnet-1".into(),
            elapsed: Duration::from_secs(4),
        });
        assert_eq!(live.counts(), (1, 1));
        progress.event(Event::Failed {
            op: OpKind::Create,
            kind: "subnet",
            name: "b".into(),
            error: CloudError::new("ec2:CreateSubnet", "refused"),
        });
        assert_eq!(live.counts(), (2, 0));
    }

    #[test]
    fn status_names_the_subscribers_who_have_not_confirmed() {
        let mut topic = Observed::new("sns_topic", "alerts", "arn:aws:sns:eu-west-3:1:app-alerts");
        topic
            .outputs
            .insert("pending_confirmation".into(), "team@example.com".into());
        let mut confirmed = topic.clone();
        confirmed
            .outputs
            .insert("pending_confirmation".into(), String::new());
        let text = status_text(&[topic, confirmed], &BTreeMap::new());
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with("ok; not yet confirmed by team@example.com"),
            "{text}"
        );
        assert!(lines[1].ends_with("  ok"), "{text}");
    }
}
