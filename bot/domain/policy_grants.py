"""Whether a policy document's Allow statements give administrator power, matched as IAM matches. Pure.

Administrator power here is `*`, or every IAM action (`iam:*`: whoever holds it can attach any policy to
itself, create keys and passwords for anyone and pass any role, which is why AWS's IAMFullAccess is an
escalation to administrator), allowed on every resource. The IAM evaluation facts relied on:

- `Statement` is one statement or a list; `Action`, `NotAction`, `Resource` and `NotResource` are a string or
  a list. An `Allow` with `NotAction` allows every action the list does not match; with `NotResource`, every
  resource the list does not match (both are allows, never denies).
- In actions and resources `*` matches any run of characters (a colon too) and `?` any one character.
  Action names, service prefix included, match without regard to case (`IAM:*`, `i*:*`); ARNs match with it.
- Every action is `service:name`, the name letters and digits; every IAM resource ARN is
  `arn:<partition>:iam::<account>:<resource>`.

Deny statements, conditions, permission boundaries and SCPs are not subtracted: an admin-key finding errs
towards reporting, since a user holding `iam:*` can usually remove what limits it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_EVERY_ACTION = re.compile(r"\*+(:\*+)?")  # `*`, `*:*`: every action of every service
_NAMES_SHOWN = 3


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple) else [value]
    return [str(item).strip() for item in items]


def _closure(pattern: str, states: Iterable[int]) -> set[int]:
    """Positions reachable without reading: a `*` may match nothing."""
    out = set(states)
    stack = list(out)
    while stack:
        i = stack.pop()
        if i < len(pattern) and pattern[i] == "*" and i + 1 not in out:
            out.add(i + 1)
            stack.append(i + 1)
    return out


def _after(pattern: str, text: str) -> set[int]:
    """The positions in a glob pattern (`*`, `?`) that reading `text` can reach (a `*` may go on reading)."""
    states = _closure(pattern, {0})
    for char in text:
        step: set[int] = set()
        for i in states:
            if i < len(pattern):
                if pattern[i] == "*":
                    step.add(i)
                elif pattern[i] in ("?", char):
                    step.add(i + 1)
        states = _closure(pattern, step)
    return states


def _covers_every(pattern: str, prefix: str) -> bool:
    """True when the pattern matches `prefix` followed by anything."""
    return any(pattern[i:] and set(pattern[i:]) == {"*"} for i in _after(pattern, prefix))


def _matches_some(pattern: str, prefix: str) -> bool:
    """True when the pattern matches `prefix` followed by some action name (letters and digits)."""
    return any(pattern[i:] and all(c in "*?" or c.isalnum() for c in pattern[i:]) for i in _after(pattern, prefix))


def _may_name_iam_resource(pattern: str) -> bool:
    """False only when the pattern surely matches no IAM ARN (its first three fields are plain and not IAM's)."""
    fields = pattern.split(":", 3)
    if len(fields) < 4 or any(c in "*?" for c in ":".join(fields[:3])):
        return True
    return fields[0] == "arn" and fields[2] == "iam"


def _names(patterns: list[str]) -> str:
    shown = ", ".join(f"`{p}`" for p in patterns[:_NAMES_SHOWN])
    more = len(patterns) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _actions(statement: Mapping[str, Any]) -> str | None:
    """What the statement allows when that includes every IAM action, in words; else None."""
    if "Action" in statement:
        patterns = _as_list(statement.get("Action"))
        for pattern in patterns:
            if _EVERY_ACTION.fullmatch(pattern):
                return f"`{pattern}`"
        for pattern in patterns:
            if _covers_every(pattern.lower(), "iam:"):
                return f"`{pattern}`"
        return None
    if "NotAction" in statement:
        excluded = _as_list(statement.get("NotAction"))
        if any(_matches_some(p.lower(), "iam:") for p in excluded):
            return None
        return f"every action but {_names(excluded)}" if excluded else "`*`"
    return None


def _resources(statement: Mapping[str, Any]) -> str | None:
    """`*` in words when the statement reaches every IAM resource; else None."""
    if "Resource" in statement:
        return "`*`" if any(p and set(p) == {"*"} for p in _as_list(statement.get("Resource"))) else None
    if "NotResource" in statement:
        excluded = _as_list(statement.get("NotResource"))
        if any(_may_name_iam_resource(p) for p in excluded):
            return None
        return f"every resource but {_names(excluded)}" if excluded else "`*`"
    return None


def admin_grant(statements: Any) -> str | None:
    """How a document's `Statement` gives administrator power ("allows `iam:*` on `*`"), or None when it does not."""
    for statement in statements if isinstance(statements, list | tuple) else [statements]:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        actions, resources = _actions(statement), _resources(statement)
        if actions and resources:
            return f"allows {actions} on {resources}"
    return None
