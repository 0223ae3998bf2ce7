#!/usr/bin/env bash
# The whole test suite: installs the pinned emulator into .venv if needed (each test
# binary starts its own emulator on a free loopback port), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/emulator.sh install
# Test binaries may come from a build cache made in another checkout: name this one's.
export PROVISION_VENV="$PWD/.venv"
cargo test --locked "$@"
