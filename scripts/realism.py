"""AWS behaviour the emulator lacks, for the test bed only.

Installed into the test venv's moto as `moto.provision_realism` and imported when the
server starts (scripts/patch_emulator.py). It wraps moto's backends so that, like AWS:

Rules (always on):
- a security group, subnet or VPC still used by a network interface (a database's
  included), or a group still referenced by another group's rules, is not deleted
  (DependencyViolation);
- an internet gateway is not detached while its VPC maps public addresses (an
  internet-facing load balancer, a NAT gateway, an associated Elastic IP);
- an internet-facing load balancer is not created in a VPC without an attached gateway;
- EKS makes a cluster security group (tagged with the cluster's name) and control-plane
  network interfaces that live as long as the cluster, and the `/aws/eks/<cluster>/cluster`
  log group (never expiring) when control-plane logging is on and the group is missing;
- EKS takes one update at a time; clusters remember their access mode, and a managed node
  group whose role has a path fails in the `CONFIG_MAP` mode (its nodes never join);
  access entries exist only in the `API` modes;
- a load balancer has one interface per subnet, which stays a while after the balancer;
- a role cannot be assumed for a while after it is created;
- a NAT gateway's client token, used again, answers with the gateway it first made;
- a new security group is unknown by id to other calls for a while (eventual consistency);
- a subnet is associated with one route table at a time;
- the tagging API's index learns of a bucket's tags a while after S3 does, and of any
  other resource a while after it could first have;
- a CloudFront configuration deploys for a while; only a disabled, deployed distribution
  can be deleted;
- a failed database cannot be deleted with a final snapshot; a subnet group is not deleted
  while a database (even one being deleted) is in it;
- the catalogs: EKS versions with their support status, RDS PostgreSQL versions and
  orderable classes; creating a version they do not offer is refused.

Durations (from the JSON file named by PROVISION_REALISM_FILE, re-read when it changes):
`{"durations": {"eks_cluster_create": 3, ...}, "scale": 1, "fail": {"rds": ["app-db"]}}`.
A missing duration is 0 (immediate), except the few AWS-side lingers that tests of the
rules need and set themselves. `scale` multiplies every duration (a benchmark runs the
real AWS durations scaled down).
"""

import json
import os
import threading
import time

from moto.core.exceptions import JsonRESTError

LOCK = threading.RLock()
_conf = {"mtime": None, "data": {}}


def conf():
    path = os.environ.get("PROVISION_REALISM_FILE")
    if not path:
        return {}
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return {}
    if mtime != _conf["mtime"]:
        try:
            with open(path) as f:
                _conf["data"] = json.load(f)
        except (OSError, ValueError):
            _conf["data"] = {}
        _conf["mtime"] = mtime
    return _conf["data"]


def dur(key):
    c = conf()
    return float(c.get("durations", {}).get(key, 0)) * float(c.get("scale", 1))


def failing(kind, ident):
    return ident in conf().get("fail", {}).get(kind, [])


# Things that go later: (deadline, action).
_later = []


def later(seconds, action):
    if seconds <= 0:
        action()
        return
    with LOCK:
        _later.append((time.time() + seconds, action))


def tick():
    """Carry out what is due. Called at the start of every wrapped call."""
    now = time.time()
    with LOCK:
        due = [a for (t, a) in _later if t <= now]
        _later[:] = [(t, a) for (t, a) in _later if t > now]
    for a in due:
        try:
            a()
        except Exception:  # noqa: BLE001 - a vanished resource is fine
            pass


def timed(cls, attr):
    """Make `cls.attr` follow phases set with `phase`; outside them it reads as before
    (through the class's own property when it has one, such as moto's state manager)."""
    private = "_pr_" + attr
    phases = "_pr_phases_" + attr
    original = cls.__dict__.get(attr)
    if not isinstance(original, property):
        for base in cls.__mro__[1:]:
            if isinstance(base.__dict__.get(attr), property):
                original = base.__dict__[attr]
                break
    own = original if isinstance(original, property) else None

    def set_(self, value):
        if own is not None and own.fset is not None:
            own.fset(self, value)
        else:
            self.__dict__[private] = value

    def get(self):
        ps = self.__dict__.get(phases)
        now = time.time()
        while ps:
            deadline, during, after = ps[0]
            if now < deadline:
                return during
            ps.pop(0)
            set_(self, after)
        if own is not None:
            return own.fget(self)
        return self.__dict__.get(private)

    setattr(cls, attr, property(get, set_))


def phase(obj, attr, during, seconds, after=None):
    """`obj.attr` reads `during` for `seconds`, then `after` (default: its value now)."""
    if seconds <= 0:
        if after is not None:
            setattr(obj, attr, after)
        return
    ps = obj.__dict__.setdefault("_pr_phases_" + attr, [])
    if after is None:
        # What it reads once every phase is over (not what a pending phase shows now).
        after = ps[-1][2] if ps else getattr(obj, attr)
    start = ps[-1][0] if ps else time.time()
    ps.append((start + seconds, during, after))


def in_phase(obj, attr):
    ps = obj.__dict__.get("_pr_phases_" + attr)
    return bool(ps) and time.time() < ps[-1][0]


