#!/usr/bin/env python3
"""`helm template RELEASE CHART [--namespace NS] [--values FILE]...`, through the Helm 4
SDK the `helm-python-sdk` wheel embeds (no helm binary on these machines). The tests put
it on the PATH as `helm` (scripts/k8s-tools.sh installs the wheel), so the chart path of
provision runs a real Helm; elsewhere provision runs the real `helm`.
"""

import json
import sys

import helm_python
import yaml


def main(argv):
    if len(argv) < 3 or argv[0] != "template":
        print("only `helm template RELEASE CHART` is served", file=sys.stderr)
        return 2
    release, chart = argv[1], argv[2]
    namespace, values = "default", {}
    rest = argv[3:]
    while rest:
        flag = rest.pop(0)
        if flag in ("--namespace", "-n"):
            namespace = rest.pop(0)
        elif flag in ("--values", "-f"):
            with open(rest.pop(0)) as f:
                values.update(yaml.safe_load(f) or {})
        else:
            print(f"unknown option {flag}", file=sys.stderr)
            return 2
    try:
        rendered = helm_python.Chart.load(chart).render(values=values, name=release, namespace=namespace)
    except helm_python.HelmError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    for path in sorted(rendered):
        text = rendered[path].strip()
        if text:
            print(f"---\n# Source: {path}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
