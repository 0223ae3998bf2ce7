#!/usr/bin/env bash
# The main job on a local AWS emulator: build, validate, `up` of stack.yaml (plan shown),
# a second `up` that changes nothing, `drift`, `down`. Installs and starts the emulator
# itself and stops it at the end. Never talks to real AWS.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PROVISION_DEMO_PORT:-5055}
cargo build --locked --quiet
endpoint=$(scripts/emulator.sh start "$PORT")
trap 'scripts/emulator.sh stop "$PORT"' EXIT
export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
curl -fsS -X POST "$endpoint/moto-api/reset" > /dev/null
bin=${CARGO_TARGET_DIR:-target}/debug/provision
step() { printf '\n\033[1m$ provision %s\033[0m\n' "$*"; }
step validate;            $bin validate
step up --yes --stats;    $bin up --yes --stats
step up --yes --stats;    $bin up --yes --stats
step drift;               $bin drift
step status;              $bin status
step down --yes --stats;  $bin down --yes --stats
