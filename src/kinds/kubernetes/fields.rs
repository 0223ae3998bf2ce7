//! What of a live object is the stack's: the fields server-side apply records as owned by
//! the field manager `provision` (`metadata.managedFields[].fieldsV1`). Drift is compared
//! on that projection, so what the cluster adds (defaults, status, other managers' fields)
//! never shows as a difference, and a field another manager took over does.

use serde_json::{Map, Value};

/// The manager name every apply uses.
pub const MANAGER: &str = "provision";

/// The fieldsV1 set of `manager`'s apply entry of a live object, if any.
pub fn owned_set<'a>(live: &'a Value, manager: &str) -> Option<&'a Value> {
    live.get("metadata")?
        .get("managedFields")?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("manager").and_then(Value::as_str) == Some(manager)
                && e.get("operation").and_then(Value::as_str) == Some("Apply")
        })?
        .get("fieldsV1")
}

/// `live` restricted to the fields of `set` (a fieldsV1 tree): `f:name` a map key, `k:{..}`
/// a list item by its key fields, `v:..` a set item by value, `i:N` an item by index, `{}`
/// the whole value.
pub fn project(live: &Value, set: &Value) -> Value {
    let Some(fields) = set.as_object() else {
        return live.clone();
    };
    if fields.keys().all(|k| k == ".") {
        return live.clone();
    }
    match live {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, sub) in fields {
                let Some(key) = k.strip_prefix("f:") else {
                    continue;
                };
                if let Some(v) = m.get(key) {
                    out.insert(key.to_string(), project(v, sub));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let sub = fields.iter().find_map(|(k, sub)| {
                    let hit = if let Some(key) = k.strip_prefix("k:") {
                        serde_json::from_str::<Map<String, Value>>(key)
                            .ok()
                            .is_some_and(|key| key.iter().all(|(f, v)| item.get(f) == Some(v)))
                    } else if let Some(v) = k.strip_prefix("v:") {
                        serde_json::from_str::<Value>(v).ok().as_ref() == Some(item)
                    } else if let Some(n) = k.strip_prefix("i:") {
                        n.parse::<usize>().ok() == Some(i)
                    } else {
                        false
                    };
                    hit.then_some(sub)
                });
                if let Some(sub) = sub {
                    out.push(project(item, sub));
                }
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_owned_fields_are_the_stack_s() {
        let live = json!({
            "metadata": {"name": "web", "labels": {"app": "web", "other": "x"}, "uid": "1",
                "managedFields": [
                    {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:other": {}}}}},
                    {"manager": "provision", "operation": "Apply", "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                            "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:ports": {
                                "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}
                            }}
                        }}}}
                    }}
                ]},
            "spec": {"replicas": 2, "revisionHistoryLimit": 10, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1", "imagePullPolicy": "IfNotPresent",
                 "ports": [{"containerPort": 8080, "protocol": "TCP"}]},
                {"name": "sidecar", "image": "injected"}
            ]}}},
            "status": {"replicas": 2}
        });
        let set = owned_set(&live, MANAGER).expect("owned");
        assert_eq!(
            project(&live, set),
            json!({
                "metadata": {"labels": {"app": "web"}},
                "spec": {"replicas": 2, "template": {"spec": {"containers": [
                    {"image": "nginx:1", "ports": [{"containerPort": 8080}]}
                ]}}}
            })
        );
        assert!(owned_set(&live, "nobody").is_none());
    }
}
