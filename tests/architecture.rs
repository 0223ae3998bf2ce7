//! The architecture, kept honest: the layering ARCHITECTURE.md promises, one row per
//! registered kind in the test harness's tables, a fixture test in every kind file, and
//! every source file reachable by `rustfmt`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use provision::aws::Aws;
use provision::kinds::{self, Context, Options, Scope};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn files(under: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    rust_files(&repo().join(under), &mut out);
    out.sort();
    out
}

/// Paths a file names through `crate::…` (in `use` lines and inline paths).
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        out.insert(path);
    }
    out
}

fn registry() -> provision::engine::Registry {
    let cx = Arc::new(Context {
        aws: Aws::offline("eu-west-3"),
        scope: Scope {
            stack: "app".into(),
            account: "123456789012".into(),
            region: "eu-west-3".into(),
        },
        options: Options::default(),
    });
    kinds::registry(cx)
}

#[test]
fn the_engine_knows_nothing_of_aws_the_model_or_the_kinds() {
    let mut bad = Vec::new();
    for f in files("src/engine") {
        let text = std::fs::read_to_string(&f).expect("read");
        for p in crate_paths(&text) {
            let top = p.split("::").next().unwrap_or("");
            if [
                "aws", "kinds", "model", "flows", "view", "cli", "lock", "teardown",
            ]
            .contains(&top)
            {
                bad.push(format!("{}: crate::{p}", f.display()));
            }
        }
        if text.contains("aws_sdk_") || text.contains("aws_config") {
            bad.push(format!("{}: an AWS SDK crate", f.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "the engine reaches out:\n{}",
        bad.join("\n")
    );
}

#[test]
fn a_kind_imports_only_its_own_service_and_support() {
    let kinds_dir = repo().join("src/kinds");
    let mut bad = Vec::new();
    let mut checked = 0;
    for f in files("src/kinds") {
        let rel = f.strip_prefix(&kinds_dir).expect("under kinds");
        let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
        // Service folders only: kinds/<service>/<file>.rs (support is shared by all).
        let [service, _file] = parts.as_slice() else {
            continue;
        };
        if *service == "support" {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(&f).expect("read");
        for p in crate_paths(&text) {
            let mut segs = p.split("::");
            if segs.next() != Some("kinds") {
                continue;
            }
            let next = segs.next().unwrap_or("");
            if !["support", "names"].contains(&next) && next != *service {
                bad.push(format!("{}: crate::{p}", rel.display()));
            }
        }
    }
    assert!(checked > 25, "only {checked} kind files found");
    assert!(
        bad.is_empty(),
        "kinds reaching into other services:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_kind_file_has_its_fixture_test() {
    let mut missing = Vec::new();
    for f in files("src/kinds") {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let in_service = f
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .is_some_and(|d| d != "kinds" && d != "support");
        if !in_service || name == "mod.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        // A service's helpers kept apart from its mod.rs (the EKS token) are not kinds.
        if !text.contains("pub static INFO: KindInfo") {
            continue;
        }
        if !text.contains("assert_observes") {
            missing.push(f.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "kinds without a test that observes a recorded answer as the file's resource:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_test_tables_derive_from_the_registry() {
    let reg = registry();
    let registered: BTreeSet<&str> = reg.all().map(|k| k.kind()).collect();
    let census: BTreeSet<&str> = common::census::ROWS.iter().map(|(k, _)| *k).collect();
    assert_eq!(registered, census, "one census row per registered kind");
    let full: BTreeSet<&str> = common::FULL.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        registered, full,
        "the example stack's counts name every kind"
    );
    let services: BTreeSet<&str> = common::proxy::SERVICES.iter().map(|s| s.iam).collect();
    for k in reg.all() {
        assert!(
            services.contains(k.info().service),
            "the fault proxy does not speak {} (kind {})",
            k.info().service,
            k.kind()
        );
    }
    // The model and the engine read the same description of each kind.
    for m in kinds::models() {
        let k = reg.get(m.kind()).expect("registered");
        assert!(std::ptr::eq(m.info(), k.info()), "{}", m.kind());
    }
}

#[test]
fn every_source_file_is_formatted() {
    let Ok(out) = std::process::Command::new("rustfmt")
        .arg("--version")
        .output()
    else {
        eprintln!("rustfmt is not installed: skipped (CI runs cargo fmt --check)");
        return;
    };
    assert!(out.status.success());
    let mut all = files("src");
    all.extend(files("tests"));
    let out = std::process::Command::new("rustfmt")
        .args(["--edition", "2021", "--check", "-l"])
        .args(&all)
        .output()
        .expect("rustfmt");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "not formatted (each file is checked directly: a module hidden from cargo fmt is seen here):\n{listed}"
    );
}
