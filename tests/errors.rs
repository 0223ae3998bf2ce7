//! Every way a run can fail before or while it talks to AWS ends with one or two lines a
//! person can act on: what went wrong, and a hint. Never the SDK's debug dump, never an
//! HTML page, never a silent fall-back to other credentials. The AWS side is a small
//! canned server on loopback that answers as AWS (or something that is not AWS) would.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{command, Project, Run};

/// One request as the canned server saw it.
#[derive(Debug, Clone)]
struct Seen {
    headers: String,
    body: String,
}

/// An HTTP server answering every request with what `answer` says (status, content type,
/// body), recording the requests.
fn canned(
    answer: impl Fn(&Seen) -> (u16, &'static str, String) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push_str(&line);
            }
            let length = headers
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let request = Seen {
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (status, kind, text) = answer(&request);
            log.lock().expect("log").push(request);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (format!("http://{addr}"), seen)
}

/// AWS's query-protocol error document (STS, IAM, ...).
fn aws_error(status: u16, code: &str, message: &str) -> (u16, &'static str, String) {
    (
        status,
        "text/xml",
        format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"),
    )
}

fn run(mut cmd: std::process::Command) -> Run {
    let out = cmd.output().expect("run provision");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The report is the message and a hint: short, without the SDK's debug forms or the
/// page an endpoint sent; exit 1.
fn short_report(r: &Run, what: &str) -> String {
    assert_eq!(r.code, 1, "{what}: {}", r.all());
    let errors: Vec<&str> = r.stderr.lines().filter(|l| !l.contains(" WARN ")).collect();
    let text = errors.join("\n");
    assert!(text.starts_with("error: "), "{what}: {text}");
    assert!(
        errors.len() <= 2,
        "{what}: more than an error and a hint:\n{text}"
    );
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("  hint: ")),
        "{what}: no hint:\n{text}"
    );
    for dump in [
        "DispatchFailure",
        "ConnectorError",
        "Response {",
        "SdkBody",
        "<html",
        "Some(",
    ] {
        assert!(!text.contains(dump), "{what}: `{dump}` in\n{text}");
    }
    assert!(
        text.len() < 600,
        "{what}: {} characters:\n{text}",
        text.len()
    );
    text
}

fn plan_at(endpoint: &str, dir: &Path, args: &[&str]) -> std::process::Command {
    let mut all = args.to_vec();
    all.push("plan");
    command(endpoint, dir, &all)
}

