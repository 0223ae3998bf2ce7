//! Invalid stack files: each gives exit 1, a message naming the file, the line and the
//! field, and makes no AWS call at all (the endpoint is a listener that counts connections).

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::run_at;

/// A loopback listener that counts connections and drops them.
fn counting_endpoint() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            c.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (format!("http://{addr}"), count)
}

fn corpus() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/invalid")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_invalid_file_is_refused_with_file_line_and_field_before_any_aws_call() {
    let (endpoint, connections) = counting_endpoint();
    let files = corpus();
    assert!(files.len() >= 60, "corpus has {} files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", f.display()));
        let (line, message) = expect.split_once(": ").expect("expect: LINE: TEXT");
        let name = f.file_name().and_then(|n| n.to_str()).expect("name");
        let dir = f.parent().expect("dir");
        for command in ["validate", "plan", "up"] {
            let r = run_at(&endpoint, dir, &["-f", name, command, "--yes"], &[]);
            let at = format!("{name}:{line}:");
            if r.code != 1
                || !r.stderr.contains(&at)
                || !r.stderr.contains(message)
                || !r.stdout.is_empty()
            {
                failures.push(format!(
                    "{name} ({command}): exit {}, want `{at}` and `{message}`; got:\n{}",
                    r.code, r.stderr
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "an invalid stack file led to an AWS call"
    );
}

#[test]
fn the_json_report_lists_every_diagnostic() {
    let (endpoint, connections) = counting_endpoint();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("validation-json");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("stack.yaml"),
        "stack: demo\nvpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  a: {vpc: mian, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  b: {vpc: main, cidr: 10.9.0.0/24, zone: eu-west-3a}\n",
    )
    .expect("write");
    let r = run_at(&endpoint, &dir, &["plan", "--json"], &[]);
    assert_eq!(r.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let diags = doc["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diags.len(), 2, "{doc:#}");
    assert_eq!(diags[0]["line"], 5);
    assert_eq!(diags[0]["field"], "subnets.a.vpc");
    assert_eq!(diags[0]["hint"], "did you mean `main`?");
    assert_eq!(diags[1]["line"], 6);
    assert_eq!(diags[1]["field"], "subnets.b.cidr");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[test]
fn the_connection_counter_does_see_calls_from_a_valid_file() {
    // Guards the test above: with a valid file the tool does reach the endpoint.
    let (endpoint, connections) = counting_endpoint();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("validation-control");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("stack.yaml"),
        "stack: demo\nvpcs:\n  main: {cidr: 10.0.0.0/16}\n",
    )
    .expect("write");
    let r = run_at(&endpoint, &dir, &["plan"], &[("AWS_MAX_ATTEMPTS", "1")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("GetCallerIdentity"), "{}", r.stderr);
    assert!(connections.load(Ordering::SeqCst) >= 1);
}

#[test]
fn the_repository_stack_file_is_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let r = run_at("http://127.0.0.1:9", &dir, &["validate", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(doc["stack"], "spotilike");
    assert_eq!(doc["region"], "eu-west-3");
}
