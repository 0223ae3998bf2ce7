//! The stack file's JSON Schema (`provision schema`): generated from the parser's own
//! types, committed as docs/stack.schema.json (kept current), accepting every valid example
//! and rejecting the unknown fields the parser rejects. Checked with the reference
//! `jsonschema` validator (Python, in the emulator's virtualenv).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{repo, Project};
use serde_json::Value;

const CHECK: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for f in sys.argv[2:]:
    doc = yaml.safe_load(open(f))
    errs = sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    print(json.dumps({"file": f, "errors": ["/".join(map(str, e.absolute_path)) + ": " + e.message for e in errs]}))
"#;

/// Each file's schema errors, by the reference validator.
fn check(schema: &PathBuf, files: &[PathBuf]) -> Vec<(String, Vec<String>)> {
    let venv = std::env::var("PROVISION_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".venv"));
    let out = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(CHECK)
        .arg(schema)
        .args(files)
        .output()
        .expect("run the validator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            let errors = v["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect();
            (v["file"].as_str().unwrap_or_default().to_string(), errors)
        })
        .collect()
}

#[test]
fn the_schema_is_current_accepts_the_examples_and_rejects_unknown_fields() {
    let p = Project::new("schema");
    let printed = p.ok(&["schema"], 0).stdout;
    let committed = repo().join("docs/stack.schema.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&committed, &printed).expect("write");
    }
    assert!(
        std::fs::read_to_string(&committed).expect("docs/stack.schema.json") == printed,
        "docs/stack.schema.json is out of date: provision schema > docs/stack.schema.json"
    );
    // The example names the schema for editors.
    let example = std::fs::read_to_string(repo().join("stack.yaml")).expect("stack.yaml");
    assert!(example.starts_with("# yaml-language-server: $schema=docs/stack.schema.json\n"));

    // Valid stack files: the example, and a stack of every header field and common field.
    let extra = p.dir.join("extra.yaml");
    std::fs::write(
        &extra,
        "stack: extra\nregion: eu-west-1\ntags: {team: a}\nvpcs:\n  v: {cidr: 10.0.0.0/16, dns_hostnames: false, tags: {x: y}}\nbuckets:\n  b: {versioning: true, disposable: true, depends_on: [v]}\n",
    )
    .expect("write");
    p.ok(&["-f", extra.to_str().expect("path"), "validate"], 0);
    let access = repo().join("examples/ci-cd/access.yaml");
    p.ok(
        &[
            "-f",
            access.to_str().expect("path"),
            "validate",
            "--var",
            "account_id=123456789012",
        ],
        0,
    );
    for (file, errors) in check(&committed, &[repo().join("stack.yaml"), extra, access]) {
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }

    // Every file of the invalid corpus that `validate` refuses for an unknown field is
    // refused by the schema too, naming the field.
    let mut unknown = Vec::new();
    for e in std::fs::read_dir(repo().join("tests/invalid"))
        .expect("corpus")
        .flatten()
    {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        if let Some(field) = text
            .lines()
            .find_map(|l| l.split("unknown field `").nth(1))
            .and_then(|rest| rest.split('`').next())
        {
            unknown.push((e.path(), field.to_string()));
        }
    }
    assert!(unknown.len() >= 4, "{unknown:?}");
    let files: Vec<PathBuf> = unknown.iter().map(|(f, _)| f.clone()).collect();
    for ((file, errors), (_, field)) in check(&committed, &files).into_iter().zip(&unknown) {
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("'{field}' was unexpected"))),
            "{file}: {errors:?}"
        );
    }
    // A field a kind does not have is refused; one it has is not.
    let wrong = p.dir.join("wrong.yaml");
    std::fs::write(
        &wrong,
        "stack: wrong\nvpcs:\n  v: {cidr: 10.0.0.0/16, color: red}\nnot_a_section: {}\n",
    )
    .expect("write");
    let errors = &check(&committed, &[wrong])[0].1;
    assert!(
        errors.iter().any(|e| e.contains("'color' was unexpected")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("'not_a_section' was unexpected")),
        "{errors:?}"
    );
}
