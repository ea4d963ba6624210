"""The registry of request operations, the only place an operation is declared.

Each says what it is called, how it is typed, offered in the request form and approved, the IAM
actions it needs, how it is checked against the live state of its key, and how it is executed (and,
after a crash, how to tell whether it already happened). The parser, `help`, the slash-command routes,
the request form, the settings, the approval workflow and the IAM policy test all read it.

Execution goes through `KeyCalls`, the three calls the AWS adapter's account client makes for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.inventory import Target
from bot.domain.keys import ACTIVE, INACTIVE, AccessKey, InputError, NotFound
from bot.domain.rotation import choose_keys


class Operation(StrEnum):
    CREATE = "create"
    ROTATE = "rotate"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    DELETE = "delete"
    RETIRE = "retire"


class Picks(StrEnum):
    """How an operation picks its key from what was typed."""

    USER = "user"  # a user (or account:user); the operation makes a new key
    KEY_OR_USER = "key-or-user"  # the named key, or the user's only active key
    KEY = "key"  # an access key id


class KeyCalls(Protocol):
    """What executing an operation may ask of one AWS account."""

    def list_access_keys(self, user: str) -> Sequence[AccessKey]: ...

    def set_key_status(self, user: str, key_id: str, status: str) -> None: ...

    def delete_access_key(self, user: str, key_id: str) -> None: ...


Execute = Callable[[KeyCalls, str, str], str]  # (account, user, key id) -> what happened, for the requester
Done = Callable[[KeyCalls, str, str], bool]  # has it already happened? (asked after a crash or a lost answer)


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
    starts_rotation: bool = False  # its new key replaces the key it names, on a schedule (the rotation workflow)
    deactivates_key: bool = False  # it turns its key off: a rotation that was to turn that key off ends
    time_bound: bool = False  # `--for 8h|30d` gives its new key an end (bot/domain/time_bound.py)
    names_role: bool = False  # `--role <name-or-arn>` names the role that replaces its key (bot/domain/retirement.py)
    permissions: tuple[str, ...] = ()  # the IAM actions it calls (tests/unit/test_iam_policies.py)
    check: Callable[[Target], None] = lambda target: None  # raises InputError when the key's state forbids it
    execute: Execute | None = None  # None: it makes a key, which happens at Reveal (or Secrets Manager delivery)
    done: Done | None = None

    @property
    def name(self) -> str:
        return self.operation.value


def _check_create(target: Target) -> None:
    keys = target.user.keys
    if len(keys) < 2:
        return
    inactive = [k.facts.key_id for k in keys if not k.facts.active]
    if inactive:
        raise InputError(
            f"`{target.iam_user}` already has two keys, the AWS limit. Delete the inactive one first: "
            f"`delete {inactive[0]}`."
        )
    raise InputError(
        f"`{target.iam_user}` already has two active keys, the AWS limit. Deactivate the one no longer in use "
        "(`deactivate <key-id>`), then delete it, before asking for another."
    )


def _check_rotate(target: Target) -> None:
    """The key to replace must be active; an inactive second key is deleted first; two active keys: refused."""
    choose_keys(target.iam_user, [k.facts for k in target.user.keys], target.key.facts.key_id if target.key else None)


def _check_deactivate(target: Target) -> None:
    assert target.key is not None
    if not target.key.facts.active:
        raise InputError(f"`{target.key.facts.key_id}` is already inactive.")


def _check_reactivate(target: Target) -> None:
    assert target.key is not None
    if target.key.facts.active:
        raise InputError(f"`{target.key.facts.key_id}` is already active.")


def _check_delete(target: Target) -> None:
    assert target.key is not None
    if target.key.facts.active:
        raise InputError(
            f"`{target.key.facts.key_id}` is active: deactivate it first (`deactivate {target.key.facts.key_id}`), "
            "make sure nothing breaks, then delete it."
        )


def _check_retire(target: Target) -> None:
    assert target.key is not None
    key_id = target.key.facts.key_id
    if not target.key.facts.active:
        raise InputError(
            f"`{key_id}` is already inactive: nothing to retire (`delete {key_id}` once nothing needs it)."
        )


def _watch(client: KeyCalls, user: str, key_id: str) -> str:
    """Approved: nothing changes in AWS yet; the retirement watches the key and its role from now on."""
    if all(k.key_id != key_id for k in client.list_access_keys(user)):
        raise NotFound(f"`{key_id}` of `{user}` is gone: there is nothing left to retire.")
    return (
        f"Keywarden now watches `{key_id}` of `{user}` and the role that replaces it: the key is switched off once "
        "the role is in use and the key has gone quiet, then deleted after the grace period."
    )


def _watching(client: KeyCalls, user: str, key_id: str) -> bool:
    return True  # nothing was done in AWS: watching starts (or started) with the approval


def _set_status(status: str) -> Execute:
    def execute(client: KeyCalls, user: str, key_id: str) -> str:
        client.set_key_status(user, key_id, status)
        return f"`{key_id}` of `{user}` is now {status.lower()}."

    return execute


def _has_status(status: str) -> Done:
    def done(client: KeyCalls, user: str, key_id: str) -> bool:
        return any(k.key_id == key_id and k.status == status for k in client.list_access_keys(user))

    return done


def _delete(client: KeyCalls, user: str, key_id: str) -> str:
    try:
        client.delete_access_key(user, key_id)
    except NotFound:
        return f"`{key_id}` of `{user}` was already gone."
    return f"`{key_id}` of `{user}` is deleted."


def _deleted(client: KeyCalls, user: str, key_id: str) -> bool:
    try:
        return all(k.key_id != key_id for k in client.list_access_keys(user))
    except NotFound:
        return True


REQUEST_OPERATIONS: dict[Operation, OperationSpec] = {
    spec.operation: spec
    for spec in (
        OperationSpec(
            Operation.CREATE,
            "create <user> [--for 8h|30d] [reason]",
            "create ci-deployer --for 30d new pipeline",
            "Create a key",
            "create a new key for",
            Picks.USER,
            makes_key=True,
            time_bound=True,
            permissions=("iam:CreateAccessKey",),
            check=_check_create,
        ),
        OperationSpec(
            Operation.ROTATE,
            "rotate <user | key-id> [reason]",
            "rotate AKIAIOSFODNN7EXAMPLE 90-day rotation",
            "Rotate a key",
            "rotate",
            Picks.KEY_OR_USER,
            makes_key=True,
            starts_rotation=True,
            permissions=(
                "iam:CreateAccessKey",
                "iam:UpdateAccessKey",
                "iam:DeleteAccessKey",
                "iam:GetAccessKeyLastUsed",
            ),
            check=_check_rotate,
        ),
        OperationSpec(
            Operation.DEACTIVATE,
            "deactivate <key-id> [--now] [reason]",
            "deactivate AKIAIOSFODNN7EXAMPLE not needed",
            "Deactivate a key",
            "deactivate",
            Picks.KEY,
            break_glass=True,
            deactivates_key=True,
            permissions=("iam:UpdateAccessKey",),
            check=_check_deactivate,
            execute=_set_status(INACTIVE),
            done=_has_status(INACTIVE),
        ),
        OperationSpec(
            Operation.REACTIVATE,
            "reactivate <key-id> [reason]",
            "reactivate AKIAIOSFODNN7EXAMPLE deploy broke",
            "Reactivate a key",
            "reactivate",
            Picks.KEY,
            permissions=("iam:UpdateAccessKey",),
            check=_check_reactivate,
            execute=_set_status(ACTIVE),
            done=_has_status(ACTIVE),
        ),
        OperationSpec(
            Operation.DELETE,
            "delete <key-id> [reason]",
            "delete AKIAIOSFODNN7EXAMPLE replaced",
            "Delete a key",
            "delete",
            Picks.KEY,
            default_approvals=2,
            permissions=("iam:DeleteAccessKey",),
            check=_check_delete,
            execute=_delete,
            done=_deleted,
        ),
        OperationSpec(
            Operation.RETIRE,
            "retire <key-id> [--role <name-or-arn>] [reason]",
            "retire AKIAIOSFODNN7EXAMPLE the Lambda has its role",
            "Retire a key for its role",
            "retire",
            Picks.KEY,
            names_role=True,
            permissions=(
                "iam:ListAccessKeys",
                "iam:GetAccessKeyLastUsed",
                "iam:GetRole",
                "iam:ListRoles",
                "iam:UpdateAccessKey",
                "iam:DeleteAccessKey",
            ),
            check=_check_retire,
            execute=_watch,
            done=_watching,
        ),
    )
}


# Operations that give someone a working key: the approval message says when its user is an administrator.
GIVES_A_KEY = frozenset({Operation.CREATE, Operation.ROTATE, Operation.REACTIVATE})


def admin_approval(operation: Operation, target: Target, extra_for_admin: bool) -> tuple[int, str]:
    """(extra approvals needed, line for the approval message) when the target user is an administrator."""
    reason = target.user.admin_reason
    if operation not in GIVES_A_KEY or not reason:
        return 0, ""
    extra = 1 if extra_for_admin else 0
    more = " It needs one more approval than usual." if extra else ""
    return extra, f":crown: *`{target.iam_user}` is an administrator*: {reason}.{more}"
