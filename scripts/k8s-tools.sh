#!/usr/bin/env bash
# What the Kubernetes tests need, from PyPI into .venv-k8s/: kubernetes-validate (the
# Kubernetes OpenAPI schemas of each version, offline) and helm-python-sdk (Helm 4 as a
# library: rendering and linting charts without a helm binary).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PROVISION_K8S_VENV:-$PWD/.venv-k8s}
if [ ! -x "$VENV/bin/kubernetes-validate" ] || ! "$VENV/bin/python" -c 'import helm_python, yaml' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        'kubernetes-validate==1.37.0' 'helm-python-sdk==0.2.2' 'PyYAML>=6'
fi
echo "$VENV"