#[test]
fn no_credentials_says_so_and_how_to_give_them() {
    let (endpoint, seen) = canned(|_| aws_error(500, "InternalError", "unexpected"));
    let dir = Project::new("errorsnocreds");
    let mut cmd = plan_at(&endpoint, &dir.dir, &[]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let text = short_report(&run(cmd), "no credentials");
    assert!(text.contains("no AWS credentials were found"), "{text}");
    assert!(text.contains("AWS_PROFILE"), "{text}");
    assert!(
        seen.lock().expect("log").is_empty(),
        "nothing is sent unsigned"
    );
}

#[test]
fn an_unknown_profile_is_an_error_and_a_named_one_wins_over_the_environment() {
    let (endpoint, seen) = canned(|_| {
        aws_error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    });
    let dir = Project::new("errorsprofile");
    let config = dir.dir.join("aws-config");
    std::fs::write(
        &config,
        "[default]\nregion = eu-west-3\n\n[profile dev]\naws_access_key_id = AKIADEVPROFILE\naws_secret_access_key = secret\n",
    )
    .expect("config");
    let config = config.to_str().expect("utf-8 path");

    // Mistyped, on the command line or in the environment: stop before any call, naming
    // the profiles there are.
    let mut cmd = plan_at(&endpoint, &dir.dir, &["--profile", "deve"]);
    cmd.env("AWS_CONFIG_FILE", config);
    let text = short_report(&run(cmd), "--profile deve");
    assert!(text.contains("--profile names `deve`"), "{text}");
    assert!(text.contains("default, dev"), "{text}");
    let mut cmd = plan_at(&endpoint, &dir.dir, &[]);
    cmd.env("AWS_CONFIG_FILE", config)
        .env("AWS_PROFILE", "nope");
    let text = short_report(&run(cmd), "AWS_PROFILE=nope");
    assert!(text.contains("AWS_PROFILE names `nope`"), "{text}");
    assert!(
        seen.lock().expect("log").is_empty(),
        "no call with the wrong credentials"
    );

    // Named and present: its keys sign the calls, not the environment's.
    let mut cmd = plan_at(&endpoint, &dir.dir, &["--profile", "dev"]);
    cmd.env("AWS_CONFIG_FILE", config);
    let text = short_report(&run(cmd), "--profile dev refused by AWS");
    assert!(text.contains("(InvalidClientTokenId)"), "{text}");
    assert!(text.contains("does not accept these credentials"), "{text}");
    let seen = seen.lock().expect("log");
    assert!(!seen.is_empty());
    for s in seen.iter() {
        assert!(s.body.contains("Action=GetCallerIdentity"), "{}", s.body);
        assert!(
            s.headers.contains("Credential=AKIADEVPROFILE/"),
            "{}",
            s.headers
        );
    }
}

#[test]
fn an_endpoint_that_refuses_or_is_not_aws_is_named_with_what_it_did() {
    let dir = Project::new("errorsendpoint");
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        format!("http://{addr}")
    };
    let text = short_report(&run(plan_at(&refused, &dir.dir, &[])), "refused");
    assert!(
        text.contains(&format!("cannot reach {refused}: connection refused")),
        "{text}"
    );
    assert!(text.contains("check AWS_ENDPOINT_URL"), "{text}");

    let page = "<html><body><h1>Welcome to nginx!</h1></body></html>".repeat(40);
    for status in [200, 404] {
        let page = page.clone();
        let (endpoint, _) = canned(move |_| (status, "text/html; charset=utf-8", page.clone()));
        let text = short_report(&run(plan_at(&endpoint, &dir.dir, &[])), "an HTML page");
        assert!(
            text.contains(&format!(
                "{endpoint} answered HTTP {status} (text/html), which is not an AWS answer"
            )),
            "{text}"
        );
        assert!(!text.contains("nginx"), "{text}");
    }
}

#[test]
fn aws_refusals_keep_aws_words_and_add_what_to_do() {
    let dir = Project::new("errorsrefusals");
    for (code, message, hint) in [
        ("ExpiredToken", "The security token included in the request is expired", "have expired"),
        ("AccessDenied", "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: sts:GetCallerIdentity with an explicit deny", "docs/iam-policy.json"),
        ("Throttling", "Rate exceeded", "lower --parallelism"),
    ] {
        let (endpoint, _) = canned(move |_| aws_error(if code == "Throttling" { 400 } else { 403 }, code, message));
        let r = run(plan_at(&endpoint, &dir.dir, &[]));
        let text = short_report(&r, code);
        assert!(text.contains(&format!("sts:GetCallerIdentity: {message} ({code})")), "{text}");
        assert!(text.contains(hint), "{code}: {text}");
    }
}

#[test]
fn with_json_the_failure_is_a_document_with_its_code_and_hint() {
    let dir = Project::new("errorsjson");
    let (endpoint, _) = canned(|_| {
        aws_error(
            403,
            "ExpiredToken",
            "The security token included in the request is expired",
        )
    });
    let r = run(plan_at(&endpoint, &dir.dir, &["--json"]));
    assert_eq!(r.code, 1, "{}", r.all());
    let doc = r.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["code"], "ExpiredToken");
    assert_eq!(doc["operation"], "sts:GetCallerIdentity");
    assert!(
        doc["hint"].as_str().is_some_and(|h| h.contains("expired")),
        "{doc}"
    );
}