def wrap(cls, name, make):
    original = getattr(cls, name)

    def wrapped(self, *args, **kwargs):
        tick()
        return make(self, original, *args, **kwargs)

    setattr(cls, name, wrapped)


# Every request carries out what is due, whatever the service: a client that only polls
# (a describe no rule wraps) still sees a deletion end.
from moto.core.responses import BaseResponse  # noqa: E402

_call_action = BaseResponse.call_action


def _ticking_call_action(self, *args, **kwargs):
    tick()
    return _call_action(self, *args, **kwargs)


BaseResponse.call_action = _ticking_call_action


# ---------------------------------------------------------------------------------------
# EC2: dependency rules, NAT gateways.

from moto.ec2.exceptions import DependencyViolationError  # noqa: E402
from moto.ec2.models import EC2Backend, ec2_backends  # noqa: E402
import moto.ec2.models.nat_gateways as nat_models  # noqa: E402


def _enis(ec2, pred):
    return [e for e in list(ec2.enis.values()) if pred(e)]


def _group_users(ec2, group_id):
    users = _enis(ec2, lambda e: any(g.id == group_id for g in e._group_set))
    # A database's interfaces are in its groups (moto makes none for it).
    from moto.rds.models import rds_backends

    rds = rds_backends[ec2.account_id][ec2.region_name]
    users += [
        d for d in list(rds.databases.values())
        if group_id in (getattr(d, "vpc_security_group_ids", None) or [])
    ]
    refs = []
    for groups in ec2.groups.values():
        for g in groups.values():
            if g.id == group_id:
                continue
            for rule in list(g.ingress_rules) + list(g.egress_rules):
                peer = getattr(rule, "source_group", None) or {}
                peers = [peer] + list(getattr(rule, "source_groups", []) or [])
                if any(p.get("GroupId") == group_id for p in peers):
                    refs.append(g.id)
    return users, refs


def _delete_security_group(self, original, name=None, group_id=None):
    gid = group_id
    if gid is None and name:
        g = self.get_security_group_by_name_or_id(name)
        gid = g.id if g else None
    if gid:
        users, refs = _group_users(self, gid)
        if users or refs:
            raise DependencyViolationError(f"resource {gid} has a dependent object")
    return original(self, name=name, group_id=group_id)


# Eventual consistency: a new group is not yet known by id to the other operations for
# `sg_visible` seconds (0 unless a test sets it).
from moto.ec2.exceptions import (  # noqa: E402
    InvalidSecurityGroupNotFoundError,
    ResourceAlreadyAssociatedError,
)


def _create_security_group(self, original, *args, **kwargs):
    group = original(self, *args, **kwargs)
    group._pr_visible_at = time.time() + dur("sg_visible")
    return group


def _not_yet_visible(ec2, ids):
    now = time.time()
    for groups in ec2.groups.values():
        for g in groups.values():
            if g.id in ids and getattr(g, "_pr_visible_at", 0) > now:
                raise InvalidSecurityGroupNotFoundError(g.id)


def _describe_security_groups(self, original, group_ids=None, groupnames=None, filters=None):
    if group_ids:
        _not_yet_visible(self, group_ids)
    return original(self, group_ids=group_ids, groupnames=groupnames, filters=filters)


def _authorize(self, original, group_name_or_id, *args, **kwargs):
    _not_yet_visible(self, [group_name_or_id])
    return original(self, group_name_or_id, *args, **kwargs)


def _associate_route_table(self, original, route_table_id, gateway_id=None, subnet_id=None):
    # AWS refuses a subnet another table holds (moto answers with that association).
    if subnet_id:
        for table in self.route_tables.values():
            if table.id != route_table_id and subnet_id in table._associations.values():
                raise ResourceAlreadyAssociatedError(subnet_id)
    return original(self, route_table_id, gateway_id=gateway_id, subnet_id=subnet_id)


wrap(EC2Backend, "associate_route_table", _associate_route_table)
wrap(EC2Backend, "create_security_group", _create_security_group)
wrap(EC2Backend, "describe_security_groups", _describe_security_groups)
wrap(EC2Backend, "authorize_security_group_ingress", _authorize)
wrap(EC2Backend, "authorize_security_group_egress", _authorize)


def _delete_subnet(self, original, subnet_id):
    users = _enis(self, lambda e: e.subnet.id == subnet_id)
    nats = [
        n for n in self.nat_gateways.values() if n.subnet_id == subnet_id and n.state != "deleted"
    ]
    if users or nats:
        raise DependencyViolationError(
            f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
        )
    return original(self, subnet_id)


