//! The stack model: reading `stack.yaml`, validating it without any AWS call, and turning it
//! into the engine's desired resources.
//!
//! Layout of the file: a header (`stack`, `region`, `tags`) and one section per resource
//! kind (`vpcs`, `subnets`, ...), each a map from resource name to its fields. Names are
//! unique across the whole file; resources refer to each other by name. Every resource
//! also accepts `tags`, `depends_on` and (for kinds that hold data) `disposable`.

pub mod expiry;
pub mod net;
pub mod schema;
pub mod source;
pub mod vars;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::engine::{reference, reference_attr, Desired, KindInfo};
use source::SourceMap;

pub const DEFAULT_REGION: &str = "eu-west-3";
/// Tag keys that give every resource its identity.
pub const TAG_STACK: &str = "provision:stack";
pub const TAG_NAME: &str = "provision:name";
/// On resources AWS keeps outside any region (roles, budgets, distributions) and on
/// globally named ones (buckets): the region the stack lives in.
pub const TAG_REGION: &str = "provision:region";
/// When provision created the resource (UTC, `2026-11-28T17:40:12Z`): written once at
/// create, never compared, shown by `down` next to the id (most EC2 answers carry no
/// creation time of their own).
pub const TAG_CREATED: &str = "provision:created";
/// Account id used for checks made before any AWS call (lengths of derived names).
pub const PLACEHOLDER_ACCOUNT: &str = "000000000000";

/// One problem in the stack file, with where it is.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub field: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": {}: {}", self.field, self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// All problems found in a stack file.
#[derive(Debug, Clone, Serialize)]
pub struct Invalid {
    pub diagnostics: Vec<Diagnostic>,
    /// Found by reading AWS's catalogs (no write was made), not from the file alone.
    #[serde(skip)]
    pub from_aws: bool,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// The model side of a resource kind: its section in the file, how an entry is parsed and
/// checked, and the desired resources it stands for.
pub trait KindModel: Sync {
    /// What the kind is: its section in the file (`subnets`), kind name (`subnet`),
    /// outputs others may reference, whether it holds data. Shared with the cloud side.
    fn info(&self) -> &'static KindInfo;
    /// Section name in the stack file (`subnets`).
    fn section(&self) -> &'static str {
        self.info().section
    }
    /// Kind name (`subnet`).
    fn kind(&self) -> &'static str {
        self.info().kind
    }
    /// Holds data: deleting or replacing it is flagged, and `disposable` is allowed.
    fn stateful(&self) -> bool {
        self.info().stateful
    }
    /// Outputs other resources may reference (`id` always; `arn`, `endpoint`, ...).
    fn outputs(&self) -> &'static [&'static str] {
        self.info().outputs
    }
    /// The JSON Schema of one entry of its section, from the type `build` parses (none for
    /// kinds that are parts of another kind's entry).
    fn schema(&self, _g: &mut schemars::SchemaGenerator) -> Option<schemars::Schema> {
        None
    }
    /// Parse and check one entry; report problems through `cx` and return what it stands for.
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml_ng::Value) -> Vec<Desired>;
    /// Checks that need the other resources (containment, overlaps).
    fn check(&self, _cx: &mut Cx, _d: &Desired, _all: &BTreeMap<String, Desired>) {}
    /// Checks among the resources of this kind taken together (overlaps), made once and
    /// kept near-linear: a stack of thousands of resources validates in seconds.
    fn check_all(&self, _cx: &mut Cx, _all: &BTreeMap<String, Desired>) {}
}

/// A parsed, valid stack file.
#[derive(Debug, Clone)]
pub struct Stack {
    pub file: String,
    pub name: String,
    pub region: String,
    pub tags: BTreeMap<String, String>,
    header: Header,
    sections: Vec<(String, serde_yaml_ng::Mapping)>,
    text: String,
    /// The variables' values, and which field took which (for diagnostics and plan files).
    pub vars: vars::Substituted,
    /// `expires:` (checked).
    pub expires: Option<expiry::Expiry>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    stack: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    expires: Option<String>,
}

/// A resource reference made by a field, checked once all resources are known.
#[derive(Debug, Clone)]
struct RefCheck {
    path: String,
    target: String,
    attr: Option<String>,
    kinds: &'static [&'static str],
}

