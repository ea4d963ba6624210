"""`python -m bot scan`: the findings in a terminal. Exit 0 without findings, 1 with findings (at or above
`--fail-on`), 2 whenever the scan itself failed (an account, AWS, the database: anything)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from bot import __version__
from bot.aws import AwsError, partition_of_region
from bot.bootstrap import Services, bootstrap
from bot.domain.findings import CATALOGUE, Severity
from bot.domain.ocsf import compliance_finding
from bot.domain.scan import Delivery, ScanFinding, ScanReport, worst_first
from bot.services.account_places import AccountPlaces
from bot.settings import Settings
from bot.slack.messages.common import last_used_text, plural, utc_day

log = logging.getLogger(__name__)

COLUMNS = ("ACCOUNT", "USER", "KEY", "STATUS", "AGE", "LAST USED", "SEVERITY", "CONTROL", "FINDING", "OWNER")


def run_scan(
    settings: Settings,
    *,
    as_json: bool = False,
    output: str | None = None,
    post: bool,
    force: bool = False,
    accounts: list[str] | None = None,
    shown: str = "info",
    fail_on: str = "info",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    # The streams of the moment (a default of sys.stdout would be the one of import time).
    out, err = out or sys.stdout, err or sys.stderr
    if force and not post:
        print("keywarden: scan: --force goes with --post (it posts the digest again)", file=err)
        return 2
    scanned = _scan(settings, post=post, force=force, accounts=accounts, err=err)
    if isinstance(scanned, int):
        return scanned
    services, report, delivery = scanned
    floor, threshold = Severity[shown.upper()], Severity[fail_on.upper()]
    _write(report, services, output or ("json" if as_json else "table"), floor, out)
    _tell(report, delivery, err)
    if report.failed:
        return 2
    return 1 if any(not f.quiet and f.finding.severity >= threshold for f in report.findings) else 0


def _scan(
    settings: Settings, *, post: bool, force: bool, accounts: list[str] | None, err: TextIO
) -> tuple[Services, ScanReport, Delivery | None] | int:
    """(the services, closed once the scan is over; the report; what was posted), or exit code 2 when the scan
    could not run, told in one line on `err`."""

    def progress(account: str, done: int, total: int) -> None:
        print(f"\rscanned {done}/{total} accounts (last: {account})", end="" if done < total else "\n", file=err)

    services = None
    try:
        services = bootstrap(settings)
        if not _known_accounts(services, accounts, err):
            return 2
        report, delivery = services.scan(post=post, force=force, trigger="cli", progress=progress, accounts=accounts)
    except AwsError as e:
        print(f"keywarden: scan failed: {e.message}", file=err)
        return 2
    except Exception as e:  # exit 1 means findings: a scan that failed says so in one line, exit 2
        log.debug("scan failed", exc_info=True)
        first = next(iter(str(e).splitlines()), "")[:200]
        print(f"keywarden: scan failed: {type(e).__name__}{': ' + first if first else ''}", file=err)
        return 2
    finally:
        if services is not None:
            services.close()
    return services, report, delivery


def _known_accounts(services: Services, accounts: list[str] | None, err: TextIO) -> bool:
    """Whether every account asked for is configured; if not, says which are not, and which are."""
    unknown = sorted(set(accounts or ()) - set(services.aws.list_aliases()))
    if unknown:
        known = ", ".join(services.aws.list_aliases()) or "none"
        print(f"keywarden: scan: no account {', '.join(unknown)} (the accounts are: {known})", file=err)
    return not unknown


def _write(report: ScanReport, services: Services, output: str, floor: Severity, out: TextIO) -> None:
    """The findings at or above `floor` on `out`: as JSON, OCSF events (one a line) or a table."""
    now = services.clock()
    if output == "json":
        out.write(json.dumps(report_json(report, now, floor), indent=2) + "\n")
    elif output == "ocsf":
        for event in ocsf_events(report, services, floor):
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    else:
        out.write(render_table(report, now, floor))


def _tell(report: ScanReport, delivery: Delivery | None, err: TextIO) -> None:
    """The accounts that failed, the organisation's notes and what was posted, on `err`."""
    for account in report.failed:
        print(f"keywarden: account {account.account} failed: {account.error}", file=err)
    for note in report.notes:
        print(f"keywarden: {note}", file=err)
    if delivery is not None:
        print(f"posted: {_digest_line(delivery)}, {delivery.owners_messaged} owner(s) messaged", file=err)


