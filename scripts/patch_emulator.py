"""Fix response root elements of the emulator's S3 answers (test bed only).

moto 5.2.x serializes some S3 answers with the root `<OperationNameResponse>`, where S3
(and the S3 model the AWS SDK for Rust is generated from) uses a fixed root such as
`<VersioningConfiguration>`; the Rust SDK then refuses the answer. This rewrites the
root for those operations. Idempotent: running it twice changes nothing.
"""
import pathlib
import sys

import moto.core.serialize as ser

path = pathlib.Path(ser.__file__)
text = path.read_text()
MARK = "# provision: S3 roots"
if MARK in text:
    sys.exit(0)

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
if old not in text:
    sys.exit("emulator patch: serializer code not found; check the pinned moto version")
path.write_text(text.replace(old, new, 1))
