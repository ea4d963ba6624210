"""Many accounts: 20 accounts through assumed roles, 200 IAM users each, against one such account.

moto's server runs in this process; AssumeRole answers for any role, and calls made with the
temporary credentials land in the role's account, whose backend this process fills directly
(bench/estate.py). Keywarden scans as a child process, `python -m bot scan --json`, with
`ACCOUNTS=a01=arn:aws:iam::<id>:role/keywarden,...` and `AWS_ENDPOINT_URL` pointing at moto.

    .venv/bin/python -m bench.many_accounts            # 20 x 200 users, SCAN_CONCURRENCY 4 and 8
    .venv/bin/python -m bench.many_accounts --quick    # 6 x 50 users
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._common import (
    KEYWARDEN_KEY_ID,
    PYTHON,
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
from bench.estate import Estate, a_day_later, reset_credential_report

FIRST_ACCOUNT_ID = 100000000001
KINDS = ("first", "daily")


@dataclass
class Run:
    accounts: int
    concurrency: int
    kind: str  # "first" or "daily"
    latency_ms: float
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


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def account_ids(n: int) -> list[str]:
    return [str(FIRST_ACCOUNT_ID + i) for i in range(n)]


def accounts_setting(ids: list[str]) -> str:
    return ",".join(f"a{i + 1:02d}=arn:aws:iam::{account}:role/keywarden" for i, account in enumerate(ids))


def scan(
    ids: list[str], concurrency: int, kind: str, endpoint: str, counter: Any, database: Path, timeout: float
) -> Run:
    """One scan; each account's credential report is generated afresh."""
    for account in ids:
        reset_credential_report(account)
    env = child_env(
        **aws_env(endpoint, KEYWARDEN_KEY_ID),
        DATABASE_URL=f"sqlite:///{database}",
        ACCOUNTS=accounts_setting(ids),
        SCAN_CONCURRENCY=str(concurrency),
    )
    before, cpu_before = counter.snapshot(), _self_cpu()
    child = run_child([PYTHON, "-m", "bot", "scan", "--json"], env, timeout)
    served = sum(counter.since(before).values())
    latency_ms = counter.latency * 1000
    run = Run(len(ids), concurrency, kind, latency_ms, False, child.wall_seconds, child.peak_rss_mb, served=served)
    run.scan_cpu, run.moto_cpu = child.cpu_seconds, _self_cpu() - cpu_before
    if child.timed_out or child.returncode not in (0, 1):
        run.note = f"exit {child.returncode}: {child.stderr.strip()[-300:]}"
        return run
    data = json.loads(child.stdout)
    started, finished = (datetime.fromisoformat(data[k]) for k in ("started_at", "finished_at"))
    run.ok = True
    run.scan_seconds = (finished - started).total_seconds()
    run.users = sum(a["users"] for a in data["accounts"])
    run.keys = sum(a["keys"] for a in data["accounts"])
    run.iam_calls = data["iam_calls"]
    run.findings = len(data["findings"])
    run.failed = [a["account"] for a in data["accounts"] if a["error"]]
    if run.failed:
        run.note = f"failed accounts: {', '.join(run.failed)}"
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.many_accounts", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 accounts of 50 users")
    parser.add_argument("--accounts", type=int, help="number of accounts (default 20)")
    parser.add_argument("--users", type=int, help="IAM users per account (default 200)")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[4, 8],
        help="SCAN_CONCURRENCY values to run, e.g. 4,8 (the first is the one the target is judged on)",
    )
    parser.add_argument(
        "--latency-ms",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[0.0, 30.0],
        help="milliseconds moto's server waits before answering each call, one run per value (default 0,30; "
        "the first is the one the target is judged on)",
    )
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    n_accounts = args.accounts or (6 if args.quick else 20)
    n_users = args.users or (50 if args.quick else 200)

    bench_started = time.perf_counter()
    server, counter, endpoint = start_moto()
    ids = account_ids(n_accounts)
    runs: list[Run] = []
    try:
        t = time.perf_counter()
        estates = [Estate(account, prefix=f"a{i + 1:02d}-svc", seed=1000 + i) for i, account in enumerate(ids)]
        for estate in estates:
            estate.grow_to(n_users)
        build = time.perf_counter() - t
        with tempfile.TemporaryDirectory(prefix="keywarden-bench-") as tmp:
            for latency in args.latency_ms:
                counter.latency = latency / 1000
                for concurrency in args.concurrency:
                    for subset in (ids[:1], ids):
                        database = Path(tmp) / f"keywarden-{len(subset)}-{concurrency}-{latency:g}.db"
                        for kind in KINDS:
                            if kind == "daily":  # the first scan's database, a day later
                                a_day_later(estates[: len(subset)], database)
                            run = scan(subset, concurrency, kind, endpoint, counter, database, timeout=300)
                            runs.append(run)
                            print(
                                f"[{latency:g} ms, {len(subset)} accounts, concurrency {concurrency}, {kind}] "
                                f"ok={run.ok} scan={run.scan_seconds:.2f}s wall={run.wall:.2f}s "
                                f"calls={run.iam_calls} served={run.served} users={run.users} "
                                f"cpu={run.scan_cpu:.1f}s moto_cpu={run.moto_cpu:.1f}s rss={run.peak_rss_mb:.0f}MB "
                                f"{run.note}",
                                file=sys.stderr,
                            )
            counter.latency = 0.0
    finally:
        server.stop()
    total = time.perf_counter() - bench_started
    lines = report(runs, args, n_accounts, n_users, build, total)
    publish("many_accounts", lines, quick=args.quick, no_docs=args.no_docs)
    return 0


