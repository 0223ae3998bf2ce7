#!/usr/bin/env bash
# The whole test suite: installs the pinned emulator into .venv and the Boavizta server
# into .venv-boavizta, the workflow linters into .venv-lint, the Kubernetes validators
# into .venv-k8s, if needed (each test binary starts its own on a free loopback
# port), Graphviz when missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/emulator.sh install
# The Boavizta API server `provision footprint` is tested against (tests/review.rs).
scripts/boavizta.sh install
export PROVISION_BOAVIZTA_VENV="${PROVISION_BOAVIZTA_VENV:-$PWD/.venv-boavizta}"
# actionlint and shellcheck, for the workflow files (tests/workflows.rs).
scripts/lint-tools.sh
export PROVISION_LINT_VENV="${PROVISION_LINT_VENV:-$PWD/.venv-lint}"
# kubernetes-validate and Helm 4 (as a library), for the manifests and the chart
# (tests/kubernetes.rs).
scripts/k8s-tools.sh >/dev/null
export PROVISION_K8S_VENV="${PROVISION_K8S_VENV:-$PWD/.venv-k8s}"
# Graphviz renders the diagram to a picture (tests/review.rs); installed when missing and
# the package manager is at hand.
if ! command -v dot >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq graphviz >/dev/null || echo "graphviz could not be installed: the picture test will say so" >&2
fi
# Test binaries may come from a build cache made in another checkout: name this one's.
export PROVISION_VENV="$PWD/.venv"
cargo test --locked "$@"