/// Build context: where we are, and what was found wrong.
pub struct Cx<'a> {
    pub file: &'a str,
    pub stack: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    sources: &'a SourceMap,
    diags: Vec<Diagnostic>,
    refs: Vec<RefCheck>,
    /// Every name declared, with its kind, even where its entry had errors.
    declared: BTreeMap<String, &'static str>,
    /// Path prefix of the entry being built (`subnets.public-a`).
    prefix: String,
    tags: BTreeMap<String, String>,
    /// Which fields took a variable's value: said in their diagnostics.
    notes: Option<&'a vars::Substituted>,
    /// The file's sections as written, for a field one entry needs of another.
    entries: &'a [(String, serde_yaml_ng::Mapping)],
}

impl<'a> Cx<'a> {
    fn new(
        file: &'a str,
        stack: &'a str,
        region: &'a str,
        account: &'a str,
        sources: &'a SourceMap,
    ) -> Self {
        Cx {
            file,
            stack,
            region,
            account,
            sources,
            diags: Vec::new(),
            refs: Vec::new(),
            declared: BTreeMap::new(),
            prefix: String::new(),
            tags: BTreeMap::new(),
            notes: None,
            entries: &[],
        }
    }

    /// Full path of a field of the current entry.
    pub fn path(&self, field: &str) -> String {
        if field.is_empty() {
            self.prefix.clone()
        } else if self.prefix.is_empty() {
            field.to_string()
        } else if field.starts_with('[') {
            format!("{}{field}", self.prefix)
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    /// Report a problem with a field of the current entry.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        let path = self.path(field);
        self.error_at(&path, message, None);
    }

    pub fn error_hint(&mut self, field: &str, message: impl Into<String>, hint: impl Into<String>) {
        let path = self.path(field);
        self.error_at(&path, message, Some(hint.into()));
    }

    fn error_at(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let pos = self.sources.find(path);
        let hint = match (hint, self.notes.and_then(|n| n.note_for(path))) {
            (Some(h), Some(n)) => Some(format!("{h} ({n})")),
            (h, n) => h.or(n),
        };
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.col),
            field: path.to_string(),
            message: message.into(),
            hint,
        });
    }

    /// Deserialize an entry into the kind's spec type; type errors and unknown fields are
    /// reported with their path and line.
    pub fn parse<T: DeserializeOwned>(&mut self, body: serde_yaml_ng::Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(body) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut field = String::new();
                for seg in e.path().iter() {
                    match seg {
                        serde_path_to_error::Segment::Seq { index } => {
                            field.push_str(&format!("[{index}]"))
                        }
                        serde_path_to_error::Segment::Map { key } => {
                            if !field.is_empty() {
                                field.push('.');
                            }
                            field.push_str(key)
                        }
                        _ => {}
                    }
                }
                let message = e.inner().to_string();
                let hint = unknown_field_hint(&message);
                let path = self.path(&field);
                self.error_at(&path, message, hint);
                None
            }
        }
    }

    /// A reference from `field` to the resource `target`, which must be of one of `kinds`.
    pub fn reference(
        &mut self,
        field: &str,
        target: &str,
        kinds: &'static [&'static str],
    ) -> Value {
        self.refs.push(RefCheck {
            path: self.path(field),
            target: target.to_string(),
            attr: None,
            kinds,
        });
        reference(target)
    }

    /// A name of another resource that must exist (and be of one of `kinds`), without a
    /// dependency on it.
    pub fn mention(&mut self, field: &str, target: &str, kinds: &'static [&'static str]) {
        self.refs.push(RefCheck {
            path: self.path(field),
            target: target.to_string(),
            attr: None,
            kinds,
        });
    }

    /// Like [`Cx::reference`], to an output other than the id (`arn`, `endpoint`).
    pub fn reference_attr(
        &mut self,
        field: &str,
        target: &str,
        attr: &str,
        kinds: &'static [&'static str],
    ) -> Value {
        self.refs.push(RefCheck {
            path: self.path(field),
            target: target.to_string(),
            attr: Some(attr.to_string()),
            kinds,
        });
        reference_attr(target, attr)
    }

    /// A reference to an output with text appended (`objects_in: media` is the bucket ARN + `/*`).
    pub fn reference_suffixed(
        &mut self,
        field: &str,
        target: &str,
        attr: &str,
        suffix: &str,
        kinds: &'static [&'static str],
    ) -> Value {
        self.refs.push(RefCheck {
            path: self.path(field),
            target: target.to_string(),
            attr: Some(attr.to_string()),
            kinds,
        });
        crate::engine::reference_suffixed(target, attr, suffix)
    }

    /// A text field of another entry of the file as written (`oidc_providers`, `github`,
    /// `url`): for a value that cannot wait for a reference (an IAM condition key).
    pub fn entry_field(&self, section: &str, name: &str, field: &str) -> Option<String> {
        let (_, entries) = self.entries.iter().find(|(s, _)| s == section)?;
        entries.get(name)?.get(field)?.as_str().map(str::to_string)
    }

    /// The stack file's variables as text (for files the stack reads, such as manifests).
    pub fn variables(&self) -> BTreeMap<String, String> {
        self.notes
            .map(|n| {
                n.values
                    .iter()
                    .map(|(k, v)| {
                        let text = match &v.value {
                            serde_yaml_ng::Value::String(s) => s.clone(),
                            serde_yaml_ng::Value::Number(x) => x.to_string(),
                            serde_yaml_ng::Value::Bool(b) => b.to_string(),
                            _ => String::new(),
                        };
                        (k.clone(), text)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tags of the current resource: stack tags, its own, and its identity.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.tags.clone()
    }

    /// The tags of a resource that is global (or globally named): with the stack's home
    /// region, so that the same stack name in another region never claims it.
    pub fn global_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert(TAG_REGION.into(), self.region.to_string());
        tags
    }

    /// A deterministic physical name: `<stack>-<name>`.
    pub fn physical_name(&self, name: &str) -> String {
        format!("{}-{}", self.stack, name)
    }

    /// Check a value with `check`, reporting its error on `field`.
    /// Report what follows on the entry `name` of `section`.
    pub fn at(&mut self, section: &str, name: &str) {
        self.prefix = format!("{section}.{name}");
    }

    pub fn check(&mut self, field: &str, res: Result<(), String>) {
        if let Err(m) = res {
            self.error(field, m);
        }
    }
}

fn unknown_field_hint(message: &str) -> Option<String> {
    // serde: "unknown field `cidrr`, expected one of `vpc`, `cidr`" (or "expected `vpc`")
    let rest = message.strip_prefix("unknown field `")?;
    let (word, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    match net::closest(word, expected.iter().copied()) {
        Some(c) => Some(format!("did you mean `{c}`?")),
        None if !expected.is_empty() => Some(format!("allowed fields: {}", expected.join(", "))),
        None => None,
    }
}

/// Read and validate a stack file. No AWS call is made.
pub fn load(
    path: &Path,
    kinds: &[&dyn KindModel],
    inputs: &vars::Inputs,
) -> Result<Stack, Invalid> {
    let stdin = path.as_os_str() == "-";
    let file = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let read = if stdin {
        read_stdin()
    } else {
        read_bounded(path)
    };
    let text = read.map_err(|(message, hint)| Invalid {
        from_aws: false,
        diagnostics: vec![Diagnostic {
            file: file.clone(),
            line: None,
            column: None,
            field: String::new(),
            message,
            hint,
        }],
    })?;
    parse(&file, &text, kinds, inputs)
}

/// The header's fields (the rest are `vars` and resource sections).
const HEADER: [&str; 4] = ["stack", "region", "tags", "expires"];

/// The largest stack file read: a 1,000-resource stack is about 150 KB.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

fn too_big() -> (String, Option<String>) {
    (
        format!(
            "the stack file is larger than {} MiB",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
        Some("a stack file describes resources; data belongs elsewhere".into()),
    )
}

/// Read the stack file from standard input (`-f -`), with the same bounds as a file.
fn read_stdin() -> Result<String, (String, Option<String>)> {
    use std::io::{IsTerminal, Read};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err((
            "`-f -` reads the stack file from standard input, which is a terminal".into(),
            Some("pipe the file in: `cat stack.yaml | provision -f - plan`".into()),
        ));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| (format!("cannot read standard input: {e}"), None))?;
    checked_text(bytes)
}

/// Read a stack file: a regular file (a FIFO or a device would block or never end),
/// at most `MAX_FILE_BYTES`, UTF-8. Errors as (message, hint).
fn read_bounded(path: &Path) -> Result<String, (String, Option<String>)> {
    use std::io::Read;
    let cannot = |e: std::io::Error| {
        let hint = (e.kind() == std::io::ErrorKind::NotFound)
            .then(|| "pass the file with -f/--file".to_string());
        (format!("cannot read the stack file: {e}"), hint)
    };
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a pipe, socket or device)"
        };
        return Err((
            format!("cannot read the stack file: it is {what}"),
            Some("pass a YAML file with -f/--file".into()),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    checked_text(bytes)
}

/// Bytes read from a stack file: at most `MAX_FILE_BYTES`, UTF-8.
fn checked_text(bytes: Vec<u8>) -> Result<String, (String, Option<String>)> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        (
            format!(
                "the stack file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            None,
        )
    })
}

/// Parse and validate stack file text.
pub fn parse(
    file: &str,
    text: &str,
    kinds: &[&dyn KindModel],
    inputs: &vars::Inputs,
) -> Result<Stack, Invalid> {
    let region_override = inputs.region.as_deref();
    // A byte-order mark is not content; columns on line 1 stay right without it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let sources = SourceMap::index(text);
    let diag = |line: Option<usize>,
                column: Option<usize>,
                field: &str,
                message: String,
                hint: Option<String>| Diagnostic {
        file: file.to_string(),
        line,
        column,
        field: field.to_string(),
        message,
        hint,
    };
    if let Some(pos) = sources.too_deep {
        return Err(Invalid {
            from_aws: false,
            diagnostics: vec![diag(
                Some(pos.line),
                Some(pos.col),
                "",
                format!("values nest deeper than {} levels", source::MAX_DEPTH),
                Some("no field of a stack file nests that deep".into()),
            )],
        });
    }
    if !sources.duplicates.is_empty() {
        return Err(Invalid {
            from_aws: false,
            diagnostics: sources
                .duplicates
                .iter()
                .map(|(path, pos)| {
                    let key = path.rsplit('.').next().unwrap_or(path);
                    diag(
                        Some(pos.line),
                        Some(pos.col),
                        path,
                        format!("`{key}` is given twice"),
                        Some("names and fields must be unique".into()),
                    )
                })
                .collect(),
        });
    }
    let root: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
        // Some YAML errors carry no position (several documents in one file): point at the
        // start of the content then.
        let loc = e
            .location()
            .map(|l| (l.line(), l.column()))
            .or(sources.root.map(|p| (p.line, p.col)))
            .unwrap_or((1, 1));
        Invalid {
            from_aws: false,
            diagnostics: vec![diag(
                Some(loc.0),
                Some(loc.1),
                "",
                format!("not valid YAML: {e}"),
                None,
            )],
        }
    })?;
    let serde_yaml_ng::Value::Mapping(mut root) = root else {
        let pos = sources.root;
        return Err(Invalid {
        from_aws: false,
            diagnostics: vec![diag(
                Some(pos.map(|p| p.line).unwrap_or(1)),
                Some(pos.map(|p| p.col).unwrap_or(1)),
                "",
                "the stack file must be a mapping with `stack`, `region`, `tags` and resource sections".into(),
                None,
            )],
        });
    };

    let substituted = vars::substitute(file, &sources, &mut root, &inputs.vars, inputs.lenient)
        .map_err(|d| {
            let mut diagnostics = d;
            diagnostics.sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)));
            Invalid {
                diagnostics,
                from_aws: false,
            }
        })?;
    let mut diags = Vec::new();
    let mut header = serde_yaml_ng::Mapping::new();
    let mut sections = Vec::new();
    let section_names: Vec<&str> = kinds.iter().map(|k| k.section()).collect();
    for (k, v) in root {
        let Some(key) = k.as_str().map(str::to_string) else {
            diags.push(diag(
                Some(1),
                None,
                "",
                "top-level keys must be strings".into(),
                None,
            ));
            continue;
        };
        if HEADER.contains(&key.as_str()) {
            header.insert(k, v);
        } else if section_names.contains(&key.as_str()) {
            match v {
                serde_yaml_ng::Value::Mapping(m) => sections.push((key, m)),
                serde_yaml_ng::Value::Null => {}
                _ => {
                    let pos = sources.find(&key);
                    diags.push(diag(
                        pos.map(|p| p.line),
                        pos.map(|p| p.col),
                        &key,
                        "a section must map resource names to their fields".into(),
                        None,
                    ))
                }
            }
        } else {
            let pos = sources.find(&key);
            let mut candidates = section_names.clone();
            candidates.extend(HEADER);
            candidates.push("vars");
            let hint = net::closest(&key, candidates.iter().copied())
                .map(|c| format!("did you mean `{c}`?"))
                .or_else(|| Some(format!("sections: {}", section_names.join(", "))));
            diags.push(diag(
                pos.map(|p| p.line),
                pos.map(|p| p.col),
                &key,
                "unknown section".into(),
                hint,
            ));
        }
    }

    let header: Header = {
        let mut cx = Cx::new(file, "", "", PLACEHOLDER_ACCOUNT, &sources);
        cx.notes = Some(&substituted);
        let h = cx.parse::<Header>(serde_yaml_ng::Value::Mapping(header));
        diags.append(&mut cx.diags);
        match h {
            Some(h) => h,
            None => {
                return Err(Invalid {
                    diagnostics: diags,
                    from_aws: false,
                })
            }
        }
    };

    let region = region_override
        .map(str::to_string)
        .or_else(|| header.region.clone())
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let stack = Stack {
        file: file.to_string(),
        name: header.stack.clone(),
        region,
        tags: header.tags.clone(),
        expires: header
            .expires
            .as_deref()
            .and_then(|e| expiry::parse(e).ok()),
        header,
        sections,
        text: text.to_string(),
        vars: substituted.clone(),
    };
    let mut cx = Cx::new(
        file,
        &stack.name,
        &stack.region,
        PLACEHOLDER_ACCOUNT,
        &sources,
    );
    cx.diags = diags;
    cx.notes = Some(&stack.vars);
    cx.entries = &stack.sections;
    stack.check_header(&mut cx, region_override.is_some());
    let all = stack.build_into(&mut cx, kinds);
    stack.check_graph(&mut cx, kinds, &all);
    if cx.diags.is_empty() {
        Ok(stack)
    } else {
        let mut diagnostics = cx.diags;
        diagnostics.sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)));
        diagnostics.dedup();
        Err(Invalid {
            diagnostics,
            from_aws: false,
        })
    }
}