def _delete_vpc(self, original, vpc_id):
    if _enis(self, lambda e: e.subnet.vpc_id == vpc_id):
        raise DependencyViolationError(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
    return original(self, vpc_id)


def _public_addresses(ec2, vpc_id):
    """What maps public addresses in a VPC: NAT gateways, internet-facing balancers,
    associated Elastic IPs."""
    found = [
        n.id for n in ec2.nat_gateways.values() if n.vpc_id == vpc_id and n.state != "deleted"
    ]
    try:
        from moto.elbv2.models import elbv2_backends

        elb = elbv2_backends[ec2.account_id][ec2.region_name]
        found += [
            lb.name
            for lb in elb.load_balancers.values()
            if lb.vpc_id == vpc_id and lb.scheme == "internet-facing"
        ]
    except Exception:  # noqa: BLE001
        pass
    found += [
        e.id
        for e in _enis(ec2, lambda e: e.subnet.vpc_id == vpc_id)
        if getattr(e, "_pr_public", False)
    ]
    return found


def _detach_internet_gateway(self, original, internet_gateway_id, vpc_id):
    if _public_addresses(self, vpc_id):
        raise DependencyViolationError(
            f"Network {vpc_id} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."
        )
    return original(self, internet_gateway_id, vpc_id)


wrap(EC2Backend, "delete_security_group", _delete_security_group)
wrap(EC2Backend, "delete_subnet", _delete_subnet)
wrap(EC2Backend, "delete_vpc", _delete_vpc)
wrap(EC2Backend, "detach_internet_gateway", _detach_internet_gateway)

timed(nat_models.NatGateway, "state")

# Client tokens of NAT gateway creates: token -> gateway id, kept after the gateway goes.
_nat_tokens = {}

import moto.ec2.responses.nat_gateways as nat_responses  # noqa: E402

_create_nat_response = nat_responses.NatGateways.create_nat_gateway


def _create_nat_gateway_response(self):
    tick()
    token = self._get_param("ClientToken")
    if token and token in _nat_tokens:
        from moto.core.responses import ActionResult

        nat = self.ec2_backend.nat_gateways.get(_nat_tokens[token])
        if nat is not None:
            return ActionResult({"NatGateway": nat})
    result = _create_nat_response(self)
    nat = list(self.ec2_backend.nat_gateways.values())[-1]
    if token:
        _nat_tokens[token] = nat.id
    phase(nat, "state", "pending", dur("nat_create"))
    return result


nat_responses.NatGateways.create_nat_gateway = _create_nat_gateway_response


def _delete_nat_gateway(self, original, nat_gateway_id):
    nat = self.nat_gateways.get(nat_gateway_id)
    if nat is not None and nat.state == "deleted":
        return nat
    result = original(self, nat_gateway_id)
    seconds = dur("nat_delete")
    phase(nat, "state", "deleting", seconds, "deleted")
    eni = getattr(nat, "_eni", None)
    if eni is not None:
        # AWS removes the gateway's interface with it, and releases its address.
        def gone():
            for eip in self.addresses:
                if eip.eni is eni:
                    eip.eni = None
                    eip.association_id = None
            self.enis.pop(eni.id, None)

        later(seconds, gone)
    return result


wrap(EC2Backend, "delete_nat_gateway", _delete_nat_gateway)


# ---------------------------------------------------------------------------------------
# ELBv2: states, interfaces, the internet gateway rule.

from moto.elbv2.exceptions import ELBClientError  # noqa: E402
from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer  # noqa: E402

timed(FakeLoadBalancer, "state")


def _create_load_balancer(self, original, *args, **kwargs):
    subnet_ids = kwargs.get("subnet_ids") or (args[2] if len(args) > 2 else [])
    scheme = kwargs.get("scheme", "internet-facing")
    ec2 = self.ec2_backend
    subnets = [ec2.get_subnet(s) for s in subnet_ids or []]
    if subnets and scheme == "internet-facing":
        vpc_id = subnets[0].vpc_id
        attached = [g for g in ec2.internet_gateways.values() if g.vpc and g.vpc.id == vpc_id]
        if not attached:
            raise ELBClientError("InvalidSubnet", f"VPC {vpc_id} has no internet gateway")
    lb = original(self, *args, **kwargs)
    lb.state = "active"
    phase(lb, "state", "provisioning", dur("lb_create"))
    lb_id = lb.arn.rsplit("/", 1)[-1]
    lb._pr_enis = []
    for s in subnets:
        eni = ec2.create_network_interface(
            s,
            None,
            group_ids=list(lb.security_groups or []),
            description=f"ELB app/{lb.name}/{lb_id}",
        )
        eni.requester_managed = True
        eni.status = "in-use"
        eni._pr_public = scheme == "internet-facing"
        lb._pr_enis.append(eni.id)
    return lb


def _delete_load_balancer(self, original, arn):
    lb = self.load_balancers.get(arn)
    result = original(self, arn)
    if lb is not None:
        ec2 = self.ec2_backend
        for eni_id in getattr(lb, "_pr_enis", []):
            # The interfaces stay a while after the balancer (AWS cleans them up later).
            later(dur("lb_eni_linger"), lambda i=eni_id: ec2.enis.pop(i, None))
    return result


wrap(ELBv2Backend, "create_load_balancer", _create_load_balancer)
wrap(ELBv2Backend, "delete_load_balancer", _delete_load_balancer)


# ---------------------------------------------------------------------------------------
# IAM: a new role cannot be assumed at once.

from moto.iam.models import IAMBackend  # noqa: E402

_role_created = {}


def _create_role(self, original, *args, **kwargs):
    role = original(self, *args, **kwargs)
    _role_created[role.arn] = time.time()
    return role


wrap(IAMBackend, "create_role", _create_role)


def assumable(role_arn):
    return time.time() - _role_created.get(role_arn, 0) >= dur("iam_propagation")


# ---------------------------------------------------------------------------------------
# EKS: states, one update at a time, the cluster's own group, interfaces and log group,
# access mode, catalog of versions.

import moto.eks.models as eks_models  # noqa: E402
import moto.eks.responses as eks_responses  # noqa: E402
import moto.eks.urls as eks_urls  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402
from moto.eks.exceptions import (  # noqa: E402
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)

timed(eks_models.Cluster, "status")
timed(eks_models.Nodegroup, "status")

# Kubernetes versions as EKS serves them on 2026-11-28.
EKS_VERSIONS = [
    ("1.35", "STANDARD_SUPPORT", "2026-01-27", "2027-03-27", "2028-03-27"),
    ("1.34", "STANDARD_SUPPORT", "2025-10-02", "2026-12-02", "2027-12-02"),
    ("1.33", "EXTENDED_SUPPORT", "2025-05-29", "2026-07-29", "2027-07-29"),
    ("1.32", "EXTENDED_SUPPORT", "2025-01-23", "2026-03-23", "2027-03-23"),
]


def _eks_error(cls, message):
    return cls(clusterName=None, nodegroupName=None, addonName=None, message=message)


def _create_cluster_response(self):
    tick()
    version = self._get_param("version")
    offered = [v[0] for v in EKS_VERSIONS]
    if version and version not in offered:
        raise InvalidParameterException(
            message=f"unsupported Kubernetes version {version}", clusterName=None, nodegroupName=None, addonName=None
        )
    role = self._get_param("roleArn")
    if role and not assumable(role):
        raise InvalidParameterException(
            message=f"Role with arn: {role}, could not be assumed because it does not exist or the trusted entity is not correct",
            clusterName=None, nodegroupName=None, addonName=None,
        )
    result = _create_cluster_original(self)
    name = self._get_param("name")
    cluster = self.eks_backend.clusters[name]
    access = self._get_param("accessConfig") or {}
    cluster._pr_auth_mode = access.get("authenticationMode", "CONFIG_MAP")
    # The Kubernetes API: the test double (scripts/kube_double.py) when one runs.
    if os.environ.get("PROVISION_EKS_ENDPOINT"):
        cluster.endpoint = f'{os.environ["PROVISION_EKS_ENDPOINT"]}/clusters/{cluster.name}'
    cluster.status = "ACTIVE"
    phase(cluster, "status", "CREATING", dur("eks_cluster_create"))
    _cluster_side_resources(self.eks_backend, cluster)
    _control_plane_logs(self.eks_backend, cluster)
    return result


_create_cluster_original = eks_responses.EKSResponse.create_cluster
eks_responses.EKSResponse.create_cluster = _create_cluster_response


def _cluster_side_resources(eks, cluster):
    ec2 = ec2_backends[eks.account_id][eks.region_name]
    vpc_cfg = cluster.resources_vpc_config or {}
    subnet_ids = vpc_cfg.get("subnetIds") or []
    subnets = [ec2.get_subnet(s) for s in subnet_ids]
    if not subnets:
        return
    vpc_id = subnets[0].vpc_id
    sg = ec2.create_security_group(
        f"eks-cluster-sg-{cluster.name}-{abs(hash(cluster.arn)) % 10**10}",
        "EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.",
        vpc_id,
        tags={"aws:eks:cluster-name": cluster.name, f"kubernetes.io/cluster/{cluster.name}": "owned"},
    )
    vpc_cfg["clusterSecurityGroupId"] = sg.id
    groups = [sg.id] + list(vpc_cfg.get("securityGroupIds") or [])
    enis = []
    for s in subnets[:2]:
        eni = ec2.create_network_interface(s, None, group_ids=groups, description=f"Amazon EKS {cluster.name}")
        eni.status = "in-use"
        enis.append(eni.id)
    cluster._pr_side = (sg.id, vpc_id, enis)


def _control_plane_logs(eks, cluster):
    on = any(
        s.get("enabled") and s.get("types")
        for s in (cluster.logging or {}).get("clusterLogging", [])
    )
    if not on:
        return
    from moto.logs.models import logs_backends

    logs = logs_backends[eks.account_id][eks.region_name]
    name = f"/aws/eks/{cluster.name}/cluster"
    if name not in logs.groups:
        logs.create_log_group(name, {})


def _remove_side_resources(eks, cluster):
    side = getattr(cluster, "_pr_side", None)
    if not side:
        return
    sg_id, vpc_id, enis = side
    ec2 = ec2_backends[eks.account_id][eks.region_name]
    for e in enis:
        ec2.enis.pop(e, None)
    ec2.groups.get(vpc_id, {}).pop(sg_id, None)


def _delete_cluster(self, original, name):
    cluster = self.clusters.get(name)
    if cluster is not None and in_phase(cluster, "status") and cluster.status == "DELETING":
        return cluster
    result = original(self, name)
    seconds = dur("eks_cluster_delete")

    def gone():
        self.clusters.pop(name, None)
        _remove_side_resources(self, cluster)

    if seconds > 0 and cluster is not None:
        self.clusters[name] = cluster
        phase(cluster, "status", "DELETING", seconds, "DELETING")
        later(seconds, gone)
    else:
        _remove_side_resources(self, cluster)
    return result


wrap(eks_models.EKSBackend, "delete_cluster", _delete_cluster)


def _updating(cluster):
    if cluster.status in ("UPDATING", "CREATING"):
        raise _eks_error(
            ResourceInUseException,
            f"Cluster {cluster.name} has an update in progress: only one update at a time",
        )


def _update_cluster_config(self, original, name, *args, **kwargs):
    cluster = self.clusters.get(name)
    before = None
    if cluster is not None:
        _updating(cluster)
        before = dict(cluster.resources_vpc_config or {})
    result = original(self, name, *args, **kwargs)
    if before is not None:
        # AWS changes only the fields the call names, not the whole VPC configuration.
        before.update(cluster.resources_vpc_config or {})
        cluster.resources_vpc_config = before
    if cluster is not None:
        phase(cluster, "status", "UPDATING", dur("eks_update"), "ACTIVE")
        _control_plane_logs(self, cluster)
    return result


wrap(eks_models.EKSBackend, "update_cluster_config", _update_cluster_config)


def _update_cluster_version(self):
    tick()
    name = self._get_param("name")
    version = self._get_param("version")
    cluster = self.eks_backend.describe_cluster(name=name)
    _updating(cluster)
    cluster.version = version
    phase(cluster, "status", "UPDATING", dur("eks_update"), "ACTIVE")
    return ActionResult(
        {"update": {"id": f"update-{int(time.time() * 1000)}", "status": "InProgress", "type": "VersionUpdate"}}
    )


def _describe_cluster_versions(self):
    tick()
    versions = [
        {
            "clusterVersion": v,
            "clusterType": "eks",
            "defaultPlatformVersion": "eks.1",
            "defaultVersion": v == "1.34",
            "status": s,
            "versionStatus": s,
            "releaseDate": r,
            "endOfStandardSupportDate": e1,
            "endOfExtendedSupportDate": e2,
        }
        for (v, s, r, e1, e2) in EKS_VERSIONS
    ]
    return ActionResult({"clusterVersions": versions})


eks_responses.EKSResponse.update_cluster_version = _update_cluster_version
eks_responses.EKSResponse.describe_cluster_versions = _describe_cluster_versions
eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/updates$"] = eks_urls.response.dispatch
eks_urls.url_paths["{0}/cluster-versions$"] = eks_urls.response.dispatch


# Access entries (moto has none): kept on the cluster, refused in the CONFIG_MAP mode.

def _access_cluster(self):
    tick()
    cluster = self.eks_backend.describe_cluster(name=self._get_param("name"))
    if getattr(cluster, "_pr_auth_mode", "CONFIG_MAP") == "CONFIG_MAP":
        raise _eks_error(
            InvalidRequestException,
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
        )
    if not hasattr(cluster, "_pr_access"):
        cluster._pr_access = {}
    return cluster


def _principal(self):
    from urllib.parse import unquote

    return unquote(self._get_param("principalArn"))


def _entry(cluster, principal):
    e = cluster._pr_access[principal]
    return {
        "clusterName": cluster.name,
        "principalArn": principal,
        "accessEntryArn": e["arn"],
        "tags": e["tags"],
        "type": "STANDARD",
        "kubernetesGroups": [],
        "username": principal,
    }


def _create_access_entry(self):
    cluster = _access_cluster(self)
    principal = self._get_param("principalArn")
    if principal in cluster._pr_access:
        raise _eks_error(ResourceInUseException, f"The specified access entry resource is already in use on this cluster.")
    cluster._pr_access[principal] = {
        "arn": f"{cluster.arn.replace(':cluster/', ':access-entry/')}/{len(cluster._pr_access)}",
        "tags": self._get_param("tags") or {},
        "policies": [],
    }
    return ActionResult({"accessEntry": _entry(cluster, principal)})


def _list_access_entries(self):
    cluster = _access_cluster(self)
    return ActionResult({"accessEntries": list(cluster._pr_access)})


def _known_entry(cluster, principal):
    if principal not in cluster._pr_access:
        raise _eks_error(ResourceNotFoundException, f"The specified principalArn could not be found: {principal}")


def _describe_access_entry(self):
    cluster = _access_cluster(self)
    principal = _principal(self)
    _known_entry(cluster, principal)
    return ActionResult({"accessEntry": _entry(cluster, principal)})


def _delete_access_entry(self):
    cluster = _access_cluster(self)
    principal = _principal(self)
    _known_entry(cluster, principal)
    del cluster._pr_access[principal]
    return ActionResult({})


def _associate_access_policy(self):
    cluster = _access_cluster(self)
    principal = _principal(self)
    _known_entry(cluster, principal)
    policy = {"policyArn": self._get_param("policyArn"), "accessScope": self._get_param("accessScope")}
    policies = cluster._pr_access[principal]["policies"]
    if policy not in policies:
        policies.append(policy)
    return ActionResult({"clusterName": cluster.name, "principalArn": principal, "associatedAccessPolicy": policy})


def _list_associated_access_policies(self):
    cluster = _access_cluster(self)
    principal = _principal(self)
    _known_entry(cluster, principal)
    return ActionResult({
        "clusterName": cluster.name,
        "principalArn": principal,
        "associatedAccessPolicies": cluster._pr_access[principal]["policies"],
    })


eks_responses.EKSResponse.create_access_entry = _create_access_entry
eks_responses.EKSResponse.list_access_entries = _list_access_entries
eks_responses.EKSResponse.describe_access_entry = _describe_access_entry
eks_responses.EKSResponse.delete_access_entry = _delete_access_entry
eks_responses.EKSResponse.associate_access_policy = _associate_access_policy
eks_responses.EKSResponse.list_associated_access_policies = _list_associated_access_policies
eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries$"] = eks_urls.response.dispatch
eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)/access-policies$"] = eks_urls.response.dispatch
eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$"] = eks_urls.response.dispatch


