//! The frontend on EKS: the example stack's Kubernetes objects applied to its cluster
//! through the Kubernetes API double (scripts/kube_double.py, at the HTTP level: server-side
//! apply, get, list by label, delete with a load balancer's finalizer, status over time),
//! kept in line, pruned and removed; the manifests and the chart checked against the
//! Kubernetes OpenAPI schemas of the cluster's version (kubernetes-validate --strict) and the
//! chart rendered and linted by a real Helm 4 (helm-python-sdk). What the double does not
//! reproduce is listed in its header; `.github/workflows/kubernetes.yml` runs the same
//! against a real cluster (kind) on GitHub's runners.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{census::kubernetes_objects, emulator, repo, Project, REGION};

fn k8s_venv() -> PathBuf {
    let venv = std::env::var("PROVISION_K8S_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".venv-k8s"));
    assert!(
        venv.join("bin/kubernetes-validate").exists(),
        "{} lacks kubernetes-validate: run `scripts/k8s-tools.sh` (scripts/test.sh does it)",
        venv.display()
    );
    venv
}

/// The example stack under `stack` (its `deploy/` beside it).
fn project(stack: &str) -> Project {
    Project::new(stack)
}

/// A token and a client, to act on the double as another tool would (kubectl).
async fn kubectl_apply(path: &str, body: serde_json::Value) -> u16 {
    let kube = emulator().kube.as_ref().expect("the double");
    let identity =
        aws_credential_types::Credentials::new("testing", "testing", None, None, "tests").into();
    let token = provision::kinds::kubernetes::token::token(
        &identity,
        REGION,
        "kubectl",
        std::time::SystemTime::now(),
    )
    .expect("token");
    reqwest::Client::new()
        .patch(format!(
            "{}{path}?fieldManager=kubectl&force=true",
            kube.endpoint
        ))
        .bearer_auth(token)
        .header("Content-Type", "application/apply-patch+yaml")
        .body(body.to_string())
        .send()
        .await
        .expect("apply")
        .status()
        .as_u16()
}

async fn get(path: &str) -> serde_json::Value {
    let kube = emulator().kube.as_ref().expect("the double");
    let identity =
        aws_credential_types::Credentials::new("testing", "testing", None, None, "tests").into();
    let token = provision::kinds::kubernetes::token::token(
        &identity,
        REGION,
        "kubectl",
        std::time::SystemTime::now(),
    )
    .expect("token");
    reqwest::Client::new()
        .get(format!("{}{path}", kube.endpoint))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

const DEPLOYMENT: &str =
    "/clusters/kubeapp-frontend/apis/apps/v1/namespaces/default/deployments/frontend";

#[test]
fn the_frontend_is_applied_kept_in_line_pruned_and_removed_with_its_load_balancer() {
    let p = project("kubeapp");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let kube = emulator().kube.as_ref().expect("the double");

    let r = p.ok(&["plan"], 0);
    assert!(
        r.stdout
            .contains("deployment-frontend of frontend-app (kubernetes_object): create")
            && r.stdout
                .contains("service-frontend of frontend-app (kubernetes_object): create"),
        "{}",
        r.stdout
    );
    let r = p.ok(&["up", "--yes"], 0);
    // The load balancer's address is the frontend's URL, once Kubernetes gave it.
    assert!(
        r.stdout.contains("frontend-app.service-frontend.url")
            && r.stdout.contains(".elb.eu-west-3.amazonaws.com"),
        "{}",
        r.stdout
    );
    assert_eq!(rt.block_on(kubernetes_objects("kubeapp")), 2);
    let exchanges = kube.exchanges();
    let applies: Vec<&(String, String, u16)> = exchanges
        .iter()
        .filter(|(m, path, _)| {
            m == "PATCH" && path.contains("fieldManager=provision") && path.contains("force=true")
        })
        .collect();
    assert!(
        applies
            .iter()
            .any(|(_, p, s)| p.contains("/deployments/frontend") && *s == 201),
        "{exchanges:?}"
    );
    assert!(
        applies
            .iter()
            .any(|(_, p, s)| p.contains("/services/frontend") && *s == 201),
        "{exchanges:?}"
    );
    assert!(
        exchanges.iter().all(|(_, _, s)| *s != 401),
        "every request carried a valid EKS token"
    );
    // Values from the stack: the API's address, the distribution's domain.
    let d = rt.block_on(get(DEPLOYMENT));
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(
        env.contains("http://kubeapp-web-")
            && env.contains("https://")
            && env.contains(".cloudfront.net"),
        "{env}"
    );
    assert_eq!(d["metadata"]["labels"]["provision/stack"], "kubeapp");

    // Nothing to do again.
    p.ok(&["plan", "--detailed-exitcode"], 0);

    // Someone scales it by hand (and takes the field): drift, and `up` takes it back.
    let status = rt.block_on(kubectl_apply(
        DEPLOYMENT,
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "frontend"}, "spec": {"replicas": 5}}),
    ));
    assert_eq!(status, 200);
    let r = p.ok(&["drift"], 2);
    assert!(r.stdout.contains("replicas"), "{}", r.stdout);
    p.ok(&["up", "--yes"], 0);
    assert_eq!(rt.block_on(get(DEPLOYMENT))["spec"]["replicas"], 2);

    // An image that cannot be pulled: the rollout stalls and says why.
    p.edit(
        "image: public.ecr.aws/nginx/nginx-unprivileged:1.27-alpine",
        "image: registry.example/does-not-exist:1",
    );
    let r = p.ok(&["up", "--yes"], 1);
    assert!(r.all().contains("ImagePullBackOff"), "{}", r.all());
    p.edit(
        "image: registry.example/does-not-exist:1",
        "image: public.ecr.aws/nginx/nginx-unprivileged:1.27-alpine",
    );
    p.ok(&["up", "--yes"], 0);

    // Out of the file: pruned, its load balancer gone with it.
    p.edit(
        "manifests: [deploy/frontend/deployment.yaml, deploy/frontend/service.yaml]",
        "manifests: [deploy/frontend/deployment.yaml]",
    );
    let r = p.ok(&["plan"], 0);
    assert!(
        r.stdout
            .contains("service-frontend of frontend-app (kubernetes_object): delete"),
        "{}",
        r.stdout
    );
    p.ok(&["up", "--yes"], 0);
    assert_eq!(rt.block_on(kubernetes_objects("kubeapp")), 1);

    // Down: the objects first, then the cluster; nothing of either is left.
    p.ok(&["down", "--yes", "--force-empty"], 0);
    assert_eq!(rt.block_on(kubernetes_objects("kubeapp")), 0);
    let left = rt.block_on(common::census("kubeapp"));
    assert!(left.iter().all(|(_, n)| *n == 0), "{left:?}");
}

