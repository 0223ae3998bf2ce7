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
    // The SDK's own warnings (a config file named but missing) only with -v, and then
    // without colour codes when stderr is not a terminal.
    assert!(!r.stderr.contains("WARN"), "{}", r.stderr);
    let v = run_at(
        &endpoint,
        &dir,
        &["-v", "plan"],
        &[("AWS_MAX_ATTEMPTS", "1")],
    );
    assert!(v.stderr.contains("WARN"), "{}", v.stderr);
    assert!(!v.stderr.contains('\u{1b}'), "{:?}", v.stderr);
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

/// Values at the edge of what AWS takes stay accepted: the rules that refuse their
/// neighbours must not refuse them.
#[test]
fn values_aws_accepts_at_the_edges_stay_accepted() {
    let base =
        std::fs::read_to_string(common::repo().join("tests/invalid/92-db-storage-type.yaml"))
            .expect("base")
            .replace("    storage_type: ssd\n", "");
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("the default PostgreSQL master user", &[("username: app", "username: postgres")]),
        (
            "io1 with its IOPS at 50 per GiB",
            &[("allocated_storage: 20", "allocated_storage: 100\n    storage_type: io1\n    iops: 5000")],
        ),
        (
            "gp3 from 400 GiB with provisioned IOPS",
            &[("allocated_storage: 20", "allocated_storage: 400\n    iops: 12000")],
        ),
        (
            "a maintenance window of exactly 30 minutes, across midnight on Sunday",
            &[("db_name: app", "db_name: app\n    maintenance_window: sun:23:45-mon:00:15")],
        ),
        (
            "ping allowed by ICMP type, and every ICMP type",
            &[(
                "db-sg: {vpc: main}",
                "db-sg:\n    vpc: main\n    ingress:\n      - {protocol: icmp, ports: 8, cidr: 10.0.0.0/8}\n      - {protocol: icmp, cidr: 10.1.0.0/16}",
            )],
        ),
        (
            "a second VPC whose group refers to a group of its own VPC",
            &[
                ("subnets:\n", "  other: {cidr: 10.1.0.0/16}\nsubnets:\n"),
                (
                    "security_groups:\n",
                    "security_groups:\n  far: {vpc: other, ingress: [{ports: 22, group: near}]}\n  near: {vpc: other}\n",
                ),
            ],
        ),
    ];
    let dir = Scratch::new();
    for (what, edits) in cases {
        let mut text = base.clone();
        for (from, to) in *edits {
            assert!(text.contains(from), "{what}: no {from:?}");
            text = text.replacen(from, to, 1);
        }
        std::fs::write(dir.path().join("edge.yaml"), &text).expect("write");
        let (code, out) = validate_guarded(dir.path(), "edge.yaml");
        assert_eq!(code, 0, "{what} is refused:\n{out}\n{text}");
    }
}

