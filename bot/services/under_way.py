"""What Keywarden itself is doing to users' keys right now (rotations in progress, keys just made by approved
requests), read from the database, and the scan findings that work already deals with (bot/domain/under_way.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.domain.rotation import Rotation, RotationState
from bot.domain.scan import ScanFinding, ScanReport
from bot.domain.under_way import UnderWay, Work, covering
from bot.store.request_queries import RequestQueries
from bot.store.rotations import RotationStore

_BEFORE_GRACE_ENDS = frozenset({RotationState.NEW_KEY_CREATED, RotationState.GRACE})


@dataclass(kw_only=True, eq=False)
class WorkUnderWay:
    rotations: RotationStore
    requests: RequestQueries
    clock: Clock
    new_key_grace: (
        timedelta  # how long a key made by `create` may sit beside the user's other key (ROTATION_GRACE_DAYS)
    )

    def now(self) -> list[UnderWay]:
        """Every rotation in progress, and every key an approved `create` made within the grace period."""
        now = self.clock()
        found = [_rotation(r, now) for r in self.rotations.in_progress()]
        for req in self.requests.keys_made_since(now - self.new_key_grace):
            assert req.new_key_id is not None
            made = req.updated_at
            found.append(
                UnderWay(
                    Work.NEW_KEY, req.id, req.account, req.iam_user, req.new_key_id, None, made + self.new_key_grace
                )
            )
        return found

    def mark(self, report: ScanReport) -> None:
        """The report's findings that Keywarden's own work deals with become quiet, each carrying that work."""
        under_way = self.now()
        if not under_way:
            return
        now = self.clock()
        for account in report.accounts:
            account.findings = mark(account.findings, under_way, now)


def mark(findings: Sequence[ScanFinding], under_way: Sequence[UnderWay], now: datetime) -> list[ScanFinding]:
    marked = []
    for f in findings:
        work = covering(under_way, f.account, f.user, f.key_id, f.code, now)
        marked.append(replace(f, under_way=work) if work is not None else f)
    return marked


def _rotation(r: Rotation, now: datetime) -> UnderWay:
    """The old key is checked when the grace period ends, then daily while it is still in use."""
    check = r.grace_ends_at if r.state in _BEFORE_GRACE_ENDS and r.grace_ends_at > now else r.next_check_at
    return UnderWay(Work.ROTATION, r.id, r.account, r.iam_user, r.new_key_id, r.old_key_id, check)
