"""AWS's quarantine policies, by prefix. Pure.

When AWS believes a key leaked it attaches an AWS managed policy named `AWSCompromisedKeyQuarantine…` to the
key's user: `AWSCompromisedKeyQuarantine`, `V2`, `V3`, `V4` (since 2026-11) and whatever version comes next,
so the prefix is what counts. Only AWS's own policy is the signal: its ARN is
`arn:<partition>:iam::aws:policy/…`; a customer policy with the same name (`arn:…:iam::<account>:policy/…`)
is someone's own doing. Every version denies the user `iam:CreateAccessKey` and `iam:UpdateAccessKey`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

QUARANTINE_PREFIX = "AWSCompromisedKeyQuarantine"
_AWS_MANAGED = ":iam::aws:policy/"


class Attached(Protocol):
    @property
    def arn(self) -> str: ...


def quarantine_policy(arn: str) -> str | None:
    """The name of AWS's quarantine policy with this ARN, any version; None for any other policy."""
    head, sep, path = arn.partition(_AWS_MANAGED)
    if not sep or not head.startswith("arn:aws") or head.count(":") != 1:
        return None
    name = path.rsplit("/", 1)[-1]
    return name if name.startswith(QUARANTINE_PREFIX) else None


def quarantine_policies(attached: Iterable[Attached]) -> tuple[str, ...]:
    """AWS's quarantine policies among the policies attached directly to a user (where AWS attaches them)."""
    return tuple(name for p in attached if (name := quarantine_policy(p.arn)))
