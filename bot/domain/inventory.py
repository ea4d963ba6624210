"""What `list` and `check` show of keys and users, and what a request is about: plain values."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.findings import Finding
from bot.domain.keys import KeyFacts
from bot.domain.under_way import UnderWay


@dataclass(frozen=True)
class KeyView:
    facts: KeyFacts
    findings: list[Finding]


@dataclass(frozen=True)
class UserKeys:
    account: str
    user: str
    owner: str | None
    keys: list[KeyView]
    admin_reason: str | None = None  # why the user is an administrator (which policy, by which route)
    tags: dict[str, str] = field(default_factory=dict)  # its IAM tags, from the ownership index
    delivered_to: str | None = None  # "delivered to: SSM /ci/deployer/aws, GitHub acme/api" (LOCATIONS_FILE)


@dataclass(frozen=True)
class ListResult:
    users: list[UserKeys]
    empty_reason: str | None = None
    # Keywarden's own work on these keys, by key id, where findings it deals with were left out (under_way.py)
    under_way: dict[str, UnderWay] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    raw: str
    key_id: str
    problems: list[str]
    account: str | None = None
    user: str | None = None
    key: KeyView | None = None
    foreign_account_id: str | None = None
    notes: list[str] = field(default_factory=list)
    next_step: str = ""
    unread: tuple[str, ...] = ()  # accounts Keywarden could not look in (AWS refused it)


@dataclass(frozen=True)
class KeyOwner:
    """Who owns a key id: a configured account and IAM user, or only the AWS account id (or nothing known)."""

    key_id: str
    account: str | None = None  # configured alias
    user: str | None = None
    aws_account_id: str | None = None


@dataclass(frozen=True)
class Target:
    """What a request is about, read live from AWS when it is filed."""

    user: UserKeys
    key: KeyView | None

    @property
    def account(self) -> str:
        return self.user.account

    @property
    def iam_user(self) -> str:
        return self.user.user
