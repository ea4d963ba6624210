"""Organisation scale: 200 accounts x 50 IAM users found through AWS Organizations, every AWS call 50 ms,
every credential report 5 s to generate; against 20 accounts and one.

moto's server runs in this process with an organisation of 200 member accounts (`create_account`),
in three OUs: `one` (1 account), `nineteen` (19) and `rest` (180). Keywarden scans as a child process,
`python -m bot scan --json`, with `ORG_ROLE_NAME=keywarden` and `AWS_ENDPOINT_URL` pointing at moto: the
one-account scan is `ORG_INCLUDE_OUS=<one>`, twenty accounts `<one>,<nineteen>`, 200 the whole organisation
(the management account, which has no users, excluded).

Two things moto does not do are added here, in the emulator: every call waits `--latency-ms` before it is
answered (the round trip to AWS), and a credential report is ready `--report-seconds` after the first
GenerateCredentialReport (until then GenerateCredentialReport answers STARTED and GetCredentialReport
ReportNotPresent), as AWS builds it in the background.

    .venv/bin/python -m bench.organization            # 200 x 50 users; 1, 20 and 200 accounts
    .venv/bin/python -m bench.organization --quick    # 40 x 20 users
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from bench._common import (
    KEYWARDEN_KEY_ID,
    PYTHON,
    SETUP_KEY_ID,
    aws_env,
    child_env,
    command_line,
    machine_lines,
    publish,
    run_child,
    start_moto,
    table,
    verdict,
    warn_about_dotenv,
)
from bench.estate import DEFAULT_ACCOUNT_ID, Estate, iam_backend

ROLE = "keywarden"


@dataclass
class Run:
    accounts: int
    concurrency: int
    ok: bool
    wall: float
    peak_rss_mb: float
    scan_seconds: float = 0.0
    users: int = 0
    keys: int = 0
    iam_calls: int = 0
    served: int = 0
    findings: int = 0
    failed: list[str] = field(default_factory=list)
    note: str = ""
    scan_cpu: float = 0.0
    moto_cpu: float = 0.0
    served_by_op: dict[str, int] = field(default_factory=dict)


class SlowReports:
    """moto's IAM backend with AWS's timing: a credential report is ready `seconds` after it is first asked for."""

    def __init__(self, seconds: float) -> None:
        from moto.iam.models import IAMBackend

        self.seconds = seconds
        self.started: dict[int, float] = {}
        self.lock = threading.Lock()
        reports = self

        def generate_report(backend: Any) -> None:
            with reports.lock:
                reports.started.setdefault(id(backend), time.monotonic())

        def report_generated(backend: Any) -> bool:
            with reports.lock:
                started = reports.started.get(id(backend))
            return started is not None and time.monotonic() - started >= reports.seconds

        IAMBackend.generate_report = generate_report
        IAMBackend.report_generated = report_generated
        original_get = IAMBackend.get_credential_report

        def get_credential_report(backend: Any) -> str:
            backend.credential_report = report_generated(backend)
            return original_get(backend)

        IAMBackend.get_credential_report = get_credential_report

    def forget(self, account_ids: list[str]) -> None:
        """As when the last report is over 4 hours old: the next scan has to generate it again."""
        with self.lock:
            for account in account_ids:
                self.started.pop(id(iam_backend(account)), None)


def build_organization(endpoint: str, n_accounts: int) -> tuple[dict[str, str], list[str]]:
    """The organisation in moto: {OU name: OU id} and the member account ids, in OU order."""
    org = boto3.client(
        "organizations",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=SETUP_KEY_ID,
        aws_secret_access_key="bench-secret-not-a-real-one",
    )
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    sizes = {"one": 1, "nineteen": min(19, n_accounts - 1), "rest": max(0, n_accounts - 20)}
    ous: dict[str, str] = {}
    ids: list[str] = []
    for name, size in sizes.items():
        ous[name] = org.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
        for _ in range(size):
            n = len(ids) + 1
            status = org.create_account(AccountName=f"Team {n:03d} Prod", Email=f"team{n:03d}@example.com")
            account = status["CreateAccountStatus"]["AccountId"]
            org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ous[name])
            ids.append(account)
    return ous, ids


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scan(ids: list[str], include_ous: str, concurrency: int, endpoint: str, counter: Any, reports: SlowReports) -> Run:
    reports.forget(ids)
    with tempfile.TemporaryDirectory(prefix="keywarden-bench-") as tmp:
        env = child_env(
            **aws_env(endpoint, KEYWARDEN_KEY_ID),
            DATABASE_URL=f"sqlite:///{Path(tmp) / 'keywarden.db'}",
            ORG_ROLE_NAME=ROLE,
            ORG_EXCLUDE_ACCOUNTS=DEFAULT_ACCOUNT_ID,
            ORG_INCLUDE_OUS=include_ous,
            SCAN_CONCURRENCY=str(concurrency),
        )
        before, cpu_before = counter.snapshot(), _self_cpu()
        child = run_child([PYTHON, "-m", "bot", "scan", "--json"], env, timeout=300)
    by_op = counter.since(before)
    run = Run(len(ids), concurrency, False, child.wall_seconds, child.peak_rss_mb, served=sum(by_op.values()))
    run.served_by_op = dict(by_op)
    run.scan_cpu, run.moto_cpu = child.cpu_seconds, _self_cpu() - cpu_before
    if child.timed_out or child.returncode not in (0, 1):
        run.note = f"exit {child.returncode}: {child.stderr.strip()[-300:]}"
        return run
    data = json.loads(child.stdout)
    started, finished = (datetime.fromisoformat(data[k]) for k in ("started_at", "finished_at"))
    run.scan_seconds = (finished - started).total_seconds()
    run.users = sum(a["users"] for a in data["accounts"])
    run.keys = sum(a["keys"] for a in data["accounts"])
    run.iam_calls = data["iam_calls"]
    run.findings = len(data["findings"])
    run.failed = [a["account"] for a in data["accounts"] if a["error"]]
    run.ok = len(data["accounts"]) == len(ids) and not run.failed
    if len(data["accounts"]) != len(ids):
        run.note = f"{len(data['accounts'])} accounts scanned, {len(ids)} expected"
    if run.failed:
        run.note = f"failed accounts: {', '.join(run.failed[:5])}"
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.organization", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 40 accounts of 20 users")
    parser.add_argument("--accounts", type=int, help="member accounts (default 200; at least 20)")
    parser.add_argument("--users", type=int, help="IAM users per account (default 50)")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[32],
        help="SCAN_CONCURRENCY values to run, e.g. 16,32 (the first is the one the targets are judged on)",
    )
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added to every AWS call (default 50)")
    parser.add_argument("--report-seconds", type=float, default=5.0, help="credential report build time (5)")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    n_accounts = max(20, args.accounts or (40 if args.quick else 200))
    n_users = args.users or (20 if args.quick else 50)

    bench_started = time.perf_counter()
    reports = SlowReports(args.report_seconds)
    server, counter, endpoint = start_moto()
    runs: list[Run] = []
    try:
        t = time.perf_counter()
        ous, ids = build_organization(endpoint, n_accounts)
        for i, account in enumerate(ids):
            Estate(account, prefix=f"t{i + 1:03d}-svc", seed=2000 + i).grow_to(n_users)
        build = time.perf_counter() - t
        counter.latency = args.latency_ms / 1000
        subsets = [(ids[:1], ous["one"]), (ids[:20], f"{ous['one']},{ous['nineteen']}"), (ids, "")]
        for concurrency in args.concurrency:
            for subset, include in subsets:
                run = scan(subset, include, concurrency, endpoint, counter, reports)
                runs.append(run)
                print(
                    f"[{len(subset)} accounts, concurrency {concurrency}] ok={run.ok} scan={run.scan_seconds:.2f}s "
                    f"wall={run.wall:.2f}s calls={run.iam_calls} served={run.served} users={run.users} "
                    f"cpu={run.scan_cpu:.1f}s moto_cpu={run.moto_cpu:.1f}s rss={run.peak_rss_mb:.0f}MB {run.note}",
                    file=sys.stderr,
                )
        counter.latency = 0.0
    finally:
        server.stop()
    total = time.perf_counter() - bench_started
    lines = report(runs, args, n_accounts, n_users, build, total)
    publish("organization", lines, quick=args.quick, no_docs=args.no_docs)
    return 0


def report(
    runs: list[Run], args: argparse.Namespace, n_accounts: int, n_users: int, build: float, total: float
) -> list[str]:
    lines = [
        "## Organisation scale" + (" (quick run)" if args.quick else ""),
        "",
        *machine_lines(),
        f"- Command: `{command_line('bench.organization')}` (took {total:.0f} s; building the organisation "
        f"{build:.1f} s)",
        f"- Setup: moto's server in the benchmark process; an organisation of {n_accounts} member accounts "
        f"(`create_account`) of {n_users} IAM users each (the mix of `bench/estate.py`), in three OUs of 1, 19 "
        f"and {n_accounts - 20} accounts. Keywarden finds them with `ORG_ROLE_NAME={ROLE}` (ListAccounts, or "
        "ListAccountsForParent under `ORG_INCLUDE_OUS` for the 1- and 20-account scans) and reaches each through "
        "sts:AssumeRole.",
        f"- Simulated AWS: every call (STS, Organizations and IAM) waits {args.latency_ms:g} ms in moto's server "
        f"before it is answered; a credential report is ready {args.report_seconds:g} s after the first "
        "GenerateCredentialReport of the scan (STARTED until then; GetCredentialReport answers ReportNotPresent). "
        "Both are parameters of the run, not measurements.",
        "- Each scan: `python -m bot scan --json` as a child process on an empty SQLite database (first scan: no "
        "ownership index, no key ids seen); every report has to be generated. Scan time is the scan's own "
        "`started_at`..`finished_at` (the organisation listing included); wall: process start to exit (Python "
        "and boto3 start-up included); peak RSS of the scanning process from wait4().",
    ]
    note = warn_about_dotenv()
    if note:
        lines.append(f"- {note}")
    lines += ["", "### Results", ""]
    rows = [
        [
            r.concurrency,
            r.accounts,
            f"{r.users:,}",
            f"{r.keys:,}",
            f"{r.findings:,}",
            f"{r.iam_calls:,}",
            f"{r.served:,}",
            f"{r.scan_seconds:.2f}" if r.ok else "-",
            f"{r.wall:.2f}",
            f"{r.scan_cpu:.1f}",
            f"{r.moto_cpu:.1f}",
            f"{r.peak_rss_mb:.0f}",
            r.note,
        ]
        for r in runs
    ]
    lines += table(
        [
            "SCAN_CONCURRENCY",
            "accounts",
            "users",
            "keys",
            "findings",
            "IAM calls (scan's count)",
            "calls served by moto",
            "scan s",
            "wall s",
            "scan CPU s",
            "moto CPU s",
            "peak RSS MB",
            "note",
        ],
        rows,
    )
    lines += ["", "### Targets", ""]
    trows = []
    for i, concurrency in enumerate(args.concurrency):
        pick = {r.accounts: r for r in runs if r.concurrency == concurrency}
        one, twenty, everything = pick.get(1), pick.get(20), pick.get(n_accounts)
        judged = i == 0 and not args.quick
        suffix = "" if judged else " (for reference)"
        if everything:
            trows.append(
                [
                    f"{n_accounts} accounts x {n_users} users in under 60 s, SCAN_CONCURRENCY={concurrency}{suffix}",
                    f"{everything.scan_seconds:.2f} s (process wall {everything.wall:.2f} s)"
                    if everything.ok
                    else everything.note,
                    _verdict(everything.ok and everything.scan_seconds < 60, judged),
                ]
            )
            trows.append(
                [
                    f"memory under 300 MB at {n_accounts} accounts{suffix}",
                    f"{everything.peak_rss_mb:.0f} MB peak RSS",
                    _verdict(everything.peak_rss_mb < 300, judged),
                ]
            )
        if one and twenty and one.ok and twenty.ok:
            ratio = twenty.scan_seconds / one.scan_seconds
            trows.append(
                [
                    f"20 accounts at most 2x one, SCAN_CONCURRENCY={concurrency}{suffix}",
                    f"{twenty.scan_seconds:.2f} s / {one.scan_seconds:.2f} s = {ratio:.2f}x",
                    _verdict(ratio <= 2, judged),
                ]
            )
    lines += table(["target", "measured", "verdict"], trows)
    if runs:
        biggest = max(runs, key=lambda r: r.accounts)
        ops = ", ".join(f"{op} {n:,}" for op, n in sorted(biggest.served_by_op.items(), key=lambda x: -x[1]))
        lines += ["", f"Calls served by moto in the {biggest.accounts}-account scan: {ops}."]
    return lines


def _verdict(ok: bool, judged: bool) -> str:
    return verdict(ok) if judged else ("within" if ok else "over")


if __name__ == "__main__":
    sys.exit(main())
