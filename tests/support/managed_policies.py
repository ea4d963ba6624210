"""AWS managed policies in moto, only those a test attaches.

moto can load all of AWS's ~1,600 managed policies into each IAM backend it makes (3-8 s per test, at set-up
and again at reset); a test that attaches a handful gets just those, with AWS's own documents.
"""

from __future__ import annotations

import functools
import json

import moto.iam.models
import pytest
from moto.iam.aws_managed_policies import aws_managed_policies_data

# AWS managed policies newer than moto's copy of AWS's list, in the same shape: moto stops at
# AWSCompromisedKeyQuarantineV3. AWS published V4 on 2026-11-06; like every version it denies the user
# iam:CreateAccessKey and iam:UpdateAccessKey (its deny list here is V3's).
LATER = {"AWSCompromisedKeyQuarantineV4": ("AWSCompromisedKeyQuarantineV3", "2026-11-06T00:00:00+00:00")}


@functools.cache
def _all() -> dict[str, object]:
    known = json.loads(aws_managed_policies_data)
    for name, (like, created) in LATER.items():
        known[name] = known[like] | {"CreateDate": created, "UpdateDate": created, "DefaultVersionId": "v1"}
    return known


def load_managed_policies(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Before moto's IAM backend exists: it will hold the AWS managed policies `names` (those of LATER too, at
    `arn:aws:iam::aws:policy/<name>` as AWS's own), and no others."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    monkeypatch.setattr(moto.iam.models, "aws_managed_policies_data", json.dumps({n: _all()[n] for n in names}))