def _create_nodegroup(self, original, *args, **kwargs):
    cluster_name = kwargs.get("cluster_name", args[0] if args else None)
    role = kwargs.get("node_role", args[1] if len(args) > 1 else "")
    if role and not assumable(role):
        raise InvalidParameterException(
            message=f"Role with arn: {role}, could not be assumed", clusterName=None, nodegroupName=None, addonName=None
        )
    ng = original(self, *args, **kwargs)
    cluster = self.clusters.get(cluster_name)
    mode = getattr(cluster, "_pr_auth_mode", "CONFIG_MAP")
    path = role.split(":role", 1)[-1]
    pathful = path.count("/") > 1
    seconds = dur("eks_nodegroup_create")
    if mode == "CONFIG_MAP" and pathful:
        # The aws-auth entry carries the path; the authenticator does not match it.
        ng.health = {
            "issues": [
                {
                    "code": "NodeCreationFailure",
                    "message": "Instances failed to join the kubernetes cluster",
                    "resourceIds": [],
                }
            ]
        }
        phase(ng, "status", "CREATING", seconds, "CREATE_FAILED")
    else:
        phase(ng, "status", "CREATING", seconds)
    return ng


wrap(eks_models.EKSBackend, "create_nodegroup", _create_nodegroup)


def _delete_nodegroup(self, original, cluster_name, nodegroup_name):
    cluster = self.clusters.get(cluster_name)
    ng = cluster.nodegroups.get(nodegroup_name) if cluster else None
    if ng is not None and in_phase(ng, "status") and ng.status == "DELETING":
        return ng
    result = original(self, cluster_name, nodegroup_name)
    seconds = dur("eks_nodegroup_delete")
    if seconds > 0 and ng is not None:
        cluster.nodegroups[nodegroup_name] = ng
        phase(ng, "status", "DELETING", seconds, "DELETING")
        later(seconds, lambda: cluster.nodegroups.pop(nodegroup_name, None))
    return result