def report(
    runs: list[Run], args: argparse.Namespace, n_accounts: int, n_users: int, build: float, total: float
) -> list[str]:
    lines = [
        "## Many accounts" + (" (quick run)" if args.quick else ""),
        "",
        *machine_lines(),
        f"- Command: `{command_line('bench.many_accounts')}` (took {total:.0f} s; building the accounts {build:.1f} s)",
        f"- Setup: moto's server in the benchmark process; {n_accounts} accounts (ids {FIRST_ACCOUNT_ID} to "
        f"{FIRST_ACCOUNT_ID + n_accounts - 1}) of {n_users} IAM users each, the mix of `bench/estate.py`. "
        f"Keywarden reaches every account through sts:AssumeRole (`ACCOUNTS=a01=arn:aws:iam::"
        f"{FIRST_ACCOUNT_ID}:role/keywarden,...`); the one-account scan is `a01` alone, through its role too.",
        "- Each scan: `python -m bot scan --json` as a child process; every credential report must be generated "
        "(the scan asks every account first, then reads each; moto answers STARTED to the first request). "
        "*First*: an empty SQLite database (no ownership index, no key ids seen). *Daily*: the next day's scan "
        "on that database, after a day's churn (a new key on about 1% of the users with one key, see "
        "`bench/estate.py`), with the ownership index a day old. Each run of the table uses its own database; "
        "the churn accumulates over the runs (a few more users with two keys each time).",
        "- Added latency: with 0 ms, moto answers each call as fast as this machine can (a few ms of CPU on both "
        "sides, nothing to wait for, so running accounts side by side cannot hide anything on 2 cores). With a "
        "non-zero value, moto's server sleeps that long before each answer, standing in for the round trip to "
        "AWS, which is what SCAN_CONCURRENCY overlaps. The value is a parameter of the run, not a measurement.",
        "- Scan time: the scan's own `started_at`..`finished_at`; wall: child process start to exit; scan CPU: "
        "the child's user + system time; moto CPU: the benchmark process's (moto's server) during the scan.",
    ]
    note = warn_about_dotenv()
    if note:
        lines.append(f"- {note}")
    lines += ["", "### Results", ""]
    rows = []
    for r in runs:
        rows.append(
            [
                f"{r.latency_ms:g}",
                r.concurrency,
                r.accounts,
                r.kind,
                f"{r.users:,}",
                f"{r.keys:,}",
                r.findings,
                f"{r.iam_calls:,}",
                f"{r.served:,}",
                f"{r.scan_seconds:.2f}" if r.ok else "-",
                f"{r.wall:.2f}",
                f"{r.scan_cpu:.1f}",
                f"{r.moto_cpu:.1f}",
                f"{r.peak_rss_mb:.0f}",
                r.note,
            ]
        )
    lines += table(
        [
            "added latency ms",
            "SCAN_CONCURRENCY",
            "accounts",
            "scan",
            "users",
            "keys",
            "findings",
            "IAM calls (scan's count)",
            "calls served by moto (STS included)",
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
    for latency in args.latency_ms:
        for i, concurrency in enumerate(args.concurrency):
            for kind in KINDS:

                def pick(accounts: int, latency: float = latency, concurrency: int = concurrency, kind: str = kind):
                    return next(
                        (
                            r
                            for r in runs
                            if (r.latency_ms, r.concurrency, r.accounts, r.kind)
                            == (latency, concurrency, accounts, kind)
                        ),
                        None,
                    )

                one, many = pick(1), pick(n_accounts)
                if not (one and many and one.ok and many.ok):
                    continue
                ratio = many.scan_seconds / one.scan_seconds
                wall_ratio = many.wall / one.wall
                judged = i == 0 and kind == "daily" and latency == args.latency_ms[0]
                trows.append(
                    [
                        f"{n_accounts} accounts within 3x of one, SCAN_CONCURRENCY={concurrency}, {kind} scan, "
                        f"{latency:g} ms added" + ("" if judged else " (for reference)"),
                        f"{many.scan_seconds:.2f} s / {one.scan_seconds:.2f} s = {ratio:.2f}x "
                        f"(process wall: {wall_ratio:.2f}x)",
                        verdict(ratio <= 3) if judged else ("within" if ratio <= 3 else "over"),
                    ]
                )
    lines += table(["target", "measured", "verdict"], trows)
    waves = ", ".join(f"{-(-n_accounts // c)}x at SCAN_CONCURRENCY={c}" for c in args.concurrency)
    lines += [
        "",
        f"For scale: with {n_accounts} accounts of equal size, c at a time, the scan takes at least "
        f"ceil({n_accounts} / c) times one account's time when an account's scan is mostly waiting ({waves}); "
        f"when it is mostly computing, the 2 cores bound it instead and {n_accounts} accounts cost about "
        f"{n_accounts} times one account's CPU.",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
