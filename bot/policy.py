"""Approval policies as code: the POLICY_FILE's rules, validated, and the rule that decides a request.

Pure: no Slack, no AWS. `bot/access.py` applies a rule to people (group members, owners)."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain.operations import Operation
from bot.domain.slack_ids import is_group_id, is_user_id
from bot.yaml_file import FileProblems, read_text, validate

OWNER = "owner"


class PolicyError(FileProblems):
    """A malformed policy file: one line per problem, each `file:line: field: problem`."""


def _approver(value: str) -> str:
    if value == OWNER or is_user_id(value) or is_group_id(value):
        return value
    raise ValueError(f"{value!r} is not a Slack user id (U…, W…), a user group id (S…) or `owner`")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    accounts: tuple[str, ...] | None = None
    operations: tuple[Operation, ...] | None = None
    target_tags: dict[str, str] | None = None
    target_admin: bool | None = None
    requester_owns_target: bool | None = None
    approvers: tuple[str, ...] = ()
    approvals: int = Field(default=1, ge=1, le=10)
    auto_approve: bool = False
    deny: str | None = Field(default=None, min_length=1)
    require_reason: bool = False
    break_glass: tuple[Literal["owner", "approvers"], ...] = ("owner", "approvers")
    escalate_to: tuple[str, ...] = ()

    @field_validator("approvers", "escalate_to")
    @classmethod
    def _ids(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_approver(v) for v in values)

    @model_validator(mode="after")
    def _decides(self) -> Rule:
        if self.deny is None and not self.auto_approve and not self.approvers:
            raise ValueError("a rule must name `approvers`, or say `auto_approve: true` or `deny: <message>`")
        if self.deny is not None and self.auto_approve:
            raise ValueError("a rule cannot both `deny` and `auto_approve`")
        return self

    def describe_approvers(self) -> str:
        return ", ".join(_mention(a) for a in self.approvers) or "nobody"


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique(self) -> PolicyModel:
        if not self.rules:
            raise ValueError("there must be at least one rule")
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule name `{rule.name}` is used twice")
            seen.add(rule.name)
        return self


@dataclass(frozen=True)
class Facts:
    """What a rule may match on, about one request."""

    operation: Operation
    account: str
    tags: dict[str, str]
    admin: bool
    requester_owns: bool


@dataclass(frozen=True)
class Match:
    rule: Rule | None  # None: no rule matched
    why: list[str]


class Policy:
    def __init__(self, model: PolicyModel, source: str) -> None:
        self.rules = model.rules
        self.source = source

    def decide(self, facts: Facts) -> Match:
        """The first rule that matches decides; `why` tells for each rule before it what did not match."""
        why: list[str] = []
        for rule in self.rules:
            miss = _mismatch(rule, facts)
            if miss is None:
                why.append(f"rule `{rule.name}` matches")
                return Match(rule, why)
            why.append(f"rule `{rule.name}` does not match: {miss}")
        return Match(None, why)

    def deciding(self, account: str, tags: dict[str, str], admin: bool) -> list[Rule]:
        """The rules that decide some request on this target: for each operation, filed by its owner or by
        anyone else, the first rule that matches."""
        found: dict[str, Rule] = {}
        for operation in Operation:
            for owns in (True, False):
                rule = self.decide(Facts(operation, account, tags, admin, owns)).rule
                if rule is not None:
                    found.setdefault(rule.name, rule)
        return list(found.values())

    def catch_all(self) -> list[Rule]:
        """The rules that match every target: no `accounts`, `target_tags` or `target_admin` condition."""
        return [r for r in self.rules if r.accounts is None and not r.target_tags and r.target_admin is None]

    def groups(self) -> set[str]:
        return {a for r in self.rules for a in (*r.approvers, *r.escalate_to) if is_group_id(a)}

    def user_ids(self) -> set[str]:
        return {a for r in self.rules for a in (*r.approvers, *r.escalate_to) if is_user_id(a)}


def _mismatch(rule: Rule, f: Facts) -> str | None:
    if rule.operations is not None and f.operation not in rule.operations:
        return f"operation `{f.operation.value}` is not one of {', '.join(o.value for o in rule.operations)}"
    if rule.accounts is not None and not any(fnmatchcase(f.account, a) for a in rule.accounts):
        return f"account `{f.account}` is not one of {', '.join(rule.accounts)}"
    if rule.target_tags:
        for k, v in rule.target_tags.items():
            if not fnmatchcase(f.tags.get(k, ""), v) or k not in f.tags:
                return f"tag `{k}` is `{f.tags.get(k, '(unset)')}`, not `{v}`"
    if rule.target_admin is not None and rule.target_admin != f.admin:
        return "the target is " + ("not " if not f.admin else "") + "an administrator"
    if rule.requester_owns_target is not None and rule.requester_owns_target != f.requester_owns:
        return "the requester " + ("does not own" if not f.requester_owns else "owns") + " the target"
    return None


def _mention(a: str) -> str:
    if a == OWNER:
        return "the owner"
    if a.startswith("S"):
        return f"<!subteam^{a}>"
    return f"<@{a}>"


# Loading
def load(path: str | Path) -> Policy:
    """Read and validate a policy file; PolicyError lists every problem with its line."""
    return parse(read_text(path, PolicyError), str(path))


def parse(text: str, source: str) -> Policy:
    return Policy(validate(text, source, PolicyModel, "rules", PolicyError), source)
