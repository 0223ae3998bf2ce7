//! What a reviewer reads: the diagram (three languages, a picture), the cost, the
//! footprint computed by a real Boavizta server, and the architecture document kept in
//! docs/. None of these commands calls AWS.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{repo, Project};
use serde_json::Value;

/// A Boavizta API server for this test binary (`scripts/boavizta.sh install`), stopped
/// when this process ends.
fn boavizta() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    // The watchdog shell, kept (never waited for): it outlives every test of the binary.
    static WATCHDOG: OnceLock<std::sync::Mutex<std::process::Child>> = OnceLock::new();
    URL.get_or_init(|| {
        let venv = std::env::var("PROVISION_BOAVIZTA_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo().join(".venv-boavizta"));
        let uvicorn = venv.join("bin/uvicorn");
        assert!(
            uvicorn.exists(),
            "{} is missing: run `scripts/boavizta.sh install` (scripts/test.sh does it)",
            uvicorn.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let log = std::env::temp_dir().join(format!("provision-boavizta-{port}.log"));
        let script = format!(
            "{} boaviztapi.main:app --host 127.0.0.1 --port {port} > {} 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
            uvicorn.display(),
            log.display(),
            std::process::id()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Boavizta server");
        let _ = WATCHDOG.set(std::sync::Mutex::new(child));
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "Boavizta did not start; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        format!("http://127.0.0.1:{port}")
    })
}

/// Compare with the committed text; `UPDATE_SNAPSHOTS=1` writes it instead.
fn snapshot(path: &str, got: &str) {
    let file = repo().join(path);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&file, got).expect("write snapshot");
        return;
    }
    let want = std::fs::read_to_string(&file)
        .unwrap_or_else(|_| panic!("{path} is missing: run with UPDATE_SNAPSHOTS=1"));
    assert!(
        want == got,
        "{path} is out of date (UPDATE_SNAPSHOTS=1 rewrites it); got:\n{got}"
    );
}

/// A second, small stack: one VPC, a public load balancer and a private database, no NAT.
const SMALL: &str = "stack: small
region: eu-west-1
vpcs:
  net: {cidr: 10.1.0.0/16}
subnets:
  web-a: {vpc: net, cidr: 10.1.0.0/24, zone: eu-west-1a, public: true}
  web-b: {vpc: net, cidr: 10.1.1.0/24, zone: eu-west-1b, public: true}
  db-a: {vpc: net, cidr: 10.1.10.0/24, zone: eu-west-1a}
  db-b: {vpc: net, cidr: 10.1.11.0/24, zone: eu-west-1b}
security_groups:
  lb:
    vpc: net
    ingress: [{ports: 443, cidr: 0.0.0.0/0}]
  db:
    vpc: net
    ingress: [{ports: 5432, group: lb}]
load_balancers:
  front: {subnets: [web-a, web-b], security_groups: [lb]}
db_subnet_groups:
  dbs: {subnets: [db-a, db-b]}
databases:
  main:
    engine_version: \"16\"
    instance_class: db.m5.large
    allocated_storage: 100
    username: app
    db_name: app
    subnet_group: dbs
    security_groups: [db]
    multi_az: true
";

