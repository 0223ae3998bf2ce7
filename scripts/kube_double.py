#!/usr/bin/env python3
"""A test double of the Kubernetes API server, at the HTTP level, for what provision relies
on: server-side apply (create and update, with managedFields for the field manager), get,
list by label selector (one namespace or all), delete (with the finalizer delay of a
Service or Ingress whose load balancer is going away), and status that changes over time
(a Deployment's rollout, a load balancer's address). Requests need an EKS token (a
presigned STS GetCallerIdentity URL naming the cluster), as EKS's authenticator does.

Every exchange is appended to the record file (one JSON line: method, path, status), which
the tests read. Timings come from the settings file (re-read on each request):
{"rollout": 1.0, "address": 1.0, "finalizer": 1.0, "fail_images": ["does-not-exist"]}.

What it does not reproduce: admission (defaults, validation beyond the kind and name),
real field ownership conflicts between managers, watch, pods and replica sets as objects
(pods are made up from the Deployment for the failure reasons), generateName, resource
versions used for optimistic concurrency, and TLS.

Usage: kube_double.py PORT RECORD_FILE SETTINGS_FILE
"""

import base64
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

PORT = int(sys.argv[1])
RECORD = sys.argv[2]
SETTINGS = sys.argv[3]

LOCK = threading.RLock()
# cluster -> {(group/version, plural, namespace, name) -> object}; each EKS cluster's
# endpoint is `<this server>/clusters/<name>` (set by the realism layer).
CLUSTERS = {}
CLUSTER_SCOPED = {"namespaces", "clusterroles", "clusterrolebindings"}


def settings():
    try:
        with open(SETTINGS) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def record(method, path, status):
    with LOCK, open(RECORD, "a") as f:
        f.write(json.dumps({"method": method, "path": path, "status": status}) + "\n")


def token_ok(header):
    """An EKS token: `k8s-aws-v1.` and the base64url of a presigned STS GetCallerIdentity
    URL that signs the `x-k8s-aws-id` header (the cluster's name)."""
    if not header or not header.startswith("Bearer k8s-aws-v1."):
        return False
    raw = header[len("Bearer k8s-aws-v1."):]
    try:
        url = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except ValueError:
        return False
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    return (
        url.startswith("https://sts.")
        and query.get("Action") == ["GetCallerIdentity"]
        and "X-Amz-Signature" in query
        and "x-k8s-aws-id" in query.get("X-Amz-SignedHeaders", [""])[0]
    )


def fields_of(value):
    """managedFields' fieldsV1 for what an apply sets: maps as `f:` keys, lists of maps
    with a `name` as `k:` keys, other lists as a whole."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[f"f:{k}"] = fields_of(v)
        return out
    if isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        out = {}
        for item in value:
            key = "k:" + json.dumps({"name": item["name"]}, separators=(",", ":"))
            sub = fields_of(item)
            sub["."] = {}
            out[key] = sub
        return out
    return {}


def without(fields, taken):
    """`fields` less the leaves `taken` names (both fieldsV1 trees)."""
    out = {}
    for k, sub in fields.items():
        if k not in taken:
            out[k] = sub
        elif sub and taken[k]:
            rest = without(sub, taken[k])
            if any(key != "." for key in rest):
                out[k] = rest
    return out


def merge(base, patch):
    """What an apply does to the fields it names (enough for one manager)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = merge(base.get(k), v)
        return out
    return patch


def parse_path(path):
    """(cluster, group/version, namespace or None, plural, name or None) of an API path."""
    parts = [p for p in path.split("/") if p]
    cluster = "-"
    if parts[:1] == ["clusters"] and len(parts) > 1:
        cluster, parts = parts[1], parts[2:]
    if parts[:1] == ["api"]:
        gv, rest = parts[1], parts[2:]
    elif parts[:1] == ["apis"]:
        gv, rest = "/".join(parts[1:3]), parts[3:]
    else:
        return None
    ns = None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        ns, rest = rest[1], rest[2:]
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) > 1 else None
    return cluster, gv, ns, plural, name


