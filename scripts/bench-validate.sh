#!/usr/bin/env bash
# Time and memory of `provision validate` on generated stacks of N subnets (default 1000
# and 16000) spread over /16 VPCs: a figure to read, not a test.
# Usage: scripts/bench-validate.sh [N...]   (uses the debug build unless PROFILE=release)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-debug}
flag=$([ "$profile" = release ] && echo --release || true)
cargo build $flag --quiet
bin=${CARGO_TARGET_DIR:-target}/$profile/provision
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1000 16000)
for n in "${sizes[@]}"; do
  python3 - "$n" > "$dir/stack-$n.yaml" <<'PY'
import sys
n = int(sys.argv[1])
print("stack: large\nvpcs:")
for v in range((n + 249) // 250):
    print(f"  v{v}: {{cidr: 10.{v}.0.0/16}}")
print("subnets:")
for i in range(n):
    v, k = divmod(i, 250)
    print(f"  s{i}: {{vpc: v{v}, cidr: 10.{v}.{k}.0/24, zone: eu-west-3{'abc'[i % 3]}}}")
PY
  /usr/bin/time -f "$n subnets ($profile): %e s, %M KB max resident" "$bin" -f "$dir/stack-$n.yaml" validate >/dev/null
done