#[test]
fn the_architecture_is_drawn_in_three_languages_from_the_file_alone() {
    let p = Project::new("drawn");
    let small = Project::new("small");
    small.write(SMALL);
    for (format, ext) in [("mermaid", "mmd"), ("d2", "d2"), ("dot", "dot")] {
        let out = p.ok(&["diagram", "--format", format], 0).stdout;
        // The stack name is the test's: the snapshot is of the example as shipped.
        snapshot(
            &format!("tests/snapshots/diagram.example.{ext}"),
            &out.replace("drawn", "spotilike"),
        );
        snapshot(
            &format!("tests/snapshots/diagram.small.{ext}"),
            &small.ok(&["diagram", "--format", format], 0).stdout,
        );
    }
    // What the paths say, checked apart from the snapshots: the tiers talk only to the
    // next, on the ports the groups allow.
    let dot = p.ok(&["diagram", "--format", "dot"], 0).stdout;
    for path in [
        "_internet -> web [label=\":443 :80\"]",
        "web -> api_service [label=\":8000\"]",
        "api_service -> postgres [label=\":5432\"]",
        "web -> frontend [label=\":80\"]",
        "api_service -> nat [label=\"egress :443\"]",
        "nat -> igw [label=\"egress\"]",
        "igw -> _internet [label=\"egress\"]",
        "_internet -> static [label=\":443\"]",
        "static -> media [label=\"origin (signed)\"]",
        "frontend_nodes -> frontend [label=\"joins\", style=dashed]",
    ] {
        assert!(dot.contains(path), "{path} missing:\n{dot}");
    }
    assert!(!dot.contains("_internet -> postgres"), "{dot}");
    let small_dot = small.ok(&["diagram", "--format", "dot"], 0).stdout;
    assert!(
        small_dot.contains("front -> main [label=\":5432\"]"),
        "{small_dot}"
    );
    assert!(
        !small_dot.contains("nat"),
        "no NAT in this stack: {small_dot}"
    );
}

#[test]
fn the_picture_is_rendered_by_graphviz_and_the_committed_one_is_current() {
    let p = Project::new("pictured");
    let png = p.dir.join("architecture.png");
    let run = p.run(&["diagram", "--output", png.to_str().expect("path")]);
    let has_dot = Command::new("dot").arg("-V").output().is_ok();
    if !has_dot {
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(run.stderr.contains("Graphviz's `dot`"), "{}", run.all());
        return;
    }
    assert_eq!(run.code, 0, "{}", run.all());
    let bytes = std::fs::read(&png).expect("png written");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    // Kept with the test output, to be looked at.
    let seen = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("spotilike-architecture.png");
    std::fs::copy(&png, &seen).expect("copy");
    eprintln!("the example's picture: {}", seen.display());
    assert!(
        repo().join("docs/spotilike-architecture.png").exists(),
        "docs/spotilike-architecture.png is committed"
    );
    let md = p.dir.join("d.md");
    p.ok(&["diagram", "--output", md.to_str().expect("path")], 0);
    let text = std::fs::read_to_string(&md).expect("md");
    assert!(
        text.starts_with("```mermaid\n") && text.ends_with("```\n"),
        "{text}"
    );
}