wrap(eks_models.EKSBackend, "delete_nodegroup", _delete_nodegroup)


# ---------------------------------------------------------------------------------------
# RDS: states, catalog, failed instances.

import moto.rds.models as rds_models  # noqa: E402
import moto.rds.responses as rds_responses  # noqa: E402
from moto.rds.exceptions import (  # noqa: E402
    RDSClientError,
    InvalidDBInstanceStateFault,
    InvalidParameterCombination,
)

timed(rds_models.DBInstance, "status")

# PostgreSQL as RDS offers it on 2026-11-28 (the default minor of each major first).
RDS_POSTGRES = {
    "14": ["14.20", "14.19"],
    "15": ["15.15", "15.14"],
    "16": ["16.11", "16.10"],
    "17": ["17.7", "17.6"],
    "18": ["18.1"],
}
RDS_CLASSES = [
    "db.t3.micro", "db.t3.small", "db.t3.medium", "db.t4g.micro", "db.t4g.small",
    "db.t4g.medium", "db.m6g.large", "db.m7g.large", "db.r6g.large", "db.r7g.large",
]


def _offered(version):
    major = version.split(".")[0]
    minors = RDS_POSTGRES.get(major, [])
    if version == major:
        return minors[0] if minors else None
    return version if version in minors else None


