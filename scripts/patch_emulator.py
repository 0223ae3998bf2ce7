"""Fix three places where the emulator answers unlike AWS (test bed only).

1. moto 5.2.x serializes some S3 answers with the root `<OperationNameResponse>`, where S3
   (and the S3 model the AWS SDK for Rust is generated from) uses a fixed root such as
   `<VersioningConfiguration>`; the Rust SDK then refuses the answer. This rewrites the
   root for those operations.
2. DeleteOriginAccessControl of an unknown id crashes with HTTP 500 (a KeyError) where
   CloudFront answers NoSuchOriginAccessControl; a retried delete whose first attempt went
   through meets exactly that.
3. A NAT gateway's network interface is a plain, unmanaged interface without description,
   where AWS marks it requester-managed, of type `nat_gateway`, described as
   "Interface for NAT Gateway <id>" (and removes it with the gateway).
5. Everything scripts/realism.py describes (AWS's refusals, what AWS makes on its own,
   transitional states with durations, today's catalogs): installed as
   moto.provision_realism and imported when the server starts.
4. Budgets: no tags (CreateBudget's ResourceTags are dropped; ListTagsForResource,
   TagResource and UntagResource answer HTTP 500) and no UpdateBudget. AWS has all of them,
   and a budget is the stack's by its tags.

Idempotent: running it twice changes nothing.
"""
import pathlib
import shutil
import sys

import moto.budgets.responses as budgets
import moto.cloudfront.models as cloudfront
import moto.core.serialize as ser
import moto.ec2.models.nat_gateways as nat_gateways


def patch(module, mark, old, new):
    path = pathlib.Path(module.__file__)
    text = path.read_text()
    if mark in text:
        return
    if old not in text:
        sys.exit(f"emulator patch: code for {mark!r} not found; check the pinned moto version")
    path.write_text(text.replace(old, new, 1))


patch(
    cloudfront,
    "# provision: unknown OAC",
    """        self.origin_access_controls.pop(control_id)
""",
    """        # provision: unknown OAC
        if control_id not in self.origin_access_controls:
            raise NoSuchOriginAccessControl
        self.origin_access_controls.pop(control_id)
""",
)

patch(
    nat_gateways,
    "# provision: NAT interface",
    """        self._eni = self.ec2_backend.create_network_interface(
            backend.get_subnet(self.subnet_id), self.private_ip
        )
""",
    """        self._eni = self.ec2_backend.create_network_interface(
            backend.get_subnet(self.subnet_id), self.private_ip
        )
        # provision: NAT interface
        self._eni.requester_managed = True
        self._eni.interface_type = "nat_gateway"
        self._eni.description = f"Interface for NAT Gateway {self.id}"
""",
)

MARK = "# provision: S3 roots"

old = """        if shape and "payload" in shape.serialization:
            result_key = shape.serialization["payload"]
        else:
            result_key = f"{self.operation_model.name}Response"
"""
new = """        if shape and "payload" in shape.serialization:
            result_key = shape.serialization["payload"]
        else:
            result_key = f"{self.operation_model.name}Response"
            %s
            result_key = {
                "GetBucketVersioning": "VersioningConfiguration",
                "GetBucketTagging": "Tagging",
                "GetObjectTagging": "Tagging",
                "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
                "ListObjectVersions": "ListVersionsResult",
                "ListBuckets": "ListAllMyBucketsResult",
                "ListObjectsV2": "ListBucketResult",
                "ListObjects": "ListBucketResult",
                "DeleteObjects": "DeleteResult",
                "GetBucketAcl": "AccessControlPolicy",
                "GetBucketLocation": "LocationConstraint",
                "ListMultipartUploads": "ListMultipartUploadsResult",
            }.get(self.operation_model.name, result_key) if self.operation_model.service_model.service_name == "s3" else result_key
""" % MARK
patch(ser, MARK, old, new)


BUDGETS = """
# provision: budget tags
_provision_tags = {}


def _provision_arn(account_id, name):
    return f"arn:aws:budgets::{account_id}:budget/{name}"


_provision_create_budget = BudgetsResponse.create_budget


def _create_budget(self):
    out = _provision_create_budget(self)
    arn = _provision_arn(self._get_param("AccountId"), self._get_param("Budget")["BudgetName"])
    tags = self._get_param("ResourceTags") or []
    _provision_tags[arn] = {t["Key"]: t["Value"] for t in tags}
    return out


_provision_delete_budget = BudgetsResponse.delete_budget


def _delete_budget(self):
    out = _provision_delete_budget(self)
    _provision_tags.pop(_provision_arn(self._get_param("AccountId"), self._get_param("BudgetName")), None)
    return out


def _update_budget(self):
    account_id = self._get_param("AccountId")
    new = self._get_param("NewBudget")
    budget = self.backend.budgets[account_id].get(new["BudgetName"])
    if budget is None:
        from .exceptions import NotFoundException
        raise NotFoundException(f"Unable to update budget: {new['BudgetName']} - the budget doesn't exist.")
    budget.budget.update(new)
    return json.dumps({})


def _budget_of(self, arn):
    from .exceptions import NotFoundException
    name = arn.rsplit("/", 1)[-1]
    account_id = arn.split(":")[4]
    if name not in self.backend.budgets[account_id]:
        raise NotFoundException(f"Unable to get budget: {name} - the budget doesn't exist.")
    return arn


def _list_tags_for_resource(self):
    arn = _budget_of(self, self._get_param("ResourceARN"))
    tags = _provision_tags.get(arn, {})
    return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]})


def _tag_resource(self):
    arn = _budget_of(self, self._get_param("ResourceARN"))
    for t in self._get_param("ResourceTags") or []:
        _provision_tags.setdefault(arn, {})[t["Key"]] = t["Value"]
    return json.dumps({})


def _untag_resource(self):
    arn = _budget_of(self, self._get_param("ResourceARN"))
    for k in self._get_param("ResourceTagKeys") or []:
        _provision_tags.get(arn, {}).pop(k, None)
    return json.dumps({})


BudgetsResponse.create_budget = _create_budget
BudgetsResponse.delete_budget = _delete_budget
BudgetsResponse.update_budget = _update_budget
BudgetsResponse.list_tags_for_resource = _list_tags_for_resource
BudgetsResponse.tag_resource = _tag_resource
BudgetsResponse.untag_resource = _untag_resource
"""


def append(module, mark, text):
    path = pathlib.Path(module.__file__)
    body = path.read_text()
    if mark in body:
        return
    path.write_text(body.rstrip("\n") + "\n\n" + text)


append(budgets, "# provision: budget tags", BUDGETS)


# The realism layer: a module of its own, imported by the server at start.
import moto
import moto.server as server

target = pathlib.Path(moto.__file__).parent / "provision_realism.py"
source = pathlib.Path(__file__).parent / "realism.py"
if not target.exists() or target.read_bytes() != source.read_bytes():
    shutil.copyfile(source, target)
patch(
    server,
    "# provision: realism",
    """def main(argv: list[str] | None = None) -> None:
""",
    """def main(argv: list[str] | None = None) -> None:
    import moto.provision_realism  # noqa: F401  # provision: realism
""",
)
