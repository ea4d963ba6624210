"""The repositories over one database, built once for every entry point (bot/bootstrap/)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.store.audit import AuditLog
from bot.store.audit_outbox import Outbox
from bot.store.aws_events import EventIds
from bot.store.db import Database
from bot.store.deliveries import Deliveries
from bot.store.enforcements import Enforcements
from bot.store.exposures import Exposures
from bot.store.finding_notices import FindingNotices
from bot.store.iam_users import IamUsers
from bot.store.key_changes import KeyChanges
from bot.store.key_memory import KeyMemory
from bot.store.posture import PostureStore
from bot.store.requests import RequestStore
from bot.store.rotations import RotationStore
from bot.store.scan_runs import ScanRuns
from bot.store.security_hub import HubRecords
from bot.store.snoozes import Snoozes
from bot.store.time_bound_keys import TimeBoundKeys


@dataclass(frozen=True)
class Repositories:
    requests: RequestStore
    rotations: RotationStore
    iam_users: IamUsers
    key_memory: KeyMemory
    key_changes: KeyChanges
    notices: FindingNotices
    scan_runs: ScanRuns
    snoozes: Snoozes
    enforcements: Enforcements
    exposures: Exposures
    outbox: Outbox
    posture: PostureStore
    hub: HubRecords
    event_ids: EventIds
    time_bound: TimeBoundKeys
    deliveries: Deliveries  # which key each location of a delivered rotation holds

    @classmethod
    def over(cls, db: Database, clock: Clock, audit: AuditLog) -> Repositories:
        rotations = RotationStore(db, clock, audit)
        return cls(
            requests=RequestStore(db, clock, audit),
            rotations=rotations,
            iam_users=IamUsers(db),
            key_memory=KeyMemory(db, clock),
            key_changes=KeyChanges(db),
            notices=FindingNotices(db, audit),
            scan_runs=ScanRuns(db),
            snoozes=Snoozes(db, audit),
            enforcements=Enforcements(db),
            exposures=Exposures(db, audit),
            outbox=Outbox(db),
            posture=PostureStore(db),
            hub=HubRecords(db),
            event_ids=EventIds(db),
            time_bound=TimeBoundKeys(db, clock, audit),
            deliveries=Deliveries(db, clock, audit, rotations),
        )
