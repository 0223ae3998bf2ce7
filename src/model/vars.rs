//! Variables: values from outside the stack file (`--var`, `--var-file`,
//! `PROVISION_VAR_<NAME>`), declared in its `vars:` section with a type, a default and a
//! description, and used wherever a value is as `${var.NAME}` (the stack name included, so
//! dev and prod come from one file).
//!
//! Substitution happens on the parsed YAML tree, before anything else reads it: every
//! later diagnostic keeps the file, line and field of the value, and says which variable
//! gave it and where that value came from. Precedence, lowest first: the default, the
//! environment, `--var-file` (in order), `--var` (in order).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::source::SourceMap;
use super::Diagnostic;

/// The environment variables read: `PROVISION_VAR_image_tag`.
pub const ENV_PREFIX: &str = "PROVISION_VAR_";

/// A value given from outside the file, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub name: String,
    pub value: String,
    /// `--var`, `--var-file ci.yaml`, `PROVISION_VAR_image_tag`.
    pub from: String,
}

/// What the command line and the environment give the file.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--region`: overrides the file's `region`.
    pub region: Option<String>,
    /// Variable values, lowest precedence first.
    pub vars: Vec<Given>,
    /// `down`: a required variable without a value is no error unless the stack's name or
    /// region uses it (what is deleted is found by the stack's tags, not by the values).
    pub lenient: bool,
}

impl Inputs {
    /// Only a region override (tests, the file alone).
    pub fn region(region: Option<&str>) -> Inputs {
        Inputs {
            region: region.map(str::to_string),
            vars: Vec::new(),
            lenient: false,
        }
    }

    /// Values from the environment, the files and `--var NAME=VALUE`, in precedence order.
    /// An unreadable file or a malformed `--var` is an error naming it.
    pub fn gather(
        region: Option<String>,
        env: impl IntoIterator<Item = (String, String)>,
        files: &[std::path::PathBuf],
        vars: &[String],
    ) -> Result<Inputs, super::Invalid> {
        let invalid = |d: Diagnostic| super::Invalid {
            diagnostics: vec![d],
            from_aws: false,
        };
        let mut given = Vec::new();
        let mut from_env: Vec<Given> = env
            .into_iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix(ENV_PREFIX)?.to_string();
                Some(Given {
                    from: k.clone(),
                    name,
                    value: v,
                })
            })
            .collect();
        from_env.sort_by(|a, b| a.name.cmp(&b.name));
        given.extend(from_env);
        for f in files {
            given.extend(read_var_file(f).map_err(|d| invalid(*d))?);
        }
        for v in vars {
            let Some((name, value)) = v.split_once('=') else {
                return Err(invalid(plain(
                    "--var",
                    format!("`{v}` is not NAME=VALUE"),
                    Some("for example --var image_tag=3f2a1c9".into()),
                )));
            };
            given.push(Given {
                name: name.trim().to_string(),
                value: value.to_string(),
                from: "--var".into(),
            });
        }
        Ok(Inputs {
            region,
            vars: given,
            lenient: false,
        })
    }
}

fn plain(file: &str, message: String, hint: Option<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: None,
        column: None,
        field: String::new(),
        message,
        hint,
    }
}

/// A `--var-file`: a YAML mapping of names to scalar values.
fn read_var_file(path: &Path) -> Result<Vec<Given>, Box<Diagnostic>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Box::new(plain(
            &file,
            format!("cannot read the variables file: {e}"),
            None,
        ))
    })?;
    let sources = SourceMap::index(&text);
    let at = |key: &str, message: String| {
        let pos = sources.find(key);
        Box::new(Diagnostic {
            file: file.clone(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.col),
            field: key.to_string(),
            message,
            hint: None,
        })
    };
    let root: Value =
        serde_yaml_ng::from_str(&text).map_err(|e| at("", format!("not valid YAML: {e}")))?;
    let map = match root {
        Value::Mapping(m) => m,
        Value::Null => return Ok(Vec::new()),
        _ => {
            return Err(at(
                "",
                "a variables file maps names to values (`image_tag: 3f2a1c9`)".into(),
            ))
        }
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let Some(name) = k.as_str().map(str::to_string) else {
            return Err(at("", "variable names must be strings".into()));
        };
        let value = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(at(
                    &name,
                    format!("`{name}` must be a text, a number or true/false"),
                ))
            }
        };
        out.push(Given {
            name,
            value,
            from: format!("--var-file {file}"),
        });
    }
    Ok(out)
}