/// Whether the estimate suggests a change whose text holds `text`.
fn suggests(estimate: &Value, text: &str) -> bool {
    estimate["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .any(|x| x["change"].as_str().is_some_and(|c| c.contains(text)))
}

fn cost(p: &Project, args: &[&str]) -> Value {
    let mut all = vec!["cost", "--json"];
    all.extend_from_slice(args);
    p.ok(&all, 0).json()["cost"].clone()
}

#[test]
fn the_cost_is_priced_per_resource_with_its_assumptions_and_warns_over_budget() {
    let p = Project::new("priced");
    let always = cost(&p, &[]);
    let lines = always["lines"].as_array().expect("lines");
    let sum: f64 = lines
        .iter()
        .map(|l| l["monthly"].as_f64().unwrap_or(0.0))
        .sum();
    assert!((sum - always["total"].as_f64().expect("total")).abs() < 1e-6);
    let line = |name: &str| {
        lines
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("no line for {name}: {lines:?}"))
            .clone()
    };
    // The arithmetic, from data/prices.json's eu-west-3 rates, 730 hours.
    let close = |got: &Value, want: f64| {
        let g = got["monthly"].as_f64().expect("monthly");
        assert!((g - want).abs() < 0.005, "{got}: want {want}");
    };
    close(&line("frontend"), 0.10 * 730.0);
    close(&line("nat"), 0.052 * 730.0 + 0.052 * 10.0);
    close(&line("nat-ip"), 0.005 * 730.0);
    // 2 tasks x (0.25 vCPU x 0.04656 + 0.5 GB x 0.00511) x 730 h.
    close(
        &line("api-service"),
        2.0 * (0.25 * 0.04656 + 0.5 * 0.00511) * 730.0,
    );
    // 2 x t3.small x 730 h + 2 x 20 GB of gp3 disk.
    close(
        &line("frontend-nodes"),
        2.0 * (0.0236 * 730.0 + 20.0 * 0.0928),
    );
    // db.t3.micro, 20 GB gp3, the password's secret.
    close(&line("postgres"), 0.020 * 730.0 + 20.0 * 0.133 + 0.40);
    assert!(line("postgres")["free_tier"].as_str().is_some());
    let text = p.ok(&["cost"], 0).stdout;
    assert!(text.contains("always on (730 h/month)"), "{text}");
    assert!(
        text.contains("exceeds budget monthly ($50.00 a month)"),
        "{text}"
    );
    assert!(text.contains("db.t4g.micro (Graviton)"), "{text}");
    assert!(text.contains("run it for demos only"), "{text}");
    // A demo month costs less, and says so.
    let demo = cost(&p, &["--usage", "demo"]);
    assert!(demo["usage"]["label"]
        .as_str()
        .expect("label")
        .starts_with("demo"));
    assert!(demo["total"].as_f64() < always["total"].as_f64());
    // Another region's prices; a region the table lacks is refused, naming the table.
    let small = Project::new("pricedsmall");
    small.write(SMALL);
    let s = cost(&small, &[]);
    let db = s["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["name"] == "main")
        .expect("db")
        .clone();
    // Multi-AZ db.m5.large in eu-west-1: twice the instance and the storage.
    close(&db, 2.0 * 0.191 * 730.0 + 2.0 * 100.0 * 0.127 + 0.40);
    assert!(suggests(&s, "multi_az: false"));
    assert!(suggests(&s, "db.t4g.small for a demo"));
    // A NAT gateway nothing needs: the suggestion to drop it saves all it costs.
    let idle = Project::new("idlenat");
    idle.write(
        "stack: idlenat
region: eu-west-3
vpcs:
  net: {cidr: 10.2.0.0/16}
subnets:
  pub: {vpc: net, cidr: 10.2.0.0/24, zone: eu-west-3a, public: true}
  priv: {vpc: net, cidr: 10.2.1.0/24, zone: eu-west-3a}
internet_gateways:
  igw: {vpc: net}
elastic_ips:
  ip: {}
nat_gateways:
  nat: {subnet: pub, eip: ip, depends_on: [igw]}
route_tables:
  private:
    vpc: net
    routes: [{destination: 0.0.0.0/0, nat_gateway: nat}]
    subnets: [priv]
",
    );
    let i = cost(&idle, &[]);
    let drop = i["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .find(|x| {
            x["change"]
                .as_str()
                .is_some_and(|c| c.starts_with("no NAT gateway"))
        })
        .unwrap_or_else(|| panic!("{i:#}"))
        .clone();
    let saving = drop["saving"].as_f64().expect("saving");
    assert!(
        (saving - i["total"].as_f64().expect("total")).abs() < 0.005,
        "{i:#}"
    );
    // With tasks in the private subnet, the NAT gateway stays.
    assert!(!suggests(&always, "no NAT gateway"));
    small.write(&SMALL.replace("eu-west-1", "ap-east-1"));
    let refused = small.run(&["cost"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("no prices for region ap-east-1"),
        "{}",
        refused.all()
    );
}

#[test]
fn the_footprint_is_computed_by_boavizta_and_names_what_it_does_not_cover() {
    let p = Project::new("weighed");
    let url = boavizta();
    let doc = p
        .ok(&["footprint", "--json", "--boavizta-url", url], 0)
        .json();
    let f = &doc["footprint"];
    assert_eq!(f["location"], "FRA", "eu-west-3 is the French grid");
    let lines = f["lines"].as_array().expect("lines");
    let names: Vec<&str> = lines.iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for n in ["frontend-nodes", "postgres", "api-service"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let mut sum = 0.0;
    for l in lines {
        let gwp = &l["impacts"]["gwp_kg"];
        assert!(gwp["embedded"].as_f64() > Some(0.0), "{l}");
        assert!(gwp["usage"].as_f64() > Some(0.0), "{l}");
        sum += gwp["embedded"].as_f64().unwrap_or(0.0) + gwp["usage"].as_f64().unwrap_or(0.0);
    }
    let total = &f["total"]["gwp_kg"];
    let t = total["embedded"].as_f64().unwrap_or(0.0) + total["usage"].as_f64().unwrap_or(0.0);
    assert!((t - sum).abs() < 1e-9);
    let not: Vec<&str> = f["not_covered"]
        .as_array()
        .expect("not covered")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    for n in ["nat", "web", "frontend", "media", "static"] {
        assert!(not.contains(&n), "{n} is named as not covered: {not:?}");
    }
    // Fewer hours, less use impact.
    let demo = p
        .ok(
            &[
                "footprint",
                "--json",
                "--boavizta-url",
                url,
                "--usage",
                "demo",
            ],
            0,
        )
        .json();
    assert!(demo["footprint"]["total"]["gwp_kg"]["usage"].as_f64() < total["usage"].as_f64());
    // A server that is not there: one clear error naming it.
    let gone = p.run(&["footprint", "--boavizta-url", "http://127.0.0.1:9"]);
    assert_eq!(gone.code, 1, "{}", gone.all());
    assert!(
        gone.stderr
            .contains("could not reach the Boavizta API at http://127.0.0.1:9"),
        "{}",
        gone.all()
    );
}

#[test]
fn the_committed_architecture_document_is_current() {
    let p = Project::new("spotilike");
    let out = p
        .ok(&["report", "--boavizta-url", boavizta()], 0)
        .stdout
        .replace(boavizta(), "http://127.0.0.1:PORT");
    for section in [
        "## Diagram",
        "## Resources",
        "## Security matrix",
        "## Data protection",
        "## Cost",
        "## Environmental impact",
    ] {
        assert!(out.contains(section), "{section}");
    }
    snapshot("docs/spotilike-architecture.md", &out);
    // The same as a page: tables in HTML, the diagram left to Mermaid's script.
    let page = p.dir.join("architecture.html");
    p.ok(&["report", "-o", page.to_str().expect("path")], 0);
    let html = std::fs::read_to_string(&page).expect("html");
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<pre class=\"mermaid\">"), "{html}");
    assert!(
        html.contains("<table>") && html.contains("<th>resource</th>"),
        "{html}"
    );
    assert!(
        html.contains("internet --&gt;|"),
        "the diagram's arrows are escaped: {html}"
    );
}