def matches(obj, selector):
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    for term in [t for t in selector.split(",") if t]:
        if "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v:
                return False
        elif labels.get(term) is None:
            return False
    return True


def with_status(obj):
    """The object as it is now: status that changes over time."""
    s = settings()
    now = time.time()
    meta = obj["metadata"]
    kind = obj.get("kind")
    out = json.loads(json.dumps(obj))
    since = meta.get("_changed", now)
    if kind == "Deployment":
        spec = obj.get("spec", {})
        replicas = spec.get("replicas", 1)
        images = [c.get("image", "") for c in spec.get("template", {}).get("spec", {}).get("containers", [])]
        failing = any(bad in i for i in images for bad in s.get("fail_images", ["does-not-exist"]))
        done = not failing and now - since >= s.get("rollout", 1.0)
        status = {"observedGeneration": meta.get("generation", 1), "replicas": replicas}
        if done:
            status.update(updatedReplicas=replicas, readyReplicas=replicas, availableReplicas=replicas)
            status["conditions"] = [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
        elif failing and now - since >= s.get("rollout", 1.0):
            status["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": f'ReplicaSet "{meta["name"]}" has timed out progressing.'}]
        else:
            status["conditions"] = [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]
        out["status"] = status
    if (kind == "Service" and obj.get("spec", {}).get("type") == "LoadBalancer") or kind == "Ingress":
        if now - since >= s.get("address", 1.0):
            host = f'{meta["name"]}-{abs(hash(meta.get("uid", ""))) % 10**8}.elb.eu-west-3.amazonaws.com'
            out["status"] = {"loadBalancer": {"ingress": [{"hostname": host}]}}
        else:
            out["status"] = {"loadBalancer": {}}
    for k in [k for k in out["metadata"] if k.startswith("_")]:
        del out["metadata"][k]
    return out


