"""App Home publish time: `app_home_opened` to `views.publish` for an owner of 50 IAM users with 100 keys.

In-process: the real HomeService and builders over a temporary SQLite database migrated to the newest schema,
holding the ownership index (50 users owned by the person, 450 by others), the key memory (100 keys of theirs,
900 of others), 40 open finding notices (20 critical) and 30 pending requests of other people, so the person,
an approver too, gets the full Home: keys, requests, the queue, the last scan and critical keys. Slack is a stub
answering at once (`users.info` is cached after the first call, as in the bot), so the times are Keywarden's
own; Slack's round trip comes on top. No AWS call is made on this path.

    .venv/bin/python -m bench.app_home            # 300 publishes
    .venv/bin/python -m bench.app_home --quick    # 50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._common import command_line, machine_lines, ms, percentile, publish, table, verdict
from bot.access import Access
from bot.domain.requests import Operation, Status
from bot.services.home import HomeService
from bot.services.ownership import OwnershipIndex
from bot.settings import Settings
from bot.slack.client import Person
from bot.slack.messages.home import build_home
from bot.slack.notifier import Notifier
from bot.store.audit import AuditLog
from bot.store.db import Database
from bot.store.finding_notices import FindingNotices
from bot.store.iam_users import IamUsers
from bot.store.key_memory import KeyMemory
from bot.store.models import FindingNotice, IamUserRecord, KnownKey, ScanRun
from bot.store.requests import RequestStore
from bot.store.scan_runs import ScanRuns

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TARGET_P99 = 1.0


class StubSlack:
    def __init__(self) -> None:
        self.published = 0

    def views_publish(self, **_: object) -> dict:
        self.published += 1
        return {"ok": True}


class StubDirectory:
    def person(self, user_id: str) -> Person:
        return Person(user_id, "alice@example.com", "alice")

    def group_members(self, group: str) -> frozenset[str]:
        return frozenset()


class NoAws:
    aliases = ("prod",)  # the index is read only; nothing refreshes it from AWS here


class NoRotations:
    def open_for(self, user_id: str) -> list:
        return []


def build(db: Database, clock) -> RequestStore:
    store = RequestStore(db, clock, AuditLog(db, clock))
    with db.session() as s:
        for i in range(500):
            owner = "alice@example.com" if i < 50 else f"other{i}@example.com"
            s.add(
                IamUserRecord(
                    account="prod",
                    name=f"svc-{i:03d}",
                    arn=f"arn:aws:iam::123456789012:user/svc-{i:03d}",
                    owner=owner,
                    tags={"owner": owner, "team": "payments"},
                    refreshed_at=NOW,
                )
            )
            for k in range(2):
                key_id = f"AKIA{i:06d}{k:06d}ABCD"
                s.add(
                    KnownKey(
                        key_id=key_id,
                        account="prod",
                        iam_user=f"svc-{i:03d}",
                        created=NOW - timedelta(days=i),
                        first_seen=NOW,
                        last_seen=NOW,
                        gone=False,
                    )
                )
                if i % 25 == 0:
                    s.add(
                        FindingNotice(
                            account="prod",
                            subject=key_id,
                            code="old-key",
                            iam_user=f"svc-{i:03d}",
                            severity=5 if k == 0 else 3,
                            owner=owner,
                            first_seen=NOW,
                            last_seen=NOW,
                        )
                    )
        s.add(
            ScanRun(
                started_at=NOW,
                finished_at=NOW,
                trigger="schedule",
                summary={"accounts": ["prod"], "failed": {}, "findings": 40},
            )
        )
    for i in range(30):
        store.add(
            operation=Operation.DEACTIVATE,
            account="prod",
            iam_user=f"svc-{100 + i:03d}",
            key_id=f"AKIA{100 + i:06d}{0:06d}ABCD",
            requester=f"UOTHER{i}",
            reason="cleanup",
            approvals_needed=1,
            expires_at=NOW + timedelta(days=1),
            details="",
            owner_ok=True,
            status=Status.PENDING,
        )
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.app_home")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    runs = 50 if args.quick else 300
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'home.db'}")
        db.migrate()
        clock = lambda: NOW  # noqa: E731
        store = build(db, clock)
        settings = Settings.from_env({"APPROVER_IDS": "UALICE"}, slack=False)
        slack = StubSlack()
        home = HomeService(
            KeyMemory(db, clock),
            FindingNotices(db, AuditLog(db, clock)),
            ScanRuns(db),
            clock,
            OwnershipIndex(users=IamUsers(db), aws=NoAws(), clock=clock, owner_tag="owner", ttl=timedelta(minutes=60)),
            store,
            NoRotations(),
            Access(settings, StubDirectory()),
            StubDirectory(),
            Notifier(slack),
        )
        view = home.gather("UALICE")
        keys = sum(len(u.keys) for u in view.users)
        blocks = len(build_home(view, NOW)["blocks"])
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            home.publish("UALICE")
            times.append(time.perf_counter() - started)
        db.dispose()
    p50, p99, worst = percentile(times, 50), percentile(times, 99), max(times)
    lines = [
        "## App Home publish",
        "",
        *machine_lines(("SQLAlchemy", "slack_sdk")),
        f"- Command: `{command_line('bench.app_home', argv)}`",
        f"- Setup: the person owns {len(view.users)} IAM users with {keys} keys (of 500 users, 1,000 keys); "
        f"{len(view.queue)} pending requests in their approver queue; {len(view.critical)} critical keys. "
        f"SQLite, Slack stubbed (its round trip comes on top), no AWS call. {runs} publishes.",
        "",
        *table(["p50 ms", "p99 ms", "max ms", "blocks"], [[ms(p50), ms(p99), ms(worst), blocks]]),
        "",
        *table(["target", "measured", "verdict"], [["publish p99 < 1 s", f"{ms(p99)} ms", verdict(p99 < TARGET_P99)]]),
    ]
    publish("app_home", lines, quick=args.quick, no_docs=args.no_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