#[test]
fn a_plan_says_what_it_does_to_the_monthly_bill_and_warns_over_budget() {
    let p = Project::new("billed");
    let first = p.ok(&["plan", "--json"], 0).json();
    let after = first["cost"]["monthly_after"].as_f64().expect("after");
    assert_eq!(first["cost"]["monthly_before"].as_f64(), Some(0.0));
    let priced = cost(&p, &[]);
    assert!((after - priced["total"].as_f64().expect("total")).abs() < 1e-6);
    let text = p.ok(&["plan"], 0).stdout;
    assert!(
        text.contains(&format!("Cost: + ${after:.2}/month")),
        "{text}"
    );
    assert!(
        text.contains("exceeds budget monthly ($50.00/month)"),
        "{text}"
    );
    p.ok(&["up", "--yes"], 0);
    let same = p.ok(&["plan"], 0).stdout;
    assert!(!same.contains("Cost:"), "no change, no cost line: {same}");
    // The document with what is deployed: ids and outputs read from AWS.
    let live = p.ok(&["report", "--live"], 0).stdout;
    assert!(live.contains("## Deployed"), "{live}");
    assert!(
        live.contains("| postgres | database | billed-postgres |"),
        "{live}"
    );
    assert!(live.contains("| output | value | what |"), "{live}");
    assert!(!p.ok(&["report"], 0).stdout.contains("## Deployed"));
    // One node instead of two: the plan says what that saves.
    p.edit("    desired_size: 2\n", "    desired_size: 1\n");
    let less = p.ok(&["plan", "--json"], 0).json();
    let delta = less["cost"]["monthly_after"].as_f64().expect("after")
        - less["cost"]["monthly_before"].as_f64().expect("before");
    assert!(
        (delta + 0.0236 * 730.0 + 20.0 * 0.0928).abs() < 0.01,
        "{delta}"
    );
    p.ok(&["down", "--yes"], 0);
}