/// A directory of its own, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "provision-validation-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `provision -f FILE validate` in `dir`, failing the test (not timing it) when the
/// process hangs or crashes.
fn validate_guarded(dir: &std::path::Path, file: &str) -> (i32, String) {
    let mut child = common::command("http://127.0.0.1:9", dir, &["-f", file, "validate"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                status.code().is_some(),
                "{file}: killed by a signal\n{text}"
            );
            return (status.code().unwrap_or(-1), text);
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{file}: validate hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn hostile_inputs_get_a_clear_error_and_never_hang_or_crash() {
    let dir = Scratch::new();
    let write =
        |name: &str, text: &[u8]| std::fs::write(dir.path().join(name), text).expect("write");

    // A pipe would block a plain read forever.
    let fifo = dir.path().join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let (code, text) = validate_guarded(dir.path(), "fifo.yaml");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("fifo.yaml") && text.contains("not a regular file"),
        "{text}"
    );

    let (code, text) = validate_guarded(dir.path(), "/dev/zero");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not a regular file"), "{text}");

    // 50 MB.
    let mut big = b"stack: big\n# ".to_vec();
    big.resize(50 * 1024 * 1024, b'x');
    write("big.yaml", &big);
    let (code, text) = validate_guarded(dir.path(), "big.yaml");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("larger than"), "{text}");

    write("binary.yaml", b"stack: a\n\xff\xfe\n");
    let (code, text) = validate_guarded(dir.path(), "binary.yaml");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not UTF-8"), "{text}");

    // Deep nesting, in flow and in block style: refused where it gets too deep.
    let n = 200_000;
    write(
        "flow.yaml",
        format!("stack: a\ntags: {}1{}\n", "[".repeat(n), "]".repeat(n)).as_bytes(),
    );
    let (code, text) = validate_guarded(dir.path(), "flow.yaml");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("flow.yaml:2:") && text.contains("nest deeper"),
        "{text}"
    );
    let mut block = String::from("stack: a\ntags:\n");
    for i in 0..1_000 {
        block.push_str(&" ".repeat(i + 1));
        block.push_str("k:\n");
    }
    write("block.yaml", block.as_bytes());
    let (code, text) = validate_guarded(dir.path(), "block.yaml");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("nest deeper"), "{text}");
    write(
        "dashes.yaml",
        format!("stack: a\ntags: {}x\n", "- ".repeat(n)).as_bytes(),
    );
    let (code, text) = validate_guarded(dir.path(), "dashes.yaml");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("dashes.yaml:"), "{text}");
}

#[test]
fn a_byte_order_mark_is_accepted_and_lines_stay_right() {
    let dir = Scratch::new();
    std::fs::write(
        dir.path().join("stack.yaml"),
        "\u{feff}stack: bom\nvpcs:\n  main: {cidr: 10.0.0.0/16}\n",
    )
    .expect("write");
    let (code, text) = validate_guarded(dir.path(), "stack.yaml");
    assert_eq!(code, 0, "{text}");
    std::fs::write(
        dir.path().join("stack.yaml"),
        "\u{feff}stack: bom\nvpcs:\n  main: {cidr: 10.0.0.0/33}\n",
    )
    .expect("write");
    let (code, text) = validate_guarded(dir.path(), "stack.yaml");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("stack.yaml:3:"), "{text}");
}

/// A stack of `n` subnets (and one VPC) spread over as many VPCs as CIDRs need.
fn many_subnets(n: usize) -> String {
    let mut s = String::from("stack: large\nvpcs:\n");
    let vpcs = n.div_ceil(250);
    for v in 0..vpcs {
        s.push_str(&format!("  v{v}: {{cidr: 10.{v}.0.0/16}}\n"));
    }
    s.push_str("subnets:\n");
    for i in 0..n {
        let (v, k) = (i / 250, i % 250);
        s.push_str(&format!(
            "  s{i}: {{vpc: v{v}, cidr: 10.{v}.{k}.0/24, zone: eu-west-3{}}}\n",
            ["a", "b", "c"][i % 3]
        ));
    }
    s
}

#[test]
fn large_stacks_validate() {
    // Correctness only: the time per thousand resources is measured by
    // `scripts/bench-validate.sh`, not asserted here.
    let dir = Scratch::new();
    for n in [1_000, 16_000] {
        let name = format!("large-{n}.yaml");
        std::fs::write(dir.path().join(&name), many_subnets(n)).expect("write");
        let (code, text) = validate_guarded(dir.path(), &name);
        assert_eq!(code, 0, "{n} subnets: {text}");
    }
}

