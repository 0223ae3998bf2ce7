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

Idempotent: running it twice changes nothing.
"""
import pathlib
import sys

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