def _create_db_instance(self, original, db_kwargs):
    if db_kwargs.get("engine") == "postgres":
        asked = db_kwargs.get("engine_version") or "17"
        exact = _offered(asked)
        if exact is None:
            raise InvalidParameterCombination(f"Cannot find version {asked} for postgres")
        cls = db_kwargs.get("db_instance_class")
        if cls and cls not in RDS_CLASSES:
            raise InvalidParameterCombination(
                f"RDS does not support creating a DB instance with the following combination: DBInstanceClass={cls}, Engine=postgres, EngineVersion={exact}"
            )
        db_kwargs["engine_version"] = exact
    db = original(self, db_kwargs)
    db.status = "available"
    phase(db, "status", "creating", dur("rds_create"))
    phase(db, "status", "backing-up", dur("rds_backup"))
    return db


def _modify_db_instance(self, original, db_instance_identifier, db_kwargs):
    db = self.databases.get(db_instance_identifier)
    before = (db.allocated_storage, db.storage_type) if db else None
    result = original(self, db_instance_identifier, db_kwargs)
    if db is not None:
        phase(db, "status", "modifying", dur("rds_modify"), "available")
        if before != (db.allocated_storage, db.storage_type):
            phase(db, "status", "storage-optimization", dur("rds_storage_optimization"), "available")
    return result


