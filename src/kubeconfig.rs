//! `provision kubeconfig`: add (or refresh) an entry for an EKS cluster of the stack in a
//! kubeconfig file, the way `aws eks update-kubeconfig` does. The token is never written:
//! kubectl asks `aws eks get-token` for a fresh one each time.

use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

/// What a kubeconfig entry needs to know about the cluster.
pub struct Entry {
    pub arn: String,
    pub cluster_name: String,
    pub endpoint: String,
    pub certificate_authority: String,
    pub region: String,
    pub profile: Option<String>,
}

/// The file to write: `--output`, else the first path of `KUBECONFIG`, else `~/.kube/config`.
pub fn default_path(output: Option<&Path>) -> PathBuf {
    if let Some(p) = output {
        return p.to_path_buf();
    }
    if let Some(first) =
        std::env::var_os("KUBECONFIG").and_then(|k| std::env::split_paths(&k).next())
    {
        return first;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".kube").join("config")
}

fn named(name: &str, key: &str, body: Value) -> Value {
    let mut m = Mapping::new();
    m.insert("name".into(), name.into());
    m.insert(key.into(), body);
    Value::Mapping(m)
}

/// Insert or replace the item called `name` in the list under `key`.
fn upsert(doc: &mut Mapping, key: &str, item: Value) {
    let name = item.get("name").cloned();
    let list = doc
        .entry(key.into())
        .or_insert_with(|| Value::Sequence(vec![]));
    if !list.is_sequence() {
        *list = Value::Sequence(vec![]);
    }
    if let Value::Sequence(items) = list {
        items.retain(|i| i.get("name") != name.as_ref());
        items.push(item);
    }
}

/// Merge the entry into the kubeconfig text (empty for a new file) and make it current.
pub fn merge(existing: &str, e: &Entry) -> Result<String, String> {
    let mut doc: Mapping = if existing.trim().is_empty() {
        Mapping::new()
    } else {
        serde_yaml_ng::from_str(existing)
            .map_err(|err| format!("the existing kubeconfig is not valid YAML: {err}"))?
    };
    doc.entry("apiVersion".into()).or_insert("v1".into());
    doc.entry("kind".into()).or_insert("Config".into());
    let mut cluster = Mapping::new();
    cluster.insert("server".into(), e.endpoint.clone().into());
    cluster.insert(
        "certificate-authority-data".into(),
        e.certificate_authority.clone().into(),
    );
    upsert(
        &mut doc,
        "clusters",
        named(&e.arn, "cluster", Value::Mapping(cluster)),
    );

    let mut args: Vec<Value> = [
        "--region",
        e.region.as_str(),
        "eks",
        "get-token",
        "--cluster-name",
        e.cluster_name.as_str(),
        "--output",
        "json",
    ]
    .iter()
    .map(|s| Value::from(*s))
    .collect();
    let mut exec = Mapping::new();
    exec.insert(
        "apiVersion".into(),
        "client.authentication.k8s.io/v1beta1".into(),
    );
    exec.insert("command".into(), "aws".into());
    if let Some(p) = &e.profile {
        args.extend(["--profile".into(), p.clone().into()]);
    }
    exec.insert("args".into(), Value::Sequence(args));
    exec.insert("interactiveMode".into(), "IfAvailable".into());
    let mut user = Mapping::new();
    user.insert("exec".into(), Value::Mapping(exec));
    upsert(
        &mut doc,
        "users",
        named(&e.arn, "user", Value::Mapping(user)),
    );

    let mut ctx = Mapping::new();
    ctx.insert("cluster".into(), e.arn.clone().into());
    ctx.insert("user".into(), e.arn.clone().into());
    upsert(
        &mut doc,
        "contexts",
        named(&e.arn, "context", Value::Mapping(ctx)),
    );
    doc.insert("current-context".into(), e.arn.clone().into());
    serde_yaml_ng::to_string(&doc).map_err(|err| err.to_string())
}

/// Write the merged file, readable by its owner only.
pub fn write(path: &Path, e: &Entry) -> Result<(), String> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let text = merge(&existing, e)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arn: &str) -> Entry {
        Entry {
            arn: arn.into(),
            cluster_name: "s-frontend".into(),
            endpoint: "https://x.eks.amazonaws.com".into(),
            certificate_authority: "Q0E=".into(),
            region: "eu-west-3".into(),
            profile: None,
        }
    }

    #[test]
    fn merges_without_losing_other_entries_and_replaces_its_own() {
        let other = "apiVersion: v1\nkind: Config\nclusters:\n- name: kind\n  cluster: {server: https://127.0.0.1:6443}\ncurrent-context: kind\n";
        let once = merge(other, &entry("arn:eks:1")).expect("merge");
        let twice = merge(&once, &entry("arn:eks:1")).expect("merge");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&twice).expect("yaml");
        assert_eq!(doc["clusters"].as_sequence().map(|s| s.len()), Some(2));
        assert_eq!(doc["users"].as_sequence().map(|s| s.len()), Some(1));
        assert_eq!(doc["current-context"], "arn:eks:1");
        assert_eq!(doc["users"][0]["user"]["exec"]["command"], "aws");
        assert!(!twice.contains("token:"), "no token is ever written");
    }
}