def _digest_line(delivery: Delivery) -> str:
    if delivery.digest_posted:
        return "digest sent"
    if delivery.digest_already_posted_at is not None:
        at = delivery.digest_already_posted_at.astimezone(UTC)
        return f"digest not sent again (the same digest was posted at {at:%Y-%m-%d %H:%M} UTC; --force sends it)"
    return "digest NOT sent"


def _row(f: ScanFinding, now: datetime) -> tuple[str, ...]:
    status = "exempt" if f.exempt_reason else ("snoozed" if f.snoozed else ("under way" if f.under_way else ""))
    return (
        f.account,
        f.user,
        f.key_id or "-",
        (f.facts.status if f.facts else "-") + (f" ({status})" if status else ""),
        f"{f.facts.age_days(now)}d" if f.facts else "-",
        last_used_text(f.facts, utc_day) if f.facts else "-",
        f.finding.severity.name.lower(),
        f.finding.control or "-",
        f.finding.message,
        f.owner or "-",
    )


def render_table(report: ScanReport, now: datetime, floor: Severity = Severity.INFO) -> str:
    rows = [_row(f, now) for f in worst_first(report.findings, now) if f.finding.severity >= floor]
    if not rows:
        accounts = ", ".join(a.account for a in report.accounts if not a.error)
        level = f" at {floor.name.lower()} or above" if floor > Severity.INFO else ""
        return f"No findings{level} ({accounts}).\n" if accounts else "No account could be scanned.\n"
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    widths[8] = min(widths[8], 70)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c[: widths[i]].ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    body = [line(COLUMNS), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]
    users = sum(a.users for a in report.accounts)
    keys = sum(a.keys for a in report.accounts)
    body.append(
        f"\n{plural(len(rows), 'finding')}; {plural(users, 'user')} and {plural(keys, 'key')} in "
        f"{plural(len(report.accounts), 'account')}; {plural(report.iam_calls, 'IAM API call')}."
    )
    return "\n".join(body) + "\n"


def report_json(report: ScanReport, now: datetime, floor: Severity = Severity.INFO) -> dict:
    return {
        "started_at": report.started_at.isoformat(),
        "finished_at": report.finished_at.isoformat(),
        "iam_calls": report.iam_calls,
        "notes": report.notes,
        "accounts": [
            {"account": a.account, "users": a.users, "keys": a.keys, "iam_calls": a.iam_calls, "error": a.error}
            for a in report.accounts
        ],
        "findings": [
            {
                "account": f.account,
                "user": f.user,
                "key_id": f.key_id,
                "status": f.facts.status if f.facts else None,
                "age_days": f.facts.age_days(now) if f.facts else None,
                "last_used": f.facts.last_used.isoformat() if f.facts and f.facts.last_used else None,
                "finding": f.code,
                "severity": f.finding.severity.name.lower(),
                "control": f.finding.control,
                "message": f.finding.message,
                **_catalogue_fields(f.code),
                "owner": f.owner,
                "exempt": f.exempt_reason,
                "snoozed": f.snoozed,
            }
            for f in worst_first(report.findings, now)
            if f.finding.severity >= floor
        ],
    }


def ocsf_events(report: ScanReport, services: Services, floor: Severity = Severity.INFO) -> list[dict]:
    """The findings as OCSF Compliance Finding events, worst first; an account whose id cannot be read is named by
    its alias alone."""
    places: dict[str, tuple[str | None, str, str]] = {}
    where = AccountPlaces(aws=services.aws, region=services.settings.security_hub_region)
    for alias in {f.account for f in report.findings}:
        try:
            place = where.of(alias)
        except AwsError as e:
            log.warning("the account id of %s could not be read: %s", alias, e.message)
            place = None
        if place is not None:
            places[alias] = (place.account_id, place.region, place.partition)
        else:
            region = services.aws.account(alias).region
            places[alias] = (None, region, partition_of_region(region))
    return [
        compliance_finding(
            f,
            time=report.finished_at,
            account_id=places[f.account][0],
            region=places[f.account][1],
            partition=places[f.account][2],
            product_version=__version__,
        )
        for f in worst_first(report.findings, report.finished_at)
        if f.finding.severity >= floor
    ]


def _catalogue_fields(code: str) -> dict:
    """Control ids, rationale and remediation from the catalogue."""
    entry = CATALOGUE.get(code)
    if entry is None:
        return {}
    return {"controls": list(entry.controls), "rationale": entry.rationale, "remediation": entry.remediation}
