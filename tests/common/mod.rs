//! Test harness: one emulator (moto server) per test binary on a free loopback port,
//! the `provision` binary run as a user would, and SDK clients of our own to check what
//! really exists (never the tool's own reading).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_ec2::config::{Credentials, Region};

pub mod census;
pub mod proxy;

#[allow(unused_imports)]
pub use census::{census, FULL};

pub const REGION: &str = "eu-west-3";
pub const ACCOUNT: &str = "123456789012";

pub struct Emulator {
    pub endpoint: String,
    /// The Kubernetes API double every EKS cluster of this emulator answers with
    /// (scripts/kube_double.py), its record of exchanges and its settings file.
    pub kube: Option<KubeDouble>,
    /// The realism layer's settings file (durations, failures), when this binary started
    /// the emulator (see scripts/realism.py).
    pub realism: Option<PathBuf>,
    /// The watchdog shell that runs the server and stops it once this process is gone
    /// (kept, never waited for: it outlives every test of the binary).
    _watchdog: Option<std::process::Child>,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator for this test binary: `PROVISION_TEST_ENDPOINT` if set, else a moto
/// server started from the project's virtualenv (`scripts/emulator.sh install`), which
/// stops when this test process ends.
pub fn emulator() -> &'static Emulator {
    static EMU: OnceLock<Emulator> = OnceLock::new();
    EMU.get_or_init(|| {
        if let Ok(e) = std::env::var("PROVISION_TEST_ENDPOINT") {
            return Emulator {
                endpoint: e,
                kube: None,
                realism: None,
                _watchdog: None,
            };
        }
        let venv = std::env::var("PROVISION_VENV").map(PathBuf::from).unwrap_or_else(|_| repo().join(".venv"));
        let server = venv.join("bin/moto_server");
        assert!(
            server.exists(),
            "{} is missing: run `scripts/emulator.sh install` (scripts/test.sh does it)",
            server.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let log = std::env::temp_dir().join(format!("provision-moto-{port}.log"));
        let realism = std::env::temp_dir().join(format!("provision-realism-{port}.json"));
        std::fs::write(&realism, "{}").expect("realism settings");
        let kube = KubeDouble::start(&venv);
        // The watchdog loop stops the server once this test process is gone.
        let script = format!(
            "{} -H 127.0.0.1 -p {port} > {} 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
            server.display(),
            log.display(),
            std::process::id()
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("MOTO_ECS_SERVICE_RUNNING", "10")
            .env("PROVISION_REALISM_FILE", &realism)
            .env("PROVISION_EKS_ENDPOINT", &kube.endpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "emulator did not start; see {}", log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        Emulator {
            endpoint,
            kube: Some(kube),
            realism: Some(realism),
            _watchdog: Some(watchdog),
        }
    })
}

/// The Kubernetes API double (scripts/kube_double.py): one per test binary, stopped with it.
pub struct KubeDouble {
    pub endpoint: String,
    pub record: PathBuf,
    pub settings: PathBuf,
    _watchdog: std::process::Child,
}

impl KubeDouble {
    fn start(venv: &Path) -> KubeDouble {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let record = std::env::temp_dir().join(format!("provision-kube-{port}.jsonl"));
        let settings = std::env::temp_dir().join(format!("provision-kube-{port}.json"));
        let _ = std::fs::remove_file(&record);
        std::fs::write(
            &settings,
            r#"{"rollout": 0.5, "address": 0.5, "finalizer": 0.5}"#,
        )
        .expect("kube settings");
        let script = format!(
            "{} {} {port} {} {} & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
            venv.join("bin/python").display(),
            repo().join("scripts/kube_double.py").display(),
            record.display(),
            settings.display(),
            std::process::id()
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Kubernetes API double");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the Kubernetes API double did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        KubeDouble {
            endpoint: format!("http://127.0.0.1:{port}"),
            record,
            settings,
            _watchdog: watchdog,
        }
    }

    /// The exchanges so far: (method, path, status).
    pub fn exchanges(&self) -> Vec<(String, String, u16)> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                (
                    v["method"].as_str().unwrap_or_default().to_string(),
                    v["path"].as_str().unwrap_or_default().to_string(),
                    v["status"].as_u64().unwrap_or(0) as u16,
                )
            })
            .collect()
    }

    /// Set its timings (`{"rollout": 1.0, "address": 1.0, "finalizer": 1.0, "fail_images": [..]}`).
    pub fn set(&self, settings: serde_json::Value) {
        let tmp = self.settings.with_extension("tmp");
        std::fs::write(&tmp, settings.to_string()).expect("write kube settings");
        std::fs::rename(&tmp, &self.settings).expect("kube settings");
    }
}

