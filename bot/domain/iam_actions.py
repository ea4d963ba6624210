"""The IAM action a CloudTrail event stands for. Pure.

A management event's `eventName` is the API operation, and for nearly every operation the IAM action has the
operation's name under the service's prefix (Service Authorization Reference: "Actions, resources, and condition
keys for AWS services"). The exceptions this module knows: event sources whose prefix differs from their host name
(`monitoring` is CloudWatch's `cloudwatch`, `email` is SES's `ses`), operation names CloudTrail writes with their
API version (Lambda's `ListFunctions20150331`, CloudFront's `ListDistributions2020_05_31`), and S3 operations that
IAM authorizes under another action (`ListObjects` under `s3:ListBucket`, `ListBuckets` under
`s3:ListAllMyBuckets`, `HeadObject` under `s3:GetObject`). Some calls need no permission at all
(`sts:GetCallerIdentity`) or are not for a role (a role cannot call `sts:GetSessionToken`): no action for those.
"""

from __future__ import annotations

import re

# Where the prefix is not the host name of the event source.
PREFIXES = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "tagging": "tag",
    "api.ecr": "ecr",
    "api.sagemaker": "sagemaker",
    "runtime.sagemaker": "sagemaker",
    "execute-api": "execute-api",
    "elasticfilesystem": "elasticfilesystem",
}
# (prefix, operation) -> action, where IAM names it otherwise.
RENAMED = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "CopyObject"): "s3:PutObject",
}
# Calls that need no permission, or that a role does not make: nothing to grant.
NO_ACTION = frozenset(
    {
        ("sts", "GetCallerIdentity"),
        ("sts", "GetSessionToken"),
        ("sts", "GetFederationToken"),
        ("signin", "ConsoleLogin"),
    }
)
# errorCode values of a call AWS refused for want of permission: the key was never allowed to do it.
DENIED_ERRORS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "Client.UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "Forbidden",
    }
)
_VERSIONED = re.compile(r"^(?P<name>[A-Za-z]+?)(?:\d{8}(?:v\d+)?|\d{4}_\d{2}_\d{2})$")
_PREFIX = re.compile(r"^[a-z0-9-]+$")


def iam_action(service: str, event_name: str) -> str | None:
    """`s3:ListBucket` for (`s3`, `ListObjectsV2`); None for a call that needs no permission or that a role does not
    make, or for a name that is not an operation's."""
    prefix = PREFIXES.get(service, service.split(".")[-1] if service.startswith("api.") else service)
    if not _PREFIX.match(prefix) or not event_name or not event_name.isascii():
        return None
    versioned = _VERSIONED.match(event_name)
    name = versioned.group("name") if versioned else event_name
    if not name.isalnum() or (prefix, name) in NO_ACTION:
        return None
    return RENAMED.get((prefix, name), f"{prefix}:{name}")
