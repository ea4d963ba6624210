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


@functools.cache
def _all() -> dict[str, object]:
    return json.loads(aws_managed_policies_data)


def load_managed_policies(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Before moto's IAM backend exists: it will hold the AWS managed policies `names`, and no others."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    monkeypatch.setattr(moto.iam.models, "aws_managed_policies_data", json.dumps({n: _all()[n] for n in names}))
