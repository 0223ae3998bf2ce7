//! The stack file's JSON Schema (`provision schema`), generated from the types the parser
//! reads each entry into, so that an editor's completion and checks never disagree with
//! `validate` about which fields exist.

use serde_json::{json, Map, Value};

use super::KindModel;

/// The schema of a whole stack file: the header, and one section per kind whose entries
/// are the kind's own fields plus what every entry takes (`tags`, `depends_on`, and
/// `disposable` for kinds that hold data).
pub fn schema(kinds: &[&dyn KindModel]) -> Value {
    let mut g = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let tags = json!({
        "type": "object",
        "description": "Tags added to every resource (or to this one), besides the stack's own.",
        "additionalProperties": {"type": "string"}
    });
    let mut props = Map::new();
    props.insert(
        "stack".into(),
        json!({
            "type": "string",
            "description": "The stack's name: 1 to 24 lowercase letters and digits, starting with a letter. Physical names are <stack>-<name>.",
            "pattern": "^([a-z0-9]|\\$\\{var\\.[A-Za-z][A-Za-z0-9_]*\\})+$"
        }),
    );
    props.insert(
        "vars".into(),
        json!({
            "type": "object",
            "description": "Variables: values given from outside (--var NAME=VALUE, --var-file, PROVISION_VAR_NAME), used as ${var.NAME} wherever a value is.",
            "additionalProperties": g.subschema_for::<super::vars::Declared>().to_value()
        }),
    );
    props.insert(
        "expires".into(),
        json!({
            "type": "string",
            "description": "When the stack may be torn down by `provision down --expired`: a duration from the first `up` (8h, 2d, 90m), a UTC time (2026-12-01T18:00:00Z) or `never`. Recorded on every resource as the tag provision:expires.",
        }),
    );
    props.insert(
        "region".into(),
        json!({"type": "string", "description": "The AWS region (default: the environment's), such as eu-west-3."}),
    );
    props.insert("tags".into(), tags.clone());
    for k in kinds {
        let Some(spec) = k.schema(&mut g) else {
            continue;
        };
        let mut entry = spec.to_value();
        if let Value::Object(e) = &mut entry {
            let fields = e
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(fields) = fields {
                fields.insert("tags".into(), tags.clone());
                fields.insert(
                    "depends_on".into(),
                    json!({
                        "type": "array",
                        "description": "Names of resources to create before this one (and delete after it).",
                        "items": {"type": "string"}
                    }),
                );
                if k.stateful() {
                    fields.insert(
                        "disposable".into(),
                        json!({
                            "type": "boolean",
                            "description": "Its data may be lost: a plan that replaces or deletes it is not stopped.",
                            "default": false
                        }),
                    );
                }
            }
            e.insert("type".into(), json!("object"));
            e.insert("additionalProperties".into(), json!(false));
            e.remove("$schema");
            e.remove("title");
        }
        props.insert(
            k.section().into(),
            json!({
                "type": "object",
                "description": format!("{} resources, by name (letters, digits and hyphens).", k.kind()),
                "additionalProperties": entry
            }),
        );
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "provision stack file",
        "type": "object",
        "required": ["stack"],
        "properties": props,
        "additionalProperties": false
    })
}
