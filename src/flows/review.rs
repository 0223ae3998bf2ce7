//! `diagram`, `cost`, `footprint`, `report`: what a reviewer reads about the stack, from
//! the file alone (no AWS call; `footprint` asks a Boavizta server).

use std::path::{Path, PathBuf};

use super::{Error, Outcome};
use crate::engine::Desired;
use crate::model::{self, Stack};
use crate::report::cost::{self, Usage};
use crate::report::diagram::{self, Format};
use crate::report::{document, footprint, Architecture, ReportError};

fn resources(stack: &Stack) -> Vec<Desired> {
    stack.desired(&crate::kinds::models(), model::PLACEHOLDER_ACCOUNT)
}

/// `manifests`: the Kubernetes objects of the stack file (of one entry) as they will be
/// applied, one YAML document each.
pub fn manifests(stack: &Stack, entry: Option<&str>) -> Result<Outcome, Error> {
    let docs: Vec<String> = resources(stack)
        .iter()
        .filter(|d| entry.is_none_or(|e| d.name.split('.').next() == Some(e)))
        .filter_map(crate::kinds::kubernetes::object::rendered)
        .filter_map(|o| serde_yaml_ng::to_string(&o).ok())
        .collect();
    Ok(Outcome::Document {
        text: docs.iter().map(|d| format!("---\n{d}")).collect(),
        written: None,
    })
}

fn write(file: &Path, bytes: &[u8]) -> Result<String, ReportError> {
    std::fs::write(file, bytes).map_err(|e| ReportError::Write {
        file: file.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(file.display().to_string())
}

/// Render DOT to a picture with Graphviz.
fn render(dot: &str, picture: &str, file: &Path) -> Result<String, ReportError> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("dot")
        .arg(format!("-T{picture}"))
        .arg("-o")
        .arg(file)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            ReportError::Render(if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "rendering {} needs Graphviz's `dot`, which is not installed (apt install graphviz, brew install graphviz); or write .dot, .d2 or .mmd and render it elsewhere",
                    file.display()
                )
            } else {
                format!("cannot run dot: {e}")
            })
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|e| ReportError::Render(format!("dot: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| ReportError::Render(format!("dot: {e}")))?;
    if !out.status.success() {
        return Err(ReportError::Render(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(file.display().to_string())
}

pub fn diagram(
    stack: &Stack,
    format: Option<Format>,
    output: Option<&PathBuf>,
) -> Result<Outcome, Error> {
    let all = resources(stack);
    let a = Architecture::of(&stack.name, &stack.region, &all);
    let from_file = output.and_then(|f| Format::of_file(&f.to_string_lossy()));
    let format = format
        .or(from_file.map(|(f, _)| f))
        .unwrap_or(Format::Mermaid);
    let mut text = diagram::render(&a, format);
    let written = match (output, from_file.and_then(|(_, picture)| picture)) {
        (Some(file), Some(picture)) => Some(render(&text, picture, file)?),
        (Some(file), None) => {
            if file.extension().is_some_and(|e| e == "md") {
                text = format!("```mermaid\n{text}```\n");
            }
            Some(write(file, text.as_bytes())?)
        }
        (None, _) => None,
    };
    Ok(Outcome::Document { text, written })
}

pub fn estimate(stack: &Stack, usage: &Usage) -> Result<cost::Estimate, ReportError> {
    let all = resources(stack);
    Ok(cost::estimate(
        &cost::table(),
        &stack.region,
        usage,
        &cost::of_desired(&all),
    )?)
}

pub fn cost(stack: &Stack, usage: &Usage) -> Result<Outcome, Error> {
    Ok(Outcome::Cost {
        estimate: estimate(stack, usage)?,
    })
}

pub async fn footprint(
    stack: &Stack,
    usage: &Usage,
    api: &str,
    location: Option<&str>,
) -> Result<Outcome, Error> {
    let all = resources(stack);
    let f = footprint::footprint(api, &stack.region, location, usage, &cost::of_desired(&all))
        .await
        .map_err(ReportError::from)?;
    Ok(Outcome::Footprint { footprint: f })
}

pub async fn report(
    stack: &Stack,
    usage: &Usage,
    boavizta: Option<&str>,
    output: Option<&PathBuf>,
    live: Option<(&[crate::engine::Observed], &[super::StackOutput])>,
) -> Result<Outcome, Error> {
    let all = resources(stack);
    let a = Architecture::of(&stack.name, &stack.region, &all);
    let estimate = estimate(stack, usage)?;
    let f = match boavizta {
        Some(api) => Some(
            footprint::footprint(api, &stack.region, None, usage, &cost::of_desired(&all))
                .await
                .map_err(ReportError::from)?,
        ),
        None => None,
    };
    let mut text = document::markdown(&a, &all, &estimate, f.as_ref());
    if let Some((observed, outputs)) = live {
        text.push_str(&document::deployed(observed, outputs));
    }
    let written = match output {
        Some(file) if file.extension().is_some_and(|e| e == "html" || e == "htm") => {
            let page = document::html(&text, &format!("Stack {}: architecture", stack.name));
            Some(write(file, page.as_bytes())?)
        }
        Some(file) => Some(write(file, text.as_bytes())?),
        None => None,
    };
    Ok(Outcome::Document { text, written })
}
