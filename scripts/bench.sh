#!/usr/bin/env bash
# The benchmark: figures for `up`, a no-op `plan` and `down` of the example stack and of
# generated stacks (100, 300, 1,000 resources), with and without 50 ms of latency per
# request, and `up`/`down` against the critical path under AWS's typical durations times
# SCALE (default 1: the waits are shaped by AWS's real durations). Not a test: it asserts
# nothing, it reports figures (scripts/bench.py).
#   scripts/bench.sh
#   SIZES="100" LATENCIES="0" REALISTIC=0 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PROVISION_BENCH_PORT:-5077}
# PROVISION_BIN: a binary built beforehand (the build is skipped).
[ -n "${PROVISION_BIN:-}" ] || cargo build --locked --quiet
work=$(mktemp -d)
export PROVISION_REALISM_FILE=$work/realism.json
echo '{}' > "$PROVISION_REALISM_FILE"
endpoint=$(scripts/emulator.sh start "$PORT")
trap 'scripts/emulator.sh stop "$PORT"; rm -rf "$work"' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
bin=${PROVISION_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/provision}
python3 scripts/bench.py "$bin" "$endpoint"