def _delete_db_instance(self, original, db_instance_identifier, final_db_snapshot_identifier=None, skip_final_snapshot=False, delete_automated_backups=True):
    db = self.databases.get(db_instance_identifier)
    if db is not None and failing("rds", db_instance_identifier) and not skip_final_snapshot:
        raise InvalidDBInstanceStateFault(
            f"Cannot create a final snapshot of instance {db_instance_identifier} in state failed: set SkipFinalSnapshot"
        )
    result = original(self, db_instance_identifier, final_db_snapshot_identifier, skip_final_snapshot, delete_automated_backups)
    seconds = dur("rds_delete")
    if seconds > 0 and db is not None:
        self.databases[db_instance_identifier] = db
        phase(db, "status", "deleting", seconds, "deleting")
        later(seconds, lambda: self.databases.pop(db_instance_identifier, None))
    return result


def _delete_subnet_group(self, original, subnet_name):
    users = [
        db.db_instance_identifier
        for db in list(self.databases.values())
        if getattr(getattr(db, "db_subnet_group", None), "name", None) == subnet_name
    ]
    if users:
        raise RDSClientError(
            "InvalidDBSubnetGroupStateFault",
            f"Cannot delete the subnet group '{subnet_name}' because at least one database instance: {users[0]} is still using it.",
        )
    return original(self, subnet_name)


wrap(rds_models.RDSBackend, "delete_subnet_group", _delete_subnet_group)
wrap(rds_models.RDSBackend, "create_db_instance", _create_db_instance)
wrap(rds_models.RDSBackend, "modify_db_instance", _modify_db_instance)
wrap(rds_models.RDSBackend, "delete_db_instance", _delete_db_instance)

_status_get = rds_models.DBInstance.status.fget


def _db_status(self):
    if failing("rds", getattr(self, "db_instance_identifier", "")):
        return "failed"
    return _status_get(self)


rds_models.DBInstance.status = property(_db_status, rds_models.DBInstance.status.fset)


def _describe_db_engine_versions(self):
    tick()
    engine = self._get_param("Engine") or "postgres"
    version = self._get_param("EngineVersion")
    default_only = self._get_param("DefaultOnly") in (True, "true")
    out = []
    if engine == "postgres":
        for major, minors in RDS_POSTGRES.items():
            for i, v in enumerate(minors):
                if version and not (v == version or v.split(".")[0] == version):
                    continue
                if default_only and i > 0:
                    continue
                out.append({
                    "Engine": "postgres",
                    "EngineVersion": v,
                    "DBParameterGroupFamily": f"postgres{major}",
                    "Status": "available",
                })
    return ActionResult({"DBEngineVersions": out})


def _describe_orderable(self, original, engine, engine_version):
    if engine != "postgres":
        return original(self, engine, engine_version)
    versions = [v for minors in RDS_POSTGRES.values() for v in minors]
    if engine_version:
        exact = _offered(engine_version)
        versions = [exact] if exact else []
    return [
        {"Engine": "postgres", "EngineVersion": v, "DBInstanceClass": c, "StorageType": "gp3"}
        for v in versions
        for c in RDS_CLASSES
    ]


def _describe_orderable_response(self):
    tick()
    options = self.backend.describe_orderable_db_instance_options(
        self.params.get("Engine"), self.params.get("EngineVersion")
    )
    wanted = self.params.get("DBInstanceClass")
    if wanted:
        options = [o for o in options if o.get("DBInstanceClass") == wanted]
    return ActionResult({"OrderableDBInstanceOptions": options})


rds_responses.RDSResponse.describe_db_engine_versions = _describe_db_engine_versions
rds_responses.RDSResponse.describe_orderable_db_instance_options = _describe_orderable_response
wrap(rds_models.RDSBackend, "describe_orderable_db_instance_options", _describe_orderable)


# ---------------------------------------------------------------------------------------
# ECS: draining on delete for the target group's deregistration delay; roles not yet
# assumable; the deployment settings kept; tasks that never become healthy.

import moto.ecs.models as ecs_models  # noqa: E402
import moto.ecs.responses as ecs_responses  # noqa: E402
from moto.ecs.exceptions import InvalidParameterException as EcsInvalid  # noqa: E402
from moto.elbv2.models import elbv2_backends  # noqa: E402


def _deregistration_delay(service):
    """The longest deregistration delay of the service's target groups (AWS: 300 s)."""
    longest = 0
    backend = elbv2_backends[service._account_id][service.region_name]
    for lb in service.load_balancers or []:
        group = backend.target_groups.get(lb.get("targetGroupArn"))
        if group is None:
            continue
        value = group.attributes.get("deregistration_delay.timeout_seconds", 300)
        longest = max(longest, int(value))
    return longest


def _delete_service(self, original, cluster_name, service_name, force):
    result = original(self, cluster_name, service_name, force)
    # Tasks leave their target groups after the deregistration delay: `drain_scale`
    # turns its seconds into the test's (0 unless set).
    seconds = dur("ecs_drain") + _deregistration_delay(result) * float(conf().get("drain_scale", 0))
    phase(result, "status", "DRAINING", seconds, "INACTIVE")
    return result


_create_service_original = ecs_responses.EC2ContainerServiceResponse.create_service


