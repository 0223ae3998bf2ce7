#!/usr/bin/env bash
# Install (once) and start the local AWS emulator (moto server) on loopback.
#   scripts/emulator.sh install        create .venv and install the pinned moto
#   scripts/emulator.sh start [PORT]   start it in the background, wait until ready,
#                                      print the endpoint URL (pid in .emulator/PORT.pid);
#                                      with it, on PORT+1, the Kubernetes API double every
#                                      EKS cluster's endpoint points at (scripts/kube_double.py)
#   scripts/emulator.sh stop [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_VERSION=5.2.5
VENV=${PROVISION_VENV:-$PWD/.venv}

install() {
  if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/pip" show moto 2>/dev/null | grep -q "^Version: $MOTO_VERSION$"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  # Fix where the emulator answers unlike AWS in ways that matter here (see the script).
  "$VENV/bin/python" scripts/patch_emulator.py
}

start() {
  local port=${1:-5055}
  install
  mkdir -p .emulator
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
    echo "http://127.0.0.1:$port"; return
  fi
  local kport=$((port + 1))
  echo '{"rollout": 1.0, "address": 1.0, "finalizer": 1.0}' > ".emulator/$kport.kube.json"
  nohup "$VENV/bin/python" scripts/kube_double.py "$kport" ".emulator/$kport.kube.jsonl" \
    ".emulator/$kport.kube.json" > ".emulator/$kport.kube.log" 2>&1 &
  echo $! > ".emulator/$port.kube.pid"
  PROVISION_EKS_ENDPOINT="http://127.0.0.1:$kport" \
  MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ECS_SERVICE_RUNNING=10 \
    nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > ".emulator/$port.log" 2>&1 &
  echo $! > ".emulator/$port.pid"
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
      echo "http://127.0.0.1:$port"; return
    fi
    sleep 0.1
  done
  echo "emulator did not start; see .emulator/$port.log" >&2; exit 1
}

stop() {
  local port=${1:-5055}
  if [ -f ".emulator/$port.pid" ]; then kill "$(cat ".emulator/$port.pid")" 2>/dev/null || true; rm -f ".emulator/$port.pid"; fi
  if [ -f ".emulator/$port.kube.pid" ]; then kill "$(cat ".emulator/$port.kube.pid")" 2>/dev/null || true; rm -f ".emulator/$port.kube.pid"; fi
}

"${1:-start}" "${@:2}"
