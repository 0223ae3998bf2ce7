#!/usr/bin/env bash
# Install (once) and start a local Boavizta API server (BoaviztAPI, pinned) on loopback,
# for `provision footprint --boavizta-url` and the tests.
#   scripts/boavizta.sh install        create .venv-boavizta with the pinned server
#   scripts/boavizta.sh start [PORT]   start it in the background, wait until it answers,
#                                      print its URL (pid in .emulator/boavizta-PORT.pid)
#   scripts/boavizta.sh stop [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
BOAVIZTA_VERSION=2.5.0
VENV=${PROVISION_BOAVIZTA_VENV:-$PWD/.venv-boavizta}

install() {
  if [ ! -x "$VENV/bin/uvicorn" ] || ! "$VENV/bin/pip" show boaviztapi 2>/dev/null | grep -q "^Version: $BOAVIZTA_VERSION$"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "boaviztapi==$BOAVIZTA_VERSION" uvicorn
  fi
}

start() {
  local port=${1:-5095}
  install
  mkdir -p .emulator
  nohup "$VENV/bin/uvicorn" boaviztapi.main:app --host 127.0.0.1 --port "$port" > ".emulator/boavizta-$port.log" 2>&1 &
  echo $! > ".emulator/boavizta-$port.pid"
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/v1/cloud/instance/all_providers" 2>/dev/null; then
      echo "http://127.0.0.1:$port"; return
    fi
    sleep 0.1
  done
  echo "Boavizta did not start; see .emulator/boavizta-$port.log" >&2; exit 1
}

stop() {
  local port=${1:-5095}
  if [ -f ".emulator/boavizta-$port.pid" ]; then kill "$(cat ".emulator/boavizta-$port.pid")" 2>/dev/null || true; rm -f ".emulator/boavizta-$port.pid"; fi
}

"${1:-start}" "${@:2}"
