#!/usr/bin/env bash
# Benchmark: `up`, a second `up`, `drift` and `down` of the example stack against the
# emulator with AWS's typical durations (scripts/realistic-durations.json) multiplied by
# SCALE (default 1: real time). Reports the wall time of each command and its AWS calls.
# Not a test: it asserts nothing, it reports figures.
#   SCALE=0.1 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-1}
PORT=${PROVISION_BENCH_PORT:-5077}
# PROVISION_BIN: a binary built beforehand (the build is skipped).
[ -n "${PROVISION_BIN:-}" ] || cargo build --locked --quiet
work=$(mktemp -d)
settings="$work/realism.json"
python3 - "$SCALE" "$settings" <<'PY'
import json, sys
scale, out = float(sys.argv[1]), sys.argv[2]
profile = json.load(open("scripts/realistic-durations.json"))
# Tasks drain for their target group's deregistration delay, scaled alike.
json.dump({"durations": profile["durations"], "scale": scale, "drain_scale": scale}, open(out, "w"))
PY
export PROVISION_REALISM_FILE=$settings
endpoint=$(scripts/emulator.sh start "$PORT")
trap 'scripts/emulator.sh stop "$PORT"; rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
curl -fsS -X POST "$endpoint/moto-api/reset" > /dev/null
bin=${PROVISION_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/provision}
sed 's/^stack: spotilike/stack: bench/' stack.yaml > "$work/stack.yaml"
echo "scale $SCALE (1 = AWS's typical durations)"
for cmd in "up" "up" "drift" "down --skip-final-snapshot"; do
  start=$(date +%s.%N)
  set +e
  "$bin" -f "$work/stack.yaml" --yes --stats $cmd > "$work/out" 2> "$work/err"
  code=$?
  set -e
  end=$(date +%s.%N)
  calls=$(grep -m1 '^AWS calls:' "$work/err" || echo "AWS calls: ?")
  printf '%-28s exit %-3s %8.1f s   %s\n' "$cmd" "$code" "$(python3 -c "print($end - $start)")" "$calls"
done
