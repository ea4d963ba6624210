"""The registry of key operations: each declares its IAM permissions, its checks and its execution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.aws import AccountClient, AwsNotFound
from bot.domain.keys import ACTIVE, INACTIVE, InputError
from bot.domain.requests import Operation
from bot.domain.rotation import choose_keys
from bot.services.inventory import KeyView, UserKeys


@dataclass(frozen=True)
class Target:
    """What a request is about, read live from AWS when it is filed."""

    user: UserKeys
    key: KeyView | None

    @property
    def account(self) -> str:
        return self.user.account

    @property
    def name(self) -> str:
        return self.user.user


@dataclass(frozen=True)
class KeyOperation:
    operation: Operation
    permissions: tuple[str, ...]
    verb: str
    check: Callable[[Target], None]
    execute: Callable[[AccountClient, str, str], str] | None  # (client, user, key id) -> result summary
    done: Callable[[AccountClient, str, str], bool] | None  # has it already happened? (after a crash)


def _check_create(target: Target) -> None:
    keys = target.user.keys
    if len(keys) < 2:
        return
    inactive = [k.facts.key_id for k in keys if not k.facts.active]
    if inactive:
        raise InputError(
            f"`{target.name}` already has two keys, the AWS limit. Delete the inactive one first: "
            f"`delete {inactive[0]}`."
        )
    raise InputError(
        f"`{target.name}` already has two active keys, the AWS limit. Deactivate the one no longer in use "
        "(`deactivate <key-id>`), then delete it, before asking for another."
    )


def _check_rotate(target: Target) -> None:
    """The key to replace must be active; an inactive second key is deleted first; two active keys: refused."""
    choose_keys(target.name, [k.facts for k in target.user.keys], target.key.facts.key_id if target.key else None)


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


def _set_status(status: str) -> Callable[[AccountClient, str, str], str]:
    def execute(client: AccountClient, user: str, key_id: str) -> str:
        client.set_key_status(user, key_id, status)
        return f"`{key_id}` of `{user}` is now {status.lower()}."

    return execute


def _has_status(status: str) -> Callable[[AccountClient, str, str], bool]:
    def done(client: AccountClient, user: str, key_id: str) -> bool:
        return any(k.key_id == key_id and k.status == status for k in client.list_access_keys(user))

    return done


def _delete(client: AccountClient, user: str, key_id: str) -> str:
    try:
        client.delete_access_key(user, key_id)
    except AwsNotFound:
        return f"`{key_id}` of `{user}` was already gone."
    return f"`{key_id}` of `{user}` is deleted."


def _deleted(client: AccountClient, user: str, key_id: str) -> bool:
    try:
        return all(k.key_id != key_id for k in client.list_access_keys(user))
    except AwsNotFound:
        return True


OPERATIONS: dict[Operation, KeyOperation] = {
    op.operation: op
    for op in (
        KeyOperation(Operation.CREATE, ("iam:CreateAccessKey",), "create a new key for", _check_create, None, None),
        KeyOperation(
            Operation.ROTATE,
            ("iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:GetAccessKeyLastUsed"),
            "rotate",
            _check_rotate,
            None,  # the new key is created on Reveal; the rest runs on RotationService's schedule
            None,
        ),
        KeyOperation(
            Operation.DEACTIVATE,
            ("iam:UpdateAccessKey",),
            "deactivate",
            _check_deactivate,
            _set_status(INACTIVE),
            _has_status(INACTIVE),
        ),
        KeyOperation(
            Operation.REACTIVATE,
            ("iam:UpdateAccessKey",),
            "reactivate",
            _check_reactivate,
            _set_status(ACTIVE),
            _has_status(ACTIVE),
        ),
        KeyOperation(Operation.DELETE, ("iam:DeleteAccessKey",), "delete", _check_delete, _delete, _deleted),
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
    return extra, f":crown: *`{target.name}` is an administrator*: {reason}.{more}"