def _create_service_response(self):
    result = _create_service_original(self)
    name = self._get_param("serviceName")
    service = self.ecs_backend._get_service(self._get_param("cluster", "default"), name)
    # Kept and described, as AWS does (moto drops them).
    service.deployment_configuration = self._get_param("deploymentConfiguration")
    service.health_check_grace_period_seconds = self._get_param("healthCheckGracePeriodSeconds")
    if failing("ecs", name):
        # The tasks stop as soon as they start: nothing ever runs. Without a circuit
        # breaker ECS relaunches them for ever; with one, the deployment fails.
        service.running_count = 0
        deployment = service.deployments[0]
        deployment.update(runningCount=0, rolloutState="IN_PROGRESS", failedTasks=3)
        breaker = (service.deployment_configuration or {}).get("deploymentCircuitBreaker") or {}
        if breaker.get("enable"):
            later(
                dur("ecs_circuit_breaker"),
                lambda: deployment.update(
                    rolloutState="FAILED",
                    rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
                ),
            )
    return result


ecs_responses.EC2ContainerServiceResponse.create_service = _create_service_response
wrap(
    ecs_models.EC2ContainerServiceBackend,
    "describe_services",
    lambda self, original, *args, **kwargs: original(self, *args, **kwargs),
)


wrap(ecs_models.EC2ContainerServiceBackend, "delete_service", _delete_service)


timed(ecs_models.Service, "status")


def _create_service(self, original, *args, **kwargs):
    td_arn = kwargs.get("task_definition_str") or (args[3] if len(args) > 3 else None)
    try:
        td = self.describe_task_definition(td_arn) if td_arn else None
    except Exception:  # noqa: BLE001
        td = None
    role = getattr(td, "execution_role_arn", None) if td else None
    if role and not assumable(role):
        raise EcsInvalid(
            f"ECS was unable to assume the role '{role}' that was provided for this task."
        )
    return original(self, *args, **kwargs)


wrap(ecs_models.EC2ContainerServiceBackend, "create_service", _create_service)


def _task_definition_families(self, original, *args, **kwargs):
    # A family whose revisions were all deleted is no longer listed (AWS forgets it).
    return [f for f in original(self, *args, **kwargs) if self.task_definitions.get(f)]


wrap(ecs_models.EC2ContainerServiceBackend, "list_task_definition_families", _task_definition_families)


# ---------------------------------------------------------------------------------------
# The Resource Groups Tagging API: a separate index that learns of a bucket's tags later
# (`tagging_index_lag` seconds, 0 unless a test sets it).

import moto.resourcegroupstaggingapi.models as rgt_models  # noqa: E402
from moto.s3.models import S3Backend  # noqa: E402

_bucket_tagged_at = {}


def _put_bucket_tagging(self, original, bucket_name, *args, **kwargs):
    _bucket_tagged_at[bucket_name] = time.time()
    return original(self, bucket_name, *args, **kwargs)


_first_indexed = {}


def _get_resources(self, original, *args, **kwargs):
    token, items = original(self, *args, **kwargs)
    lag = dur("tagging_index_lag")
    if lag > 0:
        now = time.time()

        def indexed(item):
            if item.arn.startswith("arn:aws:s3:::"):
                name = item.arn.removeprefix("arn:aws:s3:::")
                return _bucket_tagged_at.get(name, 0) + lag <= now
            # Other resources: learnt `lag` seconds after the index first could have.
            seen = _first_indexed.setdefault(item.arn, now)
            return seen + lag <= now

        items = [i for i in items if indexed(i)]
    return token, items


wrap(S3Backend, "put_bucket_tagging", _put_bucket_tagging)
wrap(rgt_models.ResourceGroupsTaggingAPIBackend, "get_resources", _get_resources)


# ---------------------------------------------------------------------------------------
# CloudFront: a configuration is `InProgress` for `cloudfront_deploy` seconds before it is
# `Deployed`; only a disabled, deployed distribution can be deleted.

import moto.cloudfront.models as cf_models  # noqa: E402
from moto.cloudfront.exceptions import CloudFrontException  # noqa: E402


class DistributionNotDisabled(CloudFrontException):
    def __init__(self):
        super().__init__(
            "DistributionNotDisabled",
            "The distribution you are trying to delete has not been disabled.",
        )


timed(cf_models.Distribution, "status")


def _deploying(result):
    seconds = dur("cloudfront_deploy")
    if seconds > 0:
        # Otherwise moto's own state manager decides (immediate unless a test sets it).
        phase(result[0], "status", "InProgress", seconds, "Deployed")
    return result


def _enabled(dist):
    value = getattr(dist.distribution_config, "Enabled", True)
    return value in (True, "true", "True")


def _delete_distribution(self, original, distribution_id, if_match):
    dist = self.distributions.get(distribution_id)
    if dist is not None and (_enabled(dist) or dist.status != "Deployed"):
        raise DistributionNotDisabled()
    return original(self, distribution_id, if_match)


wrap(cf_models.CloudFrontBackend, "create_distribution_with_tags", lambda self, o, *a, **k: _deploying(o(self, *a, **k)))
wrap(cf_models.CloudFrontBackend, "update_distribution", lambda self, o, *a, **k: _deploying(o(self, *a, **k)))
wrap(cf_models.CloudFrontBackend, "delete_distribution", _delete_distribution)