#[test]
fn a_usage_error_exits_64_never_the_changes_found_code() {
    let (endpoint, connections) = counting_endpoint();
    let dir = Scratch::new();
    for args in [
        vec!["drift", "--detialed"],
        vec!["plan", "--detailed-exitcode=maybe"],
        vec!["drfit"],
    ] {
        let r = run_at(&endpoint, dir.path(), &args, &[]);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("error:"), "{args:?}: {}", r.stderr);
    }
    let help = run_at(&endpoint, dir.path(), &["drift", "--help"], &[]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    let help = run_at(&endpoint, dir.path(), &["--help"], &[]);
    assert!(help.stdout.contains("64   usage error"), "{}", help.stdout);
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[test]
fn the_command_line_speaks_to_users_of_other_tools_and_to_shells() {
    let (endpoint, connections) = counting_endpoint();
    let dir = Scratch::new();
    // Another tool's words: a usage error, with ours.
    for (args, hint) in [
        (
            vec!["apply"],
            "hint: `provision up` creates or updates the stack",
        ),
        (
            vec!["destroy"],
            "hint: `provision down` deletes everything the stack owns",
        ),
        (vec!["plan", "-target=aws_vpc.main"], "there is no -target"),
        (
            vec!["up", "--auto-approve"],
            "`--yes` skips the confirmation",
        ),
    ] {
        let r = run_at(&endpoint, dir.path(), &args, &[]);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(hint), "{args:?}: {}", r.stderr);
    }
    // Completions and the manual page need no stack file.
    for shell in ["bash", "zsh", "fish"] {
        let r = run_at(&endpoint, dir.path(), &["completions", shell], &[]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("provision"), "{shell}");
        assert!(
            r.stdout.contains("drift") && r.stdout.contains("detailed-exitcode"),
            "{shell}: {}",
            r.stdout
        );
    }
    let man = run_at(&endpoint, dir.path(), &["man"], &[]);
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH provision"),
        "{}",
        man.stdout
    );
    assert!(
        man.stdout.contains("usage error"),
        "the exit codes are in the manual"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[test]
fn a_stack_file_can_come_from_standard_input() {
    use std::io::Write;
    let (endpoint, connections) = counting_endpoint();
    let dir = Scratch::new();
    let valid =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stack.yaml"))
            .expect("stack.yaml");
    let invalid = valid.replacen("cidr: 10.0.0.0/16", "cidr: 10.0.0.0/33", 1);
    assert_ne!(valid, invalid);
    // Files the stack names (its manifests) are found from the current directory.
    std::os::unix::fs::symlink(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy"),
        dir.path().join("deploy"),
    )
    .expect("link deploy/");
    let piped = |text: &str, colour: &str| {
        let mut child = common::command(
            &endpoint,
            dir.path(),
            &["-f", "-", "--color", colour, "validate"],
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = piped(&valid, "auto");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with("<stdin> is valid: stack spotilike"),
        "{stdout}"
    );
    // Errors point into what was read, line and all; colours only when asked for.
    let line = invalid
        .lines()
        .position(|l| l.contains("10.0.0.0/33"))
        .expect("line")
        + 1;
    let (code, _, stderr) = piped(&invalid, "never");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("<stdin>:{line}:")), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    let (_, _, stderr) = piped(&invalid, "always");
    assert!(stderr.contains("\u{1b}[31;1merror:"), "{stderr}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[test]
fn on_a_terminal_colours_follow_no_color_and_the_flag() {
    // A pseudo-terminal through util-linux `script`, as a person at a terminal would run it.
    let script = std::path::Path::new("/usr/bin/script");
    assert!(
        script.exists(),
        "util-linux `script` is needed for this test"
    );
    let dir = Scratch::new();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "stack: demo\nregion: nowhere-1\n",
    )
    .expect("write");
    let bin = env!("CARGO_BIN_EXE_provision");
    let run = |env: &str, flag: &str| {
        let out = std::process::Command::new(script)
            .args([
                "-qec",
                &format!("{env} {bin} -f bad.yaml {flag} validate"),
                "/dev/null",
            ])
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TERM", "xterm")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = |text: &str| text.contains("\u{1b}[31;1merror:");
    assert!(coloured(&run("", "")), "a terminal gets colours");
    assert!(
        coloured(&run("NO_COLOR=", "")),
        "an empty NO_COLOR does not count"
    );
    assert!(
        !coloured(&run("NO_COLOR=1", "")),
        "NO_COLOR=1 turns them off"
    );
    assert!(!coloured(&run("", "--color never")));
    assert!(
        coloured(&run("NO_COLOR=1", "--color always")),
        "the flag wins"
    );
}
