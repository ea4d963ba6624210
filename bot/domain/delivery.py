"""Secrets Manager delivery: where a new key's secret is stored, and how its owner fetches it."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Secrets Manager names: letters, digits and /_+=.@- ; the prefix is one or more of them, split by single `/`.
SECRET_PREFIX = re.compile(r"^[A-Za-z0-9_+=.@-]+(?:/[A-Za-z0-9_+=.@-]+)*$")
SECRET_PREFIX_FORM = (
    "letters, digits and _+=.@- in parts split by single slashes, such as keywarden or team/keys "
    "(the IAM policy's Secrets Manager statement must allow "
    "arn:<partition>:secretsmanager:*:*:secret:<SECRET_PREFIX>/*)"
)


def secret_name(prefix: str, account: str, user: str) -> str:
    """The secret that holds `user`'s new key: `<prefix>/<account>/<user>`, one name per user.

    IAM user names may hold `,`, which secret names may not; `/` is the one character secret names
    allow and IAM user names do not, so writing `,` as `/` keeps every user's name distinct
    (`a,b` → `a/b`; no user can be called `a/b`). Every other character is kept as it is.
    """
    return f"{prefix}/{account}/{user.replace(',', '/')}"


def policy_resource(prefix: str, partition: str) -> str:
    """The IAM policy resource that covers every secret under `prefix`, in the account's partition."""
    return f"arn:{partition}:secretsmanager:*:*:secret:{prefix}/*"


@dataclass(frozen=True)
class SecretLocation:
    name: str
    account: str  # the account's alias in Keywarden
    region: str
    account_id: str | None = None

    @property
    def fetch_command(self) -> str:
        return (
            f"aws secretsmanager get-secret-value --secret-id {self.name} --region {self.region} "
            "--query SecretString --output text"
        )

    @property
    def where(self) -> str:
        account = f"`{self.account}` ({self.account_id})" if self.account_id else f"`{self.account}`"
        return f"`{self.name}` in account {account}, region `{self.region}`"


def arn_account_id(arn: str) -> str | None:
    """The account id in an ARN (arn:partition:service:region:account-id:...), or None."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None
