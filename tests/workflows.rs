//! Every GitHub Actions workflow in the repository passes actionlint, with shellcheck on
//! its `run:` scripts (both installed by `scripts/lint-tools.sh`), and pins its actions.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo;

fn linters() -> PathBuf {
    let venv = std::env::var("PROVISION_LINT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".venv-lint"));
    let bin = venv.join("bin");
    assert!(
        bin.join("actionlint").exists() && bin.join("shellcheck").exists(),
        "{} lacks actionlint or shellcheck: run `scripts/lint-tools.sh` (scripts/test.sh does it)",
        bin.display()
    );
    bin
}

fn workflows(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() && !matches!(name.as_str(), "target" | ".git") && !name.starts_with(".venv") {
            workflows(&p, out);
        } else if p.parent().is_some_and(|d| d.ends_with(".github/workflows"))
            && (name.ends_with(".yml") || name.ends_with(".yaml"))
        {
            out.push(p);
        }
    }
}

/// actionlint on `files`, with shellcheck found on the PATH: (success, output).
fn actionlint(bin: &Path, files: &[PathBuf]) -> (bool, String) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(bin.join("actionlint"))
        .args(files)
        .env("PATH", path)
        .current_dir(repo())
        .output()
        .expect("run actionlint");
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
fn every_workflow_passes_actionlint_and_shellcheck() {
    let bin = linters();
    let mut files = Vec::new();
    workflows(&repo(), &mut files);
    files.sort();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with(".github/workflows/ci.yml")),
        "the project's own CI workflow: {files:?}"
    );
    let (ok, out) = actionlint(&bin, &files);
    assert!(ok, "actionlint:\n{out}");
    // Actions pinned to a version (a tag or a commit), never a branch.
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for line in text.lines().filter(|l| {
            l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:")
        }) {
            let spec = line.split("uses:").nth(1).unwrap_or("").trim();
            let version = spec.rsplit_once('@').map(|(_, v)| v).unwrap_or("");
            assert!(
                version.starts_with('v') || version.len() == 40,
                "{}: {spec} is not pinned to a version",
                f.display()
            );
        }
    }
}

#[test]
fn the_linters_catch_a_broken_workflow_and_a_broken_script() {
    let bin = linters();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("workflows-broken");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".github/workflows")).expect("mkdir");
    let file = dir.join(".github/workflows/broken.yml");
    std::fs::write(
        &file,
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n      - run: cd $UNQUOTED_DIR && ls\n",
    )
    .expect("write");
    let (ok, out) = actionlint(&bin, std::slice::from_ref(&file));
    assert!(!ok, "{out}");
    assert!(out.contains("nope"), "the expression is checked: {out}");
    assert!(
        out.contains("shellcheck"),
        "the script is checked by shellcheck: {out}"
    );
}