/// A directory holding `helm`, a shim to Helm 4 as a library (scripts/helm_template.py).
fn helm_on_path(dir: &Path) -> String {
    let bin = dir.join("helm-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let helm = bin.join("helm");
    std::fs::write(
        &helm,
        format!(
            "#!/bin/sh\nexec {} {} \"$@\"\n",
            k8s_venv().join("bin/python").display(),
            repo().join("scripts/helm_template.py").display()
        ),
    )
    .expect("helm shim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn the_chart_gives_the_same_frontend() {
    let p = project("kubechart");
    p.edit(
        "manifests: [deploy/frontend/deployment.yaml, deploy/frontend/service.yaml]",
        "chart: deploy/charts/frontend",
    );
    let path = helm_on_path(&p.dir);
    let run = |args: &[&str], code: i32| {
        let r = common::run_at(&emulator().endpoint, &p.dir, args, &[("PATH", &path)]);
        assert_eq!(r.code, code, "{args:?}\n{}\n{}", r.stdout, r.stderr);
        r
    };
    let r = run(&["manifests"], 0);
    assert!(
        r.stdout.contains("kind: Deployment") && r.stdout.contains("kind: Service"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("kind: Ingress"),
        "the chart's ingress is off by default"
    );
    let up = run(&["up", "--yes"], 0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    assert_eq!(
        rt.block_on(kubernetes_objects("kubechart")),
        2,
        "{}",
        up.stdout
    );
    run(&["plan", "--detailed-exitcode"], 0);
    run(&["down", "--yes", "--force-empty"], 0);
    assert_eq!(rt.block_on(kubernetes_objects("kubechart")), 0);

    // Without Helm: one clear error at the field, before any AWS call.
    let r = common::run_at(
        &emulator().endpoint,
        &p.dir,
        &["validate"],
        &[("PATH", "/nonexistent")],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("kubernetes.frontend-app.chart") && r.stderr.contains("Helm"),
        "{}",
        r.stderr
    );
}

/// kubernetes-validate --strict of a YAML stream, against the cluster's version.
fn validate(file: &Path) -> (bool, String) {
    let out = Command::new(k8s_venv().join("bin/kubernetes-validate"))
        .args(["--strict", "-k", "1.34.0"])
        .arg(file)
        .output()
        .expect("kubernetes-validate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_manifests_and_the_chart_pass_the_cluster_version_s_schemas_and_helm_lint() {
    let p = project("kubeschemas");
    // What provision applies, values substituted.
    let applied = p.ok(&["manifests"], 0).stdout;
    let file = p.dir.join("applied.yaml");
    std::fs::write(&file, &applied).expect("write");
    let (ok, out) = validate(&file);
    assert!(ok && out.matches("passed").count() == 2, "{out}");
    // The ingress the example leaves out, as written.
    let (ok, out) = validate(&repo().join("deploy/frontend/ingress.yaml"));
    assert!(ok, "{out}");
    // A broken manifest is caught (the check can fail).
    let broken = p.dir.join("broken.yaml");
    std::fs::write(
        &broken,
        applied.replacen(
            "containerPort: 8080",
            "containerPort: 8080\n          hostPortt: 1",
            1,
        ),
    )
    .expect("write");
    assert!(
        !validate(&broken).0,
        "an unknown field is refused in strict mode"
    );

    // The chart: Helm 4 lints it (strict) and renders it, ingress on, and the result passes.
    let script = r#"
import json, sys, helm_python
chart = sys.argv[1]
report = helm_python.lint(chart, strict=True, kube_version="v1.34.0")
bad = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
rendered = helm_python.Chart.load(chart).render(values={"ingress": {"enabled": True}}, name="frontend", namespace="default")
print(json.dumps({"bad": bad, "docs": [rendered[k] for k in sorted(rendered)]}))
"#;
    let out = Command::new(k8s_venv().join("bin/python"))
        .args(["-c", script])
        .arg(repo().join("deploy/charts/frontend"))
        .output()
        .expect("helm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["bad"], serde_json::json!([]), "helm lint");
    let docs: Vec<&str> = v["docs"]
        .as_array()
        .expect("docs")
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    let rendered = p.dir.join("chart.yaml");
    std::fs::write(&rendered, docs.join("\n---\n")).expect("write");
    let (ok, out) = validate(&rendered);
    assert!(ok && out.matches("passed").count() == 3, "{out}");
}