impl Stack {
    /// The file's text, as read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// A diagnostic about `field` of resource `name` in `section`, found after the file
    /// was read (a value AWS does not offer): with its line, like the validator's.
    pub fn diagnostic(
        &self,
        section: &str,
        name: &str,
        field: &str,
        message: String,
        hint: Option<String>,
    ) -> Diagnostic {
        let path = format!("{section}.{name}.{field}");
        let sources = SourceMap::index(&self.text);
        let pos = sources
            .find(&path)
            .or_else(|| sources.find(&format!("{section}.{name}")));
        let hint = match (hint, self.vars.note_for(&path)) {
            (Some(h), Some(n)) => Some(format!("{h} ({n})")),
            (h, n) => h.or(n),
        };
        Diagnostic {
            file: self.file.clone(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.col),
            field: path,
            message,
            hint,
        }
    }

    /// The line of each entry `(section, name)` of the file (the file is indexed once).
    pub fn entry_lines<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<Option<usize>> {
        let sources = SourceMap::index(&self.text);
        entries
            .into_iter()
            .map(|(section, name)| sources.find(&format!("{section}.{name}")).map(|p| p.line))
            .collect()
    }

    /// The desired resources, with names derived for `account`.
    pub fn desired(&self, kinds: &[&dyn KindModel], account: &str) -> Vec<Desired> {
        let sources = SourceMap::index(&self.text);
        let mut cx = Cx::new(&self.file, &self.name, &self.region, account, &sources);
        cx.entries = &self.sections;
        cx.notes = Some(&self.vars);
        self.build_into(&mut cx, kinds).into_values().collect()
    }

