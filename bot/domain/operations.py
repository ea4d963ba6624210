"""The registry of request operations, its pure half: what each is called, how it is typed, offered
in the request form and approved. The parser, `help`, the slash-command routes, the request form and
the settings are derived from it. Its other half, the IAM actions each needs, its checks against live
AWS state and its execution hooks, is `bot.operations.OPERATIONS`, keyed by the same `Operation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Operation(StrEnum):
    CREATE = "create"
    ROTATE = "rotate"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    DELETE = "delete"


class Picks(StrEnum):
    """How an operation picks its key from what was typed."""

    USER = "user"  # a user (or account:user); the operation makes a new key
    KEY_OR_USER = "key-or-user"  # the named key, or the user's only active key
    KEY = "key"  # an access key id


@dataclass(frozen=True)
class OperationSpec:
    operation: Operation
    usage: str  # the form `help` shows
    example: str  # after the slash command
    label: str  # the request form's choice
    verb: str  # "rotate `ci-deployer`"
    picks: Picks
    default_approvals: int = 1  # APPROVALS_REQUIRED overrides it
    break_glass: bool = False  # `--now` runs it at once, approved afterwards
    makes_key: bool = False  # its execution hands a new secret to the requester

    @property
    def name(self) -> str:
        return self.operation.value


REQUEST_OPERATIONS: dict[Operation, OperationSpec] = {
    spec.operation: spec
    for spec in (
        OperationSpec(
            Operation.CREATE,
            "create <user> [reason]",
            "create ci-deployer new pipeline",
            "Create a key",
            "create a new key for",
            Picks.USER,
            makes_key=True,
        ),
        OperationSpec(
            Operation.ROTATE,
            "rotate <user | key-id> [reason]",
            "rotate AKIAIOSFODNN7EXAMPLE 90-day rotation",
            "Rotate a key",
            "rotate",
            Picks.KEY_OR_USER,
            makes_key=True,
        ),
        OperationSpec(
            Operation.DEACTIVATE,
            "deactivate <key-id> [--now] [reason]",
            "deactivate AKIAIOSFODNN7EXAMPLE not needed",
            "Deactivate a key",
            "deactivate",
            Picks.KEY,
            break_glass=True,
        ),
        OperationSpec(
            Operation.REACTIVATE,
            "reactivate <key-id> [reason]",
            "reactivate AKIAIOSFODNN7EXAMPLE deploy broke",
            "Reactivate a key",
            "reactivate",
            Picks.KEY,
        ),
        OperationSpec(
            Operation.DELETE,
            "delete <key-id> [reason]",
            "delete AKIAIOSFODNN7EXAMPLE replaced",
            "Delete a key",
            "delete",
            Picks.KEY,
            default_approvals=2,
        ),
    )
}
