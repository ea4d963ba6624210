"""Security Hub export: 5,000 findings over 20 accounts, every AWS call 50 ms, at most 100 findings a call.

moto's server runs in this process (with BatchUpdateFindings added, tests/support/moto_securityhub.py); every call
it serves waits `--latency-ms` first, standing in for the round trip to AWS. Keywarden's own export service
(bot/services/security_hub.py) runs in this process too, as after a scan: the gateway assumes each account's role,
reads its id (STS), and sends its findings to its own Security Hub, paced at 10 calls a second per account and
region, `--concurrency` accounts at a time (SCAN_CONCURRENCY). Three rounds, as three scans would:

1. first export: every finding is new;
2. the same findings again: the same ids, updated in place;
3. a tenth of the findings gone: the rest updated, the gone ones archived and resolved (BatchUpdateFindings).

    .venv/bin/python -m bench.securityhub            # 20 accounts x 250 findings, 50 ms calls
    .venv/bin/python -m bench.securityhub --quick    # 5 accounts x 100 findings
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._common import SETUP_KEY_ID, command_line, machine_lines, publish, start_moto, table, verdict
from bot.aws import AwsGateway
from bot.domain.asff import BATCH_LIMIT
from bot.domain.findings import KEY_TOO_OLD, KEY_UNUSED, catalogued
from bot.domain.keys import KeyFacts
from bot.domain.scan import AccountScan, ScanFinding, ScanReport
from bot.services.account_places import AccountPlaces
from bot.services.security_hub import SecurityHubExport
from bot.settings.accounts import Account
from bot.store.db import Database
from bot.store.security_hub import HubRecords

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
TARGET_SECONDS = 30.0  # the export must not hold up the scan's digest by more than this


@dataclass
class Round:
    name: str
    wall: float
    cpu: float
    imports: int
    updates: int
    imported: int
    archived: int
    resolved: int
    refused: int
    served: int


def findings_of(account: str, n: int, gone: int = 0) -> list[ScanFinding]:
    """`n` findings on `n // 2` keys (too old and unused), the last `gone` of them no longer seen."""
    found = []
    for i in range(n):
        key_id = f"AKIA{account.upper()[:4]:<4}{i // 2:012d}".replace(" ", "X")
        facts = KeyFacts(account, f"svc{i // 2}", key_id, "Active", NOW - timedelta(days=120))
        code = KEY_TOO_OLD if i % 2 == 0 else KEY_UNUSED
        found.append(ScanFinding(account, f"svc{i // 2}", key_id, catalogued(code, "bench"), facts, "a@example.com"))
    return found[: n - gone]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.securityhub", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--findings", type=int, default=5000, help="in all, spread evenly over the accounts")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=4, help="accounts at a time (SCAN_CONCURRENCY)")
    parser.add_argument("--quick", action="store_true", help="5 accounts x 100 findings")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.findings = 5, 500
    per_account = args.findings // args.accounts

    from tests.support import moto_securityhub

    moto_securityhub.install()
    server, counter, endpoint = start_moto()
    counter.latency = args.latency_ms / 1000
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": SETUP_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": "bench-secret-not-a-real-one",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    ids = [f"{300000000000 + n:012d}" for n in range(args.accounts)]
    accounts = tuple(Account(f"team{n:02d}", f"arn:aws:iam::{account}:role/keywarden") for n, account in enumerate(ids))
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(f"sqlite:///{Path(scratch) / 'bench.db'}")
        db.migrate()
        gateway = AwsGateway(accounts, region="us-east-1")
        clock = [NOW]
        export = SecurityHubExport(
            gateway, HubRecords(db), AccountPlaces(aws=gateway), lambda: clock[0], concurrency=args.concurrency
        )
        rounds = []
        for name, gone in (
            ("first export (all new)", 0),
            ("the same findings again", 0),
            ("a tenth gone", per_account // 10),
        ):
            report = ScanReport(
                clock[0],
                clock[0],
                [AccountScan(a.alias, findings=findings_of(a.alias, per_account, gone)) for a in accounts],
            )
            before, served_before = gateway.call_counts(), sum(counter.snapshot().values())
            started, cpu = time.perf_counter(), time.process_time()
            done = export.export(report)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            calls = gateway.call_counts() - before
            rounds.append(
                Round(
                    name,
                    wall,
                    cpu,
                    calls["securityhub:BatchImportFindings"],
                    calls["securityhub:BatchUpdateFindings"],
                    sum(a.imported for a in done.accounts),
                    sum(a.archived for a in done.accounts),
                    sum(a.resolved for a in done.accounts),
                    sum(len(a.refused) for a in done.accounts) + sum(1 for a in done.accounts if a.error),
                    sum(counter.snapshot().values()) - served_before,
                )
            )
            clock[0] += timedelta(days=1)
        db.dispose()
    server.stop()
    lines = _section(args, per_account, rounds)
    publish("securityhub", lines, quick=args.quick, no_docs=args.no_docs)
    return 0 if all(r.refused == 0 for r in rounds) else 1


def _section(args: argparse.Namespace, per_account: int, rounds: list[Round]) -> list[str]:
    expected = args.accounts * -(-per_account // BATCH_LIMIT)
    first = rounds[0]
    title = "## Security Hub export" + (" (quick run)" if args.quick else "")
    return [
        title,
        "",
        f"`{command_line('bench.securityhub')}`: {args.accounts} accounts x {per_account} findings "
        f"({args.accounts * per_account:,} in all), every AWS call {args.latency_ms:g} ms, {args.concurrency} accounts "
        "at a time, at most 100 findings a call and 10 calls a second per account and region.",
        "",
        *machine_lines(("boto3", "moto", "SQLAlchemy")),
        "",
        "### Results",
        "",
        *table(
            [
                "round",
                "wall (s)",
                "CPU (s)",
                "BatchImportFindings",
                "BatchUpdateFindings",
                "imported",
                "archived",
                "resolved",
                "refused",
                "requests served (all)",
            ],
            [
                (
                    r.name,
                    f"{r.wall:.2f}",
                    f"{r.cpu:.2f}",
                    r.imports,
                    r.updates,
                    r.imported,
                    r.archived,
                    r.resolved,
                    r.refused,
                    r.served,
                )
                for r in rounds
            ],
        ),
        "",
        "`requests served` counts every request moto answered in the round (STS AssumeRole and GetCallerIdentity "
        "the first time each account is reached, then only Security Hub). `CPU` is this process's, moto's server "
        "included (it runs here, under the same lock): building, validating and serialising the findings, moto "
        "parsing and storing them, and the database; the calls' 50 ms of waiting overlap across accounts.",
        "",
        "### Targets",
        "",
        f"- BatchImportFindings calls in the first round = accounts x ceil(findings / 100) = {expected}: "
        f"{verdict(first.imports == expected)} ({first.imports})",
        f"- First export under {TARGET_SECONDS:g} s: {verdict(first.wall < TARGET_SECONDS)} ({first.wall:.2f} s)",
        f"- Nothing refused: {verdict(all(r.refused == 0 for r in rounds))}",
    ]


if __name__ == "__main__":
    sys.exit(main())
