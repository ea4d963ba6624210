"""SECURITY_HUB=on: after each scan, every account's findings go to that account's own Security Hub, through its role.

Per account that was scanned (an account whose scan failed is left alone: what it holds is not known, so nothing is
archived), the findings are sent in ASFF (bot/domain/asff.py), at most 100 per BatchImportFindings call, paced per
account and region; findings sent before and not seen now are sent once more archived, and their workflow is set to
RESOLVED (BatchUpdateFindings: Security Hub ignores a provider's workflow on an existing finding). Exempt findings
are not sent (an exemption is a decision; a finding that becomes exempt is archived). What Security Hub accepted is
remembered per account (bot/store/security_hub.py); a refused finding or a failed call is sent again at the next scan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from bot.aws import AwsError, AwsGateway
from bot.aws.security_hub import SecurityHubClient
from bot.clock import Clock, Pacer
from bot.domain.asff import (
    BATCH_LIMIT,
    AccountExport,
    HubExport,
    HubTarget,
    archived,
    batches,
    finding_uid,
    to_asff,
)
from bot.domain.scan import AccountScan, ScanReport
from bot.services.account_places import AccountPlaces
from bot.store.security_hub import ACTIVE, HubRecords

log = logging.getLogger(__name__)

CALLS_PER_SECOND = 10.0  # BatchImportFindings and BatchUpdateFindings, per account and region
PACING_MARGIN = 0.01
KEEP_ARCHIVED = timedelta(days=90)  # Security Hub deletes a finding nobody updated for 90 days
RESOLVED_NOTE = "Keywarden's scan no longer finds this: fixed, or the key or user is gone."


def hub_pacer(monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Pacer:
    return Pacer(1.0 / CALLS_PER_SECOND + PACING_MARGIN, monotonic=monotonic, sleep=sleep)


class SecurityHubExport:
    def __init__(
        self,
        aws: AwsGateway,
        records: HubRecords,
        places: AccountPlaces,
        clock: Clock,
        *,
        pacer: Pacer | None = None,
        concurrency: int = 4,
        batch_size: int = BATCH_LIMIT,
    ) -> None:
        self._aws = aws
        self._records = records
        self._places = places
        self._clock = clock
        self._pacer = pacer or hub_pacer()
        self._concurrency = concurrency
        self._batch = min(batch_size, BATCH_LIMIT)

    def export(self, report: ScanReport) -> HubExport:
        """Send every scanned account's findings to its Security Hub; one account failing does not stop the others."""
        scanned = [a for a in report.accounts if not a.error]
        if not scanned:
            return HubExport([])
        with ThreadPoolExecutor(max_workers=max(1, min(self._concurrency, len(scanned)))) as pool:
            done = list(pool.map(self._export_account, scanned))
        self._records.forget_archived(self._clock() - KEEP_ARCHIVED)
        for result in done:
            if result.error or result.refused:
                log.warning(
                    "Security Hub of %s: %s",
                    result.account,
                    result.error or f"{len(result.refused)} finding(s) refused",
                )
        log.info(
            "Security Hub: %d finding(s) imported and %d archived in %d account(s), %d call(s)",
            sum(a.imported for a in done),
            sum(a.archived for a in done),
            len(done),
            sum(a.calls for a in done),
        )
        return HubExport(done)

    def _export_account(self, scan: AccountScan) -> AccountExport:
        result = AccountExport(scan.account)
        try:
            self._send(scan, result)
        except AwsError as e:
            result.error = e.message
        return result

    def _send(self, scan: AccountScan, result: AccountExport) -> None:
        place = self._places.of(scan.account)
        target = HubTarget(place.partition, place.region, place.account_id)
        result.region = place.region
        sent = self._records.sent(scan.account)
        arns = self._records.user_arns(scan.account)
        now = self._clock()
        current: dict[str, dict[str, Any]] = {}
        for f in scan.findings:
            if f.exempt_reason:
                continue
            uid = finding_uid(place.account_id, f.subject, f.code)
            before = sent.get(uid)
            first = before.first_sent_at if before is not None and before.record_state == ACTIVE else now
            current[uid] = to_asff(f, target, now=now, first_seen=first, user_arn=arns.get(f.user))
        gone = [archived(s.payload, now) for uid, s in sent.items() if s.record_state == ACTIVE and uid not in current]
        hub = SecurityHubClient(self._aws.account(scan.account), place.region)
        closed: list[str] = []
        for batch in batches([*current.values(), *gone], self._batch):
            self._pacer.take((place.account_id, place.region))
            result.calls += 1
            refused = {r.finding_id: r.reason for r in hub.import_findings(batch)}
            taken = [f for f in batch if f["Id"] not in refused]
            result.refused += [f"{uid}: {why}" for uid, why in refused.items()]
            self._records.accepted(scan.account, place.account_id, taken, now)
            result.imported += sum(1 for f in taken if f["RecordState"] == ACTIVE)
            closed += [f["Id"] for f in taken if f["RecordState"] != ACTIVE]
        result.archived = len(closed)
        for ids in batches(closed, self._batch):
            self._pacer.take((place.account_id, place.region))
            result.calls += 1
            refused_ids = {r.finding_id: r.reason for r in hub.resolve(target.product_arn, ids, RESOLVED_NOTE)}
            result.resolved += len(ids) - len(refused_ids)
            result.refused += [f"{uid}: workflow not resolved ({why})" for uid, why in refused_ids.items()]
