"""Getting a credential report: reuse a recent one, otherwise generate it and poll with backoff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.aws import AwsReportNotReady, AwsThrottled
from bot.domain.report import report_is_fresh

log = logging.getLogger(__name__)

COMPLETE = "COMPLETE"
FIRST_DELAY = 0.5
MAX_DELAY = 8.0


class ReportClient(Protocol):
    """The part of bot.aws.AccountClient this needs."""

    alias: str

    def generate_credential_report(self) -> str: ...

    def get_credential_report(self) -> tuple[bytes, datetime]: ...


def fetch_credential_report(
    client: ReportClient,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
    *,
    max_wait_seconds: float = 120,
    cached: tuple[bytes, datetime] | None = None,
) -> tuple[bytes, datetime]:
    """(content, generated time) of a report under 4 hours old; AwsReportNotReady when AWS takes too long."""
    if cached is not None and report_is_fresh(cached[1], now()):
        return cached
    # GenerateCredentialReport answers COMPLETE at once when a report under 4 hours old exists,
    # so asking it first costs one call and reuses a fresh report.
    started = now()
    slept, delay = 0.0, FIRST_DELAY
    while True:
        try:
            if client.generate_credential_report() == COMPLETE:
                return client.get_credential_report()
        except (AwsReportNotReady, AwsThrottled) as e:
            log.debug("Credential report in %s not ready: %s", client.alias, e.message)
        waited = max(slept, (now() - started).total_seconds())
        pause = min(delay, max_wait_seconds - waited)
        if pause <= 0:
            raise AwsReportNotReady(
                f"The credential report of account `{client.alias}` was not ready after "
                f"{max_wait_seconds:g} seconds: try again in a few minutes.",
                for_people=True,
            )
        sleep(pause)
        slept += pause
        delay = min(delay * 2, MAX_DELAY)
