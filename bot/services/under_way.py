"""What Keywarden itself is doing to users' keys right now (rotations in progress, keys just made by approved
requests), read from the database, and the scan findings that work already deals with (bot/domain/under_way.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.domain.inventory import CheckResult, KeyView, ListResult
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

    def quiet_list(self, result: ListResult) -> ListResult:
        """`list` without the findings Keywarden's own work deals with (a rotation's grace period, a key an approved
        create just made); each key that had one carries that work instead, as the owner's DMs do."""
        under_way = self.now()
        if not under_way:
            return result
        now, works = self.clock(), dict(result.under_way)
        users = []
        for u in result.users:
            keys = []
            for view in u.keys:
                kept, work = quiet_view(u.account, u.user, view, under_way, now)
                keys.append(kept)
                if work is not None and view.facts.key_id:
                    works[view.facts.key_id] = work
            users.append(replace(u, keys=keys))
        return replace(result, users=users, under_way=works)

    def quiet_check(self, result: CheckResult) -> CheckResult:
        """`check` of a key without the findings Keywarden's own work deals with."""
        if result.key is None or result.account is None or result.user is None:
            return result
        under_way = self.now()
        kept, _ = quiet_view(result.account, result.user, result.key, under_way, self.clock())
        return replace(result, key=kept) if kept is not result.key else result

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


def quiet_view(
    account: str, user: str, view: KeyView, under_way: Sequence[UnderWay], now: datetime
) -> tuple[KeyView, UnderWay | None]:
    """The key without the findings work under way deals with, and that work (None, and the key as it was, when
    none does)."""
    kept, work = [], None
    for f in view.findings:
        covered = covering(under_way, account, user, view.facts.key_id, f.code, now)
        if covered is None:
            kept.append(f)
        else:
            work = work or covered
    return (replace(view, findings=kept), work) if work is not None else (view, None)


def _rotation(r: Rotation, now: datetime) -> UnderWay:
    """The old key is checked when the grace period ends, then daily while it is still in use."""
    check = r.grace_ends_at if r.state in _BEFORE_GRACE_ENDS and r.grace_ends_at > now else r.next_check_at
    return UnderWay(Work.ROTATION, r.id, r.account, r.iam_user, r.new_key_id, r.old_key_id, check)
