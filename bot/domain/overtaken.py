"""Whether a request on a key was overtaken: something that changed or raised the alarm on the key after the
request was approved (a break-glass, another request that succeeded, an exposure, AWS's quarantine, a change
outside Keywarden, a rotation's step, a time-bound key's end) wins over it, so a request a crash interrupted is not
finished later. Pure: decided from the key's audit rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.audit_events import AuditRow
from bot.domain.findings import AWS_QUARANTINE

# Operations whose success changes the key a request names (those that make a key change its user instead).
_KEY_CHANGES = frozenset({"deactivate", "reactivate", "delete"})
_ROTATION_KEY_CHANGES = frozenset({"rotation_deactivated", "rotation_deleted"})
_TIME_BOUND_KEY_CHANGES = frozenset({"time_bound_deactivated", "time_bound_deleted"})  # its time was up


class Overtaker(StrEnum):
    BREAK_GLASS = "break_glass"
    REQUEST = "request"
    EXPOSURE = "exposure"
    QUARANTINE = "quarantine"
    OUTSIDE = "outside"
    ROTATION = "rotation"
    TIME_BOUND = "time_bound"


@dataclass(frozen=True)
class Overtaken:
    """What overtook a request: its kind, when, who (a Slack user id, `keywarden`, `cloudtrail`, a poster)."""

    by: Overtaker
    at: datetime
    actor: str
    request_id: str | None = None  # the other request or rotation
    operation: str | None = None  # the other request's operation, or the rotation's step
    detail: str = ""


def overtaken(request_id: str, later: Iterable[AuditRow]) -> Overtaken | None:
    """The first event in `later` (the key's audit rows after `request_id` was approved, oldest first) that
    makes finishing `request_id` wrong now; None when nothing did."""
    break_glass: dict[str, str] = {}  # break-glass request -> who broke the glass
    for row in later:
        if row.request_id == request_id or row.outcome not in ("ok", "critical"):
            continue
        if row.action == "break_glass" and row.request_id:
            break_glass[row.request_id] = row.actor
        elif row.action in ("executed", "reconciled") and row.operation in _KEY_CHANGES:
            if row.request_id in break_glass:
                return Overtaken(Overtaker.BREAK_GLASS, row.at, break_glass[row.request_id], row.request_id)
            return Overtaken(Overtaker.REQUEST, row.at, row.actor, row.request_id, row.operation)
        elif row.action == "exposed":
            return Overtaken(Overtaker.EXPOSURE, row.at, row.actor, detail=row.detail)
        elif row.action == "finding_opened" and row.detail.split(":", 1)[0] == AWS_QUARANTINE:
            return Overtaken(Overtaker.QUARANTINE, row.at, row.actor)
        elif row.action == "changed_outside":
            return Overtaken(Overtaker.OUTSIDE, row.at, row.actor, detail=row.detail)
        elif row.action in _ROTATION_KEY_CHANGES:
            return Overtaken(Overtaker.ROTATION, row.at, row.actor, row.request_id, row.action)
        elif row.action in _TIME_BOUND_KEY_CHANGES:
            return Overtaken(Overtaker.TIME_BOUND, row.at, row.actor, row.request_id, row.action)
    return None