    fn check_header(&self, cx: &mut Cx, region_from_cli: bool) {
        cx.prefix.clear();
        let n = &self.name;
        let ok = !n.is_empty()
            && n.len() <= 24
            && n.starts_with(|c: char| c.is_ascii_lowercase())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            cx.error(
                "stack",
                format!("`{n}` is not a valid stack name: use 1-24 lowercase letters and digits, starting with a letter"),
            );
        } else if n.contains('-') {
            // Physical names are `<stack>-<name>` and resource names may hold hyphens: a
            // hyphen in the stack name would let two stacks make one name (`web` with
            // `b-cpu`, `web-b` with `cpu`). Without it, the first hyphen ends the stack.
            cx.error_hint(
                "stack",
                format!("`{n}` has a hyphen: resources are named `<stack>-<name>`, so a hyphen in the stack name would let two stacks make the same name"),
                format!("use letters and digits only, e.g. `{}`", n.replace('-', "")),
            );
        } else if n == "internal" {
            cx.error_hint(
                "stack",
                format!("`{n}` would make load balancer names start with `internal-`, which AWS refuses"),
                "choose another stack name",
            );
        }
        if let Err(message) = net::check_region(&self.region) {
            let known = net::KNOWN_REGIONS.iter().copied();
            let hint = net::closest(&self.region, known)
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| "regions are named like eu-west-3 or us-east-1".into());
            let field = if region_from_cli {
                "--region"
            } else {
                "region"
            };
            cx.error_hint(field, message, hint);
        }
        check_tags(cx, "tags", &self.header.tags);
        if let Some(Err(m)) = self.header.expires.as_deref().map(expiry::parse) {
            cx.error("expires", m);
        }
    }

    /// Build every entry of every section; returns desired resources by name.
    fn build_into(&self, cx: &mut Cx, kinds: &[&dyn KindModel]) -> BTreeMap<String, Desired> {
        let mut all: BTreeMap<String, Desired> = BTreeMap::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (section, entries) in &self.sections {
            let Some(kind) = kinds.iter().find(|k| k.section() == section) else {
                continue;
            };
            for (k, body) in entries {
                let Some(name) = k.as_str().map(str::to_string) else {
                    cx.prefix = section.clone();
                    cx.error("", "resource names must be strings");
                    continue;
                };
                cx.prefix = format!("{section}.{name}");
                if let Err(m) = net::check_name(&name) {
                    cx.error("", m);
                    continue;
                }
                if let Some(first) = seen.get(&name) {
                    cx.error_hint(
                        "",
                        format!("duplicate name `{name}`: already used by {first}.{name}"),
                        "names are unique across the whole stack file",
                    );
                    continue;
                }
                seen.insert(name.clone(), section.clone());
                cx.declared.insert(name.clone(), kind.kind());
                let Some(desireds) = self.build_entry(cx, *kind, &name, body.clone()) else {
                    continue;
                };
                for d in desireds {
                    all.insert(d.name.clone(), d);
                }
            }
        }
        all
    }

    fn build_entry(
        &self,
        cx: &mut Cx,
        kind: &dyn KindModel,
        name: &str,
        body: serde_yaml_ng::Value,
    ) -> Option<Vec<Desired>> {
        let mut body = match body {
            serde_yaml_ng::Value::Mapping(m) => m,
            serde_yaml_ng::Value::Null => serde_yaml_ng::Mapping::new(),
            _ => {
                cx.error("", "a resource must be a mapping of its fields");
                return None;
            }
        };
        #[derive(serde::Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct Common {
            #[serde(default)]
            tags: BTreeMap<String, String>,
            #[serde(default)]
            depends_on: Vec<String>,
            #[serde(default)]
            disposable: bool,
        }
        let mut common = serde_yaml_ng::Mapping::new();
        for key in ["tags", "depends_on", "disposable"] {
            if let Some(v) = body.remove(key) {
                common.insert(key.into(), v);
            }
        }
        let common: Common = cx.parse(serde_yaml_ng::Value::Mapping(common))?;
        check_tags(cx, "tags", &common.tags);
        if common.disposable && !kind.stateful() {
            cx.error(
                "disposable",
                format!(
                    "only resources that hold data can be marked disposable, not {} {}",
                    article(kind.kind()),
                    kind.kind()
                ),
            );
        }
        let mut tags = self.header.tags.clone();
        for k in common.tags.keys() {
            if let Some(h) = tags.keys().find(|h| h.eq_ignore_ascii_case(k) && *h != k) {
                cx.error(
                    &format!("tags.{k}"),
                    format!("tag key `{k}` and the stack's tag `{h}` differ only in case; AWS treats them as one"),
                );
            }
        }
        tags.extend(common.tags);
        // With Name and provision's own tags (up to 5), AWS allows 50 in all.
        if tags.len() + 5 > 50 {
            cx.error(
                "tags",
                format!(
                    "{} tags from the stack and this resource, and provision adds up to 5: AWS allows 50 per resource",
                    tags.len()
                ),
            );
        }
        tags.insert("Name".into(), cx.physical_name(name));
        tags.insert(TAG_STACK.into(), self.name.clone());
        tags.insert(TAG_NAME.into(), name.to_string());
        cx.tags = tags;
        let mut out = kind.build(cx, name, serde_yaml_ng::Value::Mapping(body));
        for (i, dep) in common.depends_on.iter().enumerate() {
            cx.reference(&format!("depends_on[{i}]"), dep, &[]);
        }
        for d in &mut out {
            if d.name == name {
                d.depends_on = common.depends_on.clone();
                d.stateful = kind.stateful() && !common.disposable;
            }
        }
        Some(out)
    }

    fn check_graph(&self, cx: &mut Cx, kinds: &[&dyn KindModel], all: &BTreeMap<String, Desired>) {
        let refs = std::mem::take(&mut cx.refs);
        let mut bad_ref = false;
        for r in &refs {
            cx.prefix.clear();
            let target_kind = all
                .get(&r.target)
                .map(|d| d.kind)
                .or_else(|| cx.declared.get(&r.target).copied());
            match target_kind {
                None => {
                    bad_ref = true;
                    let candidates = cx
                        .declared
                        .iter()
                        .filter(|(_, k)| r.kinds.is_empty() || r.kinds.contains(k))
                        .map(|(n, _)| n.as_str());
                    let hint =
                        net::closest(&r.target, candidates).map(|c| format!("did you mean `{c}`?"));
                    let what = if r.kinds.is_empty() {
                        "resource".to_string()
                    } else {
                        r.kinds.join(" or ")
                    };
                    cx.error_at(
                        &r.path,
                        format!("no {what} named `{}` in this stack", r.target),
                        hint,
                    );
                }
                Some(k) if !r.kinds.is_empty() && !r.kinds.contains(&k) => {
                    bad_ref = true;
                    cx.error_at(
                        &r.path,
                        format!(
                            "`{}` is {} {k}, but this field needs {} {}",
                            r.target,
                            article(k),
                            article(r.kinds[0]),
                            r.kinds.join(" or ")
                        ),
                        None,
                    );
                }
                Some(k) => {
                    let outputs = kinds
                        .iter()
                        .find(|m| m.kind() == k)
                        .map(|m| m.outputs())
                        .unwrap_or(&["id"]);
                    if let Some(a) = &r.attr {
                        if !outputs.contains(&a.as_str()) {
                            bad_ref = true;
                            cx.error_at(
                                &r.path,
                                format!("{} {k} has no output `{a}`", article(k)),
                                Some(format!(
                                    "outputs of {} {k}: {}",
                                    article(k),
                                    outputs.join(", ")
                                )),
                            );
                        }
                    }
                }
            }
        }
        if !bad_ref && cx.diags.is_empty() {
            let desired: Vec<Desired> = all.values().cloned().collect();
            if let Err(cycle) = crate::engine::plan::desired_order(&desired) {
                let first = cycle.first().cloned().unwrap_or_default();
                let path = refs
                    .iter()
                    .find(|r| {
                        r.path.split('.').nth(1) == Some(first.as_str())
                            && cycle.get(1) == Some(&r.target)
                    })
                    .map(|r| r.path.clone())
                    .unwrap_or_default();
                cx.error_at(
                    &path,
                    format!("dependency cycle: {}", cycle.join(" -> ")),
                    Some("a resource cannot depend on itself, directly or through others".into()),
                );
            }
        }
        if !bad_ref {
            check_one_vpc(cx, &refs, all);
        }
        for d in all.values() {
            if let Some(kind) = kinds.iter().find(|k| k.kind() == d.kind) {
                cx.prefix = self
                    .sections
                    .iter()
                    .find(|(s, _)| *s == kind.section())
                    .map(|(s, _)| format!("{s}.{}", d.name))
                    .unwrap_or_default();
                kind.check(cx, d, all);
            }
        }
        for kind in kinds {
            kind.check_all(cx, all);
        }
    }
}

