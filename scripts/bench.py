"""The benchmark (not a test: it asserts nothing, it reports figures).

For the example stack and generated stacks of 100, 300 and 1,000 resources, against the
project's emulator: wall time and AWS calls of `up`, a no-op `plan` and `down`, calls by
operation, the most requests in flight, peak memory (GNU time); the same under 50 ms of
added latency per request (scripts/latency_proxy.py); and, for the example stack under
AWS's typical durations (scripts/realistic-durations.json times SCALE), `up` and `down`
wall time divided by the critical path computed from the plan's operation graph.

The waits are shaped by AWS's real durations, so only SCALE=1 (the default) measures how
soon "ready" is seen; a smaller SCALE shortens the run but polls sparsely for resources
that are ready long before AWS's would be.

    scripts/bench.sh                              # everything (about 40 minutes)
    REALISTIC=0 scripts/bench.sh                  # without the realistic run (about 10)
    SIZES=100 LATENCIES=0 REALISTIC=0 scripts/bench.sh
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1]
ENDPOINT = sys.argv[2]
PORT = int(ENDPOINT.rsplit(":", 1)[1])
SETTINGS = os.environ["PROVISION_REALISM_FILE"]
SCALE = float(os.environ.get("SCALE", "1"))
SIZES = [int(s) for s in os.environ.get("SIZES", "100 300 1000").split()]
LATENCIES = [int(s) for s in os.environ.get("LATENCIES", "0 50").split()]
PROFILE = json.load(open(os.path.join(ROOT, "scripts/realistic-durations.json")))["durations"]

# What each operation waits for in AWS, by kind (seconds before SCALE), after its calls.
CREATE = {
    "nat_gateway": PROFILE["nat_create"],
    "load_balancer": PROFILE["lb_create"],
    "database": PROFILE["rds_create"] + PROFILE["rds_backup"],
    "eks_cluster": PROFILE["eks_cluster_create"],
    "node_group": PROFILE["eks_nodegroup_create"],
    "distribution": PROFILE["cloudfront_deploy"],
}
DELETE = {
    "nat_gateway": PROFILE["nat_delete"],
    "database": PROFILE["rds_delete"],
    "eks_cluster": PROFILE["eks_cluster_delete"],
    "node_group": PROFILE["eks_nodegroup_delete"],
    # Disabled (a deployment), then deleted.
    "distribution": PROFILE["cloudfront_deploy"],
}


def settings(durations):
    tmp = SETTINGS + ".tmp"
    json.dump({"durations": durations, "scale": SCALE, "drain_scale": SCALE}, open(tmp, "w"))
    os.replace(tmp, SETTINGS)


def generated(n):
    """A stack of n resources: VPCs of up to 200 subnets, a security group and a route
    table per 20 subnets, log groups and topics for the rest."""
    out = ["stack: bench", "vpcs:"]
    vpcs = max(1, -(-n // 250))
    for v in range(vpcs):
        out.append(f"  v{v}: {{cidr: 10.{v}.0.0/16}}")
    left = n - vpcs
    subnets = min(left * 7 // 10, vpcs * 200)
    out.append("subnets:")
    for i in range(subnets):
        out.append(f"  s{i}: {{vpc: v{i // 200}, cidr: 10.{i // 200}.{i % 200}.0/24, zone: eu-west-3{'abc'[i % 3]}}}")
    left -= subnets
    groups = min(left // 3, max(1, subnets // 20))
    out.append("security_groups:")
    for g in range(groups):
        out.append(f"  g{g}: {{vpc: v{g % vpcs}, ingress: [{{ports: 443, cidr: 10.0.0.0/8}}]}}")
    left -= 2 * groups  # a group and its rules
    tables = min(left // 2, groups)
    if tables:
        out.append("route_tables:")
        for t in range(tables):
            mine = [f"s{i}" for i in range(subnets) if i % max(1, tables) == t and i // 200 == t % vpcs][:20]
            out.append(f"  t{t}: {{vpc: v{t % vpcs}, subnets: [{', '.join(mine)}]}}")
    left -= tables
    logs = left // 2
    if logs:
        out.append("log_groups:")
        for i in range(logs):
            out.append(f"  l{i}: {{retention_days: 7}}")
    left -= logs
    if left > 0:
        out.append("sns_topics:")
        for i in range(left):
            out.append(f"  n{i}: {{}}")
    return "\n".join(out) + "\n"


def run(file, args, endpoint):
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint)
    cmd = ["/usr/bin/time", "-f", "%M", BIN, "-f", file, "--yes", "--stats"] + args
    start = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    err = p.stderr.strip().splitlines()
    mem_kb = int(err[-1]) if err and err[-1].isdigit() else 0
    stats = {"calls": 0, "reads": 0, "writes": 0, "peak": 0, "ops": {}}
    for line in err:
        m = re.match(r"AWS calls: (\d+) \((\d+) reads, (\d+) writes.*at most (\d+) in flight", line)
        if m:
            stats.update(calls=int(m[1]), reads=int(m[2]), writes=int(m[3]), peak=int(m[4]))
        m = re.match(r"\s+(read|write)\s+(\d+)\s+(.+)$", line)
        if m:
            stats["ops"][m[3]] = int(m[2])
    if p.returncode not in (0, 2):
        print(f"    ! {' '.join(args)} exited {p.returncode}: {' '.join(err[-3:])[:300]}")
    return wall, mem_kb, stats


def critical_path(plan_ops, reverse=False):
    dur = DELETE if reverse else CREATE
    ops = plan_ops
    n = len(ops)
    after = [set(o.get("after", [])) for o in ops]
    if reverse:
        before = [set() for _ in range(n)]
        for i, a in enumerate(after):
            for j in a:
                before[j].add(i)
        after = before
    finish = {}

    def f(i):
        if i not in finish:
            finish[i] = max((f(j) for j in after[i]), default=0.0) + dur.get(ops[i]["kind"], 0) * SCALE
        return finish[i]

    return max((f(i) for i in range(n)), default=0.0)


def line(label, wall, mem_kb, st, kinds=None):
    per_kind = f", {st['reads'] / kinds:.1f} reads per kind" if kinds else ""
    print(f"  {label:<26} {wall:7.2f} s  {st['calls']:5} calls ({st['reads']} reads, {st['writes']} writes{per_kind}), "
          f"at most {st['peak']} in flight, {mem_kb / 1024:.0f} MB")


def case(name, text, latency, realistic):
    work = tempfile.mkdtemp()
    file = os.path.join(work, "stack.yaml")
    open(file, "w").write(text)
    subprocess.run(["curl", "-fsS", "-X", "POST", f"{ENDPOINT}/moto-api/reset"], capture_output=True)
    settings(PROFILE if realistic else {})
    proxy = None
    endpoint = ENDPOINT
    if latency:
        lport = PORT + 1
        proxy = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts/latency_proxy.py"), str(lport), str(PORT), str(latency)])
        time.sleep(0.5)
        endpoint = f"http://127.0.0.1:{lport}"
    try:
        # Warm-up: the emulator loads AWS's managed policies on the first IAM call.
        run(file, ["plan"], ENDPOINT)
        plan = json.loads(subprocess.run([BIN, "-f", file, "plan", "--json"], capture_output=True, text=True,
                                         env=dict(os.environ, AWS_ENDPOINT_URL=ENDPOINT)).stdout.splitlines()[-1])
        ops = plan["plan"]["operations"]
        kinds = len({o["kind"] for o in ops})
        print(f"{name}, {len(ops)} operations of {kinds} kinds, latency {latency} ms{', AWS durations x ' + str(SCALE) if realistic else ''}:")
        wall, mem, st = run(file, ["up"], endpoint)
        line("up", wall, mem, st)
        if realistic:
            cp = critical_path(ops)
            print(f"    critical path {cp:.1f} s: up / critical path = {wall / cp:.2f}")
        wall, mem, st = run(file, ["plan"], endpoint)
        line("plan (nothing to do)", wall, mem, st, kinds)
        if name.startswith("1000") or os.environ.get("BENCH_OPS"):
            top = sorted(st["ops"].items(), key=lambda kv: -kv[1])[:8]
            print("    reads by operation: " + ", ".join(f"{k} {v}" for k, v in top))
        wall, mem, st = run(file, ["down", "--skip-final-snapshot", "--force-empty"], endpoint)
        line("down", wall, mem, st)
        if realistic:
            cp = critical_path(ops, reverse=True)
            print(f"    critical path {cp:.1f} s: down / critical path = {wall / cp:.2f}")
    finally:
        if proxy:
            proxy.terminate()
            proxy.wait()


example = open(os.path.join(ROOT, "stack.yaml")).read().replace("stack: spotilike", "stack: bench", 1)
for latency in LATENCIES:
    case("example", example, latency, realistic=False)
if os.environ.get("REALISTIC", "1") == "1":
    case("example", example, 0, realistic=True)
for n in SIZES:
    for latency in LATENCIES:
        case(f"{n} resources", generated(n), latency, realistic=False)