/// Set the realism layer's settings for this binary's emulator: durations in seconds of
/// AWS's transitional states, resources to fail (`{"durations": {"rds_create": 2}, "fail":
/// {"rds": ["app-db"]}}`). Panics when the emulator is not this binary's own.
pub fn realism(settings: serde_json::Value) {
    let path = emulator()
        .realism
        .clone()
        .expect("the realism layer needs the emulator this test binary starts");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, settings.to_string()).expect("write realism settings");
    std::fs::rename(&tmp, &path).expect("realism settings");
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The command's result: the last line of what `--json` printed (progress events,
    /// one per line, come before it).
    pub fn json(&self) -> serde_json::Value {
        let last = self
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// The binary, set to talk to `endpoint` with throwaway credentials and nothing else of
/// the environment.
pub fn command(endpoint: &str, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provision"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null());
    cmd
}

/// Run the binary against `endpoint` with throwaway credentials.
pub fn run_at(endpoint: &str, dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    let mut cmd = command(endpoint, dir, args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run provision");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A working directory holding a copy of the repository's stack.yaml under `stack`.
pub struct Project {
    pub dir: PathBuf,
    pub stack: String,
}

impl Project {
    pub fn new(stack: &str) -> Project {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("stacks")
            .join(stack);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let text = std::fs::read_to_string(repo().join("stack.yaml")).expect("stack.yaml");
        let text = text.replacen("stack: spotilike", &format!("stack: {stack}"), 1);
        assert!(text.contains(&format!("stack: {stack}")));
        // The manifests and chart the stack file names, beside it as in the repository.
        std::os::unix::fs::symlink(repo().join("deploy"), dir.join("deploy"))
            .expect("link deploy/");
        let p = Project {
            dir,
            stack: stack.to_string(),
        };
        p.write(&text);
        p
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(self.dir.join("stack.yaml")).expect("read")
    }

    pub fn write(&self, text: &str) {
        std::fs::write(self.dir.join("stack.yaml"), text).expect("write");
    }

    /// Replace `from` (which must be present) in the stack file.
    pub fn edit(&self, from: &str, to: &str) {
        let t = self.text();
        assert!(t.contains(from), "stack file has no {from:?}");
        self.write(&t.replacen(from, to, 1));
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_at(&emulator().endpoint, &self.dir, args, &[])
    }

    /// Run and require exit code `code`, showing output on failure.
    pub fn ok(&self, args: &[&str], code: i32) -> Run {
        let r = self.run(args);
        assert_eq!(
            r.code, code,
            "provision {args:?} exited {}\nstdout:\n{}\nstderr:\n{}",
            r.code, r.stdout, r.stderr
        );
        r
    }

    pub fn bucket(&self) -> String {
        format!("{}-media-{ACCOUNT}", self.stack)
    }
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&emulator().endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

pub async fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk_config().await)
}

pub async fn s3() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config().await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn tag_filter(key: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

pub fn stack_filter(stack: &str) -> aws_sdk_ec2::types::Filter {
    tag_filter("provision:stack", stack)
}

/// Ids of the stack's resources by logical name, from our own describe calls.
pub async fn ids(stack: &str) -> std::collections::BTreeMap<String, String> {
    let ec2 = ec2().await;
    let mut out = std::collections::BTreeMap::new();
    // Checked here too: the emulator ignores tag filters on some listings (NAT gateways).
    let name = |tags: &[aws_sdk_ec2::types::Tag]| {
        let ours = tags
            .iter()
            .any(|t| t.key() == Some("provision:stack") && t.value() == Some(stack));
        tags.iter()
            .find(|t| t.key() == Some("provision:name"))
            .and_then(|t| t.value())
            .filter(|_| ours)
            .map(str::to_string)
    };
    let f = stack_filter(stack);
    for v in ec2
        .describe_vpcs()
        .filters(f.clone())
        .send()
        .await
        .expect("vpcs")
        .vpcs()
    {
        out.insert(
            name(v.tags()).expect("name"),
            v.vpc_id().expect("id").to_string(),
        );
    }
    for s in ec2
        .describe_subnets()
        .filters(f.clone())
        .send()
        .await
        .expect("subnets")
        .subnets()
    {
        out.insert(
            name(s.tags()).expect("name"),
            s.subnet_id().expect("id").to_string(),
        );
    }
    for g in ec2
        .describe_internet_gateways()
        .filters(f.clone())
        .send()
        .await
        .expect("igw")
        .internet_gateways()
    {
        out.insert(
            name(g.tags()).expect("name"),
            g.internet_gateway_id().expect("id").to_string(),
        );
    }
    for a in ec2
        .describe_addresses()
        .filters(f.clone())
        .send()
        .await
        .expect("eip")
        .addresses()
    {
        out.insert(
            name(a.tags()).expect("name"),
            a.allocation_id().expect("id").to_string(),
        );
    }
    for n in ec2
        .describe_nat_gateways()
        .filter(f.clone())
        .send()
        .await
        .expect("nat")
        .nat_gateways()
    {
        if let (Some(name), false) = (
            name(n.tags()),
            n.state().map(|s| s.as_str()) == Some("deleted"),
        ) {
            out.insert(name, n.nat_gateway_id().expect("id").to_string());
        }
    }
    for t in ec2
        .describe_route_tables()
        .filters(f.clone())
        .send()
        .await
        .expect("rtb")
        .route_tables()
    {
        out.insert(
            name(t.tags()).expect("name"),
            t.route_table_id().expect("id").to_string(),
        );
    }
    for g in ec2
        .describe_security_groups()
        .filters(f)
        .send()
        .await
        .expect("sg")
        .security_groups()
    {
        out.insert(
            name(g.tags()).expect("name"),
            g.group_id().expect("id").to_string(),
        );
    }
    out
}