/// The VPC a resource lives in: a VPC itself, or through its `vpc`, `subnet`,
/// `subnets`, `subnet_group` or `load_balancer` field. `None`: not in a VPC (a role, an
/// alarm), or not known from the file.
fn vpc_of(all: &BTreeMap<String, Desired>, name: &str, depth: usize) -> Option<String> {
    let d = all.get(name)?;
    if d.kind == crate::kinds::names::VPC {
        return Some(name.to_string());
    }
    if depth > 4 {
        return None;
    }
    ["vpc", "subnet", "subnets", "subnet_group", "load_balancer"]
        .iter()
        .filter_map(|f| d.props.get(*f))
        .map(|v| match v {
            Value::Array(items) => items.first().unwrap_or(&Value::Null),
            v => v,
        })
        .find_map(crate::engine::as_ref)
        .and_then(|(target, _)| vpc_of(all, target, depth + 1))
}

/// What lives in a VPC refers only to what lives in the same VPC (a rule's peer group,
/// a route's gateway, a load balancer's subnets and groups, a database's groups): AWS
/// refuses references across VPCs.
fn check_one_vpc(cx: &mut Cx, refs: &[RefCheck], all: &BTreeMap<String, Desired>) {
    for r in refs {
        let mut parts = r.path.splitn(3, '.');
        let (Some(_section), Some(owner), rest) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let field = rest.unwrap_or_default();
        if field.starts_with("depends_on") {
            continue;
        }
        let (Some(home), Some(there)) = (vpc_of(all, owner, 0), vpc_of(all, &r.target, 0)) else {
            continue;
        };
        if home != there {
            let kind = all.get(&r.target).map(|d| d.kind).unwrap_or("resource");
            cx.error_at(
                &r.path,
                format!(
                    "{kind} `{}` is in VPC `{there}`, but `{owner}` is in VPC `{home}`: AWS does not link resources across VPCs",
                    r.target
                ),
                None,
            );
        }
    }
}