/// The type of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    #[default]
    String,
    Number,
    Bool,
}

/// One declaration of the `vars:` section.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    /// `string` (default), `number` or `bool`.
    #[serde(default, rename = "type")]
    pub ty: Type,
    /// The value when none is given; without one, the variable is required.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<serde_yaml_ng::Value>,
    /// What the value is for (shown when it is missing).
    #[serde(default)]
    pub description: Option<String>,
    /// Never shown in messages (a token, a password).
    #[serde(default)]
    pub sensitive: bool,
}

/// A variable's value, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub value: Value,
    pub from: String,
    pub sensitive: bool,
}

impl Resolved {
    /// The value as text, for interpolation into a longer string.
    fn text(&self) -> String {
        match &self.value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => String::new(),
        }
    }

    /// How a message shows it: quoted, or hidden when sensitive.
    pub fn shown(&self) -> String {
        if self.sensitive {
            "(sensitive)".into()
        } else {
            format!("{:?}", self.text())
        }
    }
}

/// What substitution did: the values used, and which field took which variable.
#[derive(Debug, Clone, Default)]
pub struct Substituted {
    /// Every declared variable with its value.
    pub values: BTreeMap<String, Resolved>,
    /// Field path -> the note a diagnostic about it carries (`image_tag = "x" from --var`).
    pub notes: BTreeMap<String, String>,
}

impl Substituted {
    /// The note of a diagnostic's field: of the field itself, of a value inside it, or of
    /// the field holding it.
    pub fn note_for(&self, path: &str) -> Option<String> {
        let mut found: Vec<&str> = self
            .notes
            .iter()
            .filter(|(p, _)| {
                p.as_str() == path
                    || path.starts_with(&format!("{p}."))
                    || path.starts_with(&format!("{p}["))
                    || (!path.is_empty()
                        && (p.starts_with(&format!("{path}."))
                            || p.starts_with(&format!("{path}["))))
            })
            .map(|(_, n)| n.as_str())
            .collect();
        found.dedup();
        (!found.is_empty()).then(|| found.join("; "))
    }
}

fn diag(
    file: &str,
    sources: &SourceMap,
    path: &str,
    message: String,
    hint: Option<String>,
) -> Diagnostic {
    let pos = sources.find(path);
    Diagnostic {
        file: file.to_string(),
        line: pos.map(|p| p.line),
        column: pos.map(|p| p.col),
        field: path.to_string(),
        message,
        hint,
    }
}