def pods_of(deployment):
    """Made-up pods of a Deployment: a failing image's pods wait with ImagePullBackOff."""
    spec = deployment.get("spec", {})
    labels = spec.get("selector", {}).get("matchLabels", {})
    s = settings()
    items = []
    for i in range(spec.get("replicas", 1)):
        statuses = []
        for c in spec.get("template", {}).get("spec", {}).get("containers", []):
            image = c.get("image", "")
            if any(bad in image for bad in s.get("fail_images", ["does-not-exist"])):
                state = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}
            else:
                state = {"running": {}}
            statuses.append({"name": c.get("name"), "image": image, "state": state, "ready": "running" in state})
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f'{deployment["metadata"]["name"]}-{i}', "namespace": deployment["metadata"].get("namespace", "default"), "labels": labels},
            "status": {"phase": "Pending" if any(not st["ready"] for st in statuses) else "Running", "containerStatuses": statuses},
        })
    return items


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        record(self.command, self.path, status)

    def status_error(self, code, reason, message):
        self.reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def route(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/_clusters":
            # For the tests' census: the clusters that hold objects (no token needed).
            with LOCK:
                return self.reply(200, sorted(c for c, objs in CLUSTERS.items() if objs))
        if not token_ok(self.headers.get("Authorization")):
            self.body()
            return self.status_error(401, "Unauthorized", "Unauthorized")
        parsed = parse_path(url.path)
        if parsed is None:
            return self.status_error(404, "NotFound", f"the server could not find {url.path}")
        cluster, gv, ns, plural, name = parsed
        query = urllib.parse.parse_qs(url.query)
        self.objects = CLUSTERS.setdefault(cluster, {})
        return gv, ns, plural, name, query

    def do_GET(self):
        r = self.route()
        if not isinstance(r, tuple):
            return
        gv, ns, plural, name, query = r
        with LOCK:
            self.sweep()
            if plural == "pods" and name is None:
                selector = query.get("labelSelector", [""])[0]
                pods = [p for o in self.objects.values() if o.get("kind") == "Deployment" and (ns is None or o["metadata"].get("namespace") == ns) for p in pods_of(o)]
                pods = [p for p in pods if matches(p, selector)]
                return self.reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods})
            if name is None:
                selector = query.get("labelSelector", [""])[0]
                items = [with_status(o) for (g, p, n, _), o in sorted(self.objects.items()) if g == gv and p == plural and (ns is None or n == ns) and matches(o, selector)]
                return self.reply(200, {"kind": "List", "apiVersion": gv, "metadata": {"resourceVersion": "1"}, "items": items})
            obj = self.objects.get((gv, plural, ns, name))
            if obj is None:
                return self.status_error(404, "NotFound", f'{plural} "{name}" not found')
            return self.reply(200, with_status(obj))

    def do_PATCH(self):
        r = self.route()
        if not isinstance(r, tuple):
            return
        gv, ns, plural, name, query = r
        raw = self.body()
        if self.headers.get("Content-Type", "").split(";")[0] != "application/apply-patch+yaml":
            return self.status_error(415, "UnsupportedMediaType", "only server-side apply is served")
        if query.get("fieldManager", [""])[0] == "":
            return self.status_error(422, "Invalid", "fieldManager is required for apply patch")
        patch = yaml.safe_load(raw) or {}
        manager = query["fieldManager"][0]
        managed = fields_of({k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "status")})
        if patch.get("metadata", {}).get("name") != name:
            return self.status_error(400, "BadRequest", "the name of the object does not match the name on the URL")
        with LOCK:
            key = (gv, plural, ns, name)
            old = self.objects.get(key)
            now = time.time()
            if old is None:
                obj = merge({}, json.loads(json.dumps(patch)))
                obj["metadata"]["uid"] = f"uid-{abs(hash((key, now))) % 10**12}"
                obj["metadata"]["generation"] = 1
                obj["metadata"]["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
                obj["metadata"]["_changed"] = now
                code = 201
            else:
                obj = merge(json.loads(json.dumps(old)), json.loads(json.dumps(patch)))
                if json.dumps(old.get("spec"), sort_keys=True) != json.dumps(obj.get("spec"), sort_keys=True):
                    obj["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
                    obj["metadata"]["_changed"] = now
                code = 200
            if ns is not None:
                obj["metadata"]["namespace"] = ns
            entries = []
            for e in (old or {}).get("metadata", {}).get("managedFields", []):
                if e["manager"] == manager:
                    continue
                # A forced apply takes the fields it sets from their other managers.
                rest = without(e["fieldsV1"], managed)
                if rest:
                    entries.append(dict(e, fieldsV1=rest))
            entries.append({
                "manager": manager, "operation": "Apply", "apiVersion": gv,
                "fieldsType": "FieldsV1", "fieldsV1": managed,
            })
            obj["metadata"]["managedFields"] = entries
            self.objects[key] = obj
            return self.reply(code, with_status(obj))

    def do_DELETE(self):
        r = self.route()
        if not isinstance(r, tuple):
            return
        gv, ns, plural, name, _ = r
        self.body()
        with LOCK:
            key = (gv, plural, ns, name)
            obj = self.objects.get(key)
            if obj is None:
                return self.status_error(404, "NotFound", f'{plural} "{name}" not found')
            has_lb = (obj.get("kind") == "Service" and obj.get("spec", {}).get("type") == "LoadBalancer") or obj.get("kind") == "Ingress"
            if has_lb:
                # The load balancer's finalizer keeps the object until AWS deleted it.
                obj["metadata"].setdefault("deletionTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                obj["metadata"]["finalizers"] = ["service.kubernetes.io/load-balancer-cleanup"]
                obj["metadata"]["_gone_at"] = time.time() + settings().get("finalizer", 1.0)
            else:
                del self.objects[key]
            return self.reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

    def do_POST(self):
        self.body()
        self.status_error(405, "MethodNotAllowed", "only apply, get, list and delete are served")

    do_PUT = do_POST

    def sweep(self):
        now = time.time()
        for objs in CLUSTERS.values():
            for key in [k for k, o in objs.items() if o["metadata"].get("_gone_at", now + 1) <= now]:
                del objs[key]


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