/// The indefinite article for a kind name (`an internet_gateway`, `a vpc`).
pub fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// What every service accepts in tag keys and values (IAM's and S3's set, the narrowest).
fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

fn check_tags(cx: &mut Cx, field: &str, tags: &BTreeMap<String, String>) {
    for (k, v) in tags {
        let f = format!("{field}.{k}");
        let lower = k.to_ascii_lowercase();
        if lower.starts_with("aws:") || lower.starts_with("provision:") {
            cx.error(
                &f,
                format!("tag key `{k}` uses a reserved prefix (aws: and provision: are reserved)"),
            );
        } else if k.is_empty() || k.chars().count() > 128 {
            cx.error(&f, "tag keys must be 1 to 128 characters long");
        } else if v.chars().count() > 256 {
            cx.error(&f, "tag values must be at most 256 characters long");
        } else if k.eq_ignore_ascii_case("Name") {
            cx.error(
                &f,
                "the Name tag is set by provision from the stack and resource names (tag keys are case-insensitive on AWS)",
            );
        } else if let Some(c) = k.chars().chain(v.chars()).find(|c| !tag_char(*c)) {
            cx.error_hint(
                &f,
                format!("{c:?} cannot be used in a tag"),
                "tags allow letters, digits, spaces and _ . : / = + - @",
            );
        }
    }
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for k in tags.keys() {
        if let Some(first) = seen.insert(k.to_lowercase(), k) {
            cx.error(
                &format!("{field}.{k}"),
                format!("tag keys `{first}` and `{k}` differ only in case; AWS treats them as one"),
            );
        }
    }
    if tags.len() > 40 {
        cx.error(
            field,
            format!(
                "{} tags given; AWS allows 50 per resource and provision uses up to 10",
                tags.len()
            ),
        );
    }
}