/// Resolve the declared variables from `given`, then substitute them through `root`
/// (everything but the `vars` section). Problems are reported with file, line and field.
pub fn substitute(
    file: &str,
    sources: &SourceMap,
    root: &mut serde_yaml_ng::Mapping,
    given: &[Given],
    lenient: bool,
) -> Result<Substituted, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    // Declarations reported as wrong: no further error about their uses.
    let mut broken: Vec<String> = Vec::new();
    let declared: BTreeMap<String, Declared> = match root.remove("vars") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Mapping(m)) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let Some(name) = k.as_str().map(str::to_string) else {
                    diags.push(diag(
                        file,
                        sources,
                        "vars",
                        "variable names must be strings".into(),
                        None,
                    ));
                    continue;
                };
                let path = format!("vars.{name}");
                if !valid_name(&name) {
                    diags.push(diag(
                        file,
                        sources,
                        &path,
                        format!("`{name}` is not a variable name"),
                        Some("letters, digits and _, starting with a letter".into()),
                    ));
                    continue;
                }
                let v = if v.is_null() {
                    Value::Mapping(Default::default())
                } else {
                    v
                };
                match serde_path_to_error::deserialize::<_, Declared>(v) {
                    Ok(d) => {
                        out.insert(name, d);
                    }
                    Err(e) => {
                        broken.push(name.clone());
                        let at = e.path().to_string();
                        let field = if at == "." || at.is_empty() {
                            path.clone()
                        } else {
                            format!("{path}.{at}")
                        };
                        let message = e.inner().to_string();
                        let hint = super::unknown_field_hint(&message);
                        diags.push(diag(file, sources, &field, message, hint));
                    }
                }
            }
            out
        }
        Some(_) => {
            diags.push(diag(
                file,
                sources,
                "vars",
                "`vars` maps variable names to their type, default and description".into(),
                None,
            ));
            BTreeMap::new()
        }
    };

    let mut values: BTreeMap<String, Resolved> = BTreeMap::new();
    for (name, d) in &declared {
        if let Some(v) = &d.default {
            match typed(d.ty, v) {
                Ok(value) => {
                    values.insert(
                        name.clone(),
                        Resolved {
                            value,
                            from: "its default".into(),
                            sensitive: d.sensitive,
                        },
                    );
                }
                Err(m) => diags.push(diag(
                    file,
                    sources,
                    &format!("vars.{name}.default"),
                    m,
                    None,
                )),
            }
        }
    }
    for g in given {
        if broken.contains(&g.name) {
            continue;
        }
        let Some(d) = declared.get(&g.name) else {
            // The environment may hold variables of other stacks; what was passed on
            // purpose must be declared.
            if !g.from.starts_with(ENV_PREFIX) {
                let hint = super::net::closest(&g.name, declared.keys().map(String::as_str))
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("declare it under `vars:` in {file}")));
                diags.push(Diagnostic {
                    file: file.to_string(),
                    line: None,
                    column: None,
                    field: "vars".into(),
                    message: format!(
                        "{} sets `{}`, which the stack file does not declare",
                        g.from, g.name
                    ),
                    hint,
                });
            }
            continue;
        };
        match typed(d.ty, &Value::String(g.value.clone())) {
            Ok(value) => {
                values.insert(
                    g.name.clone(),
                    Resolved {
                        value,
                        from: g.from.clone(),
                        sensitive: d.sensitive,
                    },
                );
            }
            Err(m) => diags.push(Diagnostic {
                file: file.to_string(),
                line: None,
                column: None,
                field: format!("vars.{}", g.name),
                message: format!("{} gives `{}`: {m}", g.from, g.name),
                hint: None,
            }),
        }
    }
    let header_uses = |name: &str| {
        ["stack", "region"].iter().any(|k| {
            root.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|t| references(t).iter().any(|(_, _, n)| *n == name))
        })
    };
    for (name, d) in &declared {
        if !values.contains_key(name) && lenient && !header_uses(name) {
            let value = match d.ty {
                Type::String => Value::String(format!("unset-{name}")),
                Type::Number => Value::Number(0.into()),
                Type::Bool => Value::Bool(false),
            };
            values.insert(
                name.clone(),
                Resolved {
                    value,
                    from: "nothing (not needed here)".into(),
                    sensitive: d.sensitive,
                },
            );
        }
        if !values.contains_key(name) {
            let about = d
                .description
                .as_ref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            diags.push(diag(
                file,
                sources,
                &format!("vars.{name}"),
                format!("variable `{name}`{about} has no value"),
                Some(format!(
                    "pass --var {name}=VALUE, a --var-file, or {ENV_PREFIX}{name}; or give it a default"
                )),
            ));
        }
    }

    let mut out = Substituted {
        values,
        notes: BTreeMap::new(),
    };
    let keys: Vec<Value> = root.keys().cloned().collect();
    for k in keys {
        let Some(key) = k.as_str().map(str::to_string) else {
            continue;
        };
        if let Some(v) = root.get_mut(&k) {
            walk(
                v, &key, &declared, &broken, &mut out, &mut diags, file, sources,
            );
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value as the declared type; text from outside is parsed.
fn typed(ty: Type, v: &Value) -> Result<Value, String> {
    match (ty, v) {
        (Type::String, Value::String(_)) => Ok(v.clone()),
        (Type::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (Type::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::Number, Value::Number(_)) => Ok(v.clone()),
        (Type::Number, Value::String(s)) => {
            serde_yaml_ng::from_str::<serde_yaml_ng::Number>(s.trim())
                .map(Value::Number)
                .map_err(|_| format!("{s:?} is not a number"))
        }
        (Type::Bool, Value::Bool(_)) => Ok(v.clone()),
        (Type::Bool, Value::String(s)) => match s.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{s:?} is not true or false")),
        },
        (t, _) => Err(format!(
            "a {} is expected",
            match t {
                Type::String => "text",
                Type::Number => "number",
                Type::Bool => "true or false",
            }
        )),
    }
}

/// The `${var.NAME}` references of a text, as (start, end, name).
fn references(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("${var.") {
        let start = from + i;
        let Some(len) = text[start..].find('}') else {
            break;
        };
        let end = start + len + 1;
        out.push((start, end, &text[start + 6..end - 1]));
        from = end;
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn walk(
    v: &mut Value,
    path: &str,
    declared: &BTreeMap<String, Declared>,
    broken: &[String],
    out: &mut Substituted,
    diags: &mut Vec<Diagnostic>,
    file: &str,
    sources: &SourceMap,
) {
    match v {
        Value::Mapping(m) => {
            let keys: Vec<Value> = m.keys().cloned().collect();
            for k in keys {
                let Some(key) = k.as_str().map(str::to_string) else {
                    continue;
                };
                if let Some(child) = m.get_mut(&k) {
                    walk(
                        child,
                        &format!("{path}.{key}"),
                        declared,
                        broken,
                        out,
                        diags,
                        file,
                        sources,
                    );
                }
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk(
                    child,
                    &format!("{path}[{i}]"),
                    declared,
                    broken,
                    out,
                    diags,
                    file,
                    sources,
                );
            }
        }
        Value::Tagged(t) => walk(
            &mut t.value,
            path,
            declared,
            broken,
            out,
            diags,
            file,
            sources,
        ),
        Value::String(text) => {
            let refs = references(text);
            if refs.is_empty() {
                return;
            }
            let mut notes = Vec::new();
            for (_, _, name) in &refs {
                match out.values.get(*name) {
                    Some(r) => notes.push(format!("`{name}` = {} from {}", r.shown(), r.from)),
                    None if declared.contains_key(*name) || broken.iter().any(|b| b == name) => {}
                    None => {
                        let hint = super::net::closest(name, declared.keys().map(String::as_str))
                            .map(|c| format!("did you mean `{c}`?"))
                            .or_else(|| Some("declare it under `vars:`".into()));
                        diags.push(diag(
                            file,
                            sources,
                            path,
                            format!("`${{var.{name}}}` names no declared variable"),
                            hint,
                        ));
                    }
                }
            }
            if refs.iter().any(|(_, _, n)| !out.values.contains_key(*n)) {
                return;
            }
            let whole = refs.len() == 1 && refs[0].0 == 0 && refs[0].1 == text.len();
            let new = if whole {
                out.values[refs[0].2].value.clone()
            } else {
                let mut s = String::new();
                let mut last = 0;
                for (start, end, name) in &refs {
                    s.push_str(&text[last..*start]);
                    s.push_str(&out.values[*name].text());
                    last = *end;
                }
                s.push_str(&text[last..]);
                Value::String(s)
            };
            out.notes
                .insert(path.to_string(), format!("value of {}", notes.join(", ")));
            *v = new;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        text: &str,
        given: &[(&str, &str, &str)],
    ) -> Result<(Value, Substituted), Vec<Diagnostic>> {
        let sources = SourceMap::index(text);
        let mut root: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(text).expect("yaml");
        let given: Vec<Given> = given
            .iter()
            .map(|(n, v, f)| Given {
                name: n.to_string(),
                value: v.to_string(),
                from: f.to_string(),
            })
            .collect();
        let s = substitute("s.yaml", &sources, &mut root, &given, false)?;
        Ok((Value::Mapping(root), s))
    }

    const FILE: &str = "vars:\n  env: {default: dev}\n  replicas: {type: number, default: 1}\n  tag: {description: the image tag}\nstack: app${var.env}\nx:\n  a: {count: '${var.replicas}', image: 'repo:${var.tag}'}\n";

    #[test]
    fn values_follow_precedence_and_keep_their_type() {
        let (root, s) = run(
            FILE,
            &[
                ("tag", "from-env", "PROVISION_VAR_tag"),
                ("tag", "abc", "--var-file ci.yaml"),
                ("env", "prod", "--var"),
            ],
        )
        .expect("valid");
        assert_eq!(root["stack"], Value::String("appprod".into()));
        assert_eq!(
            root["x"]["a"]["count"],
            serde_yaml_ng::from_str::<Value>("1").unwrap()
        );
        assert_eq!(root["x"]["a"]["image"], Value::String("repo:abc".into()));
        assert!(
            root.get("vars").is_none(),
            "the section is not a resource section"
        );
        assert_eq!(
            s.note_for("x.a.image").as_deref(),
            Some("value of `tag` = \"abc\" from --var-file ci.yaml")
        );
        assert_eq!(
            s.note_for("stack").as_deref(),
            Some("value of `env` = \"prod\" from --var")
        );
        assert!(
            s.note_for("x.a").is_some(),
            "an error on the entry names the value inside"
        );
        assert!(s.note_for("x.b").is_none());
    }

    #[test]
    fn a_missing_required_variable_names_its_line_and_how_to_give_it() {
        let e = run(FILE, &[]).expect_err("tag has no value");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(4));
        assert_eq!(e[0].field, "vars.tag");
        assert!(e[0].message.contains("the image tag"), "{}", e[0].message);
        assert!(e[0]
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("PROVISION_VAR_tag"));
    }

    #[test]
    fn wrong_types_unknown_names_and_undeclared_values_are_errors() {
        let e = run(FILE, &[("tag", "t", "--var"), ("replicas", "two", "--var")]).expect_err("bad");
        assert!(
            e[0].message
                .contains("--var gives `replicas`: \"two\" is not a number"),
            "{e:?}"
        );
        let e = run(FILE, &[("tag", "t", "--var"), ("tga", "t", "--var")]).expect_err("bad");
        assert!(e[0].message.contains("does not declare"), "{e:?}");
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `tag`?"));
        // An undeclared variable in the environment belongs to something else.
        run(
            FILE,
            &[("tag", "t", "--var"), ("other", "t", "PROVISION_VAR_other")],
        )
        .expect("valid");
        let e = run("stack: a\nx:\n  a: {b: '${var.nope}'}\n", &[]).expect_err("bad");
        assert_eq!((e[0].line, e[0].field.as_str()), (Some(3), "x.a.b"));
    }

    #[test]
    fn down_needs_only_the_variables_of_the_name_and_region() {
        let text =
            "vars:\n  env: {}\n  tag: {}\nstack: app${var.env}\nx:\n  a: {b: '${var.tag}'}\n";
        let lenient = |given: &[Given]| {
            let sources = SourceMap::index(text);
            let mut root: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(text).expect("yaml");
            substitute("s.yaml", &sources, &mut root, given, true).map(|_| root)
        };
        let e = lenient(&[]).expect_err("the name needs env");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "vars.env");
        let env = Given {
            name: "env".into(),
            value: "prod".into(),
            from: "--var".into(),
        };
        let root = lenient(&[env]).expect("the tag is not needed");
        assert_eq!(root["stack"], Value::String("appprod".into()));
    }

    #[test]
    fn sensitive_values_are_never_shown() {
        let (_, s) = run(
            "vars:\n  token: {sensitive: true}\nstack: a\nx:\n  a: {b: '${var.token}'}\n",
            &[("token", "hunter2", "--var")],
        )
        .expect("valid");
        let note = s.note_for("x.a.b").expect("noted");
        assert!(
            !note.contains("hunter2") && note.contains("(sensitive)"),
            "{note}"
        );
    }
}
