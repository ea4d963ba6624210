"""IAM calls of a scan before and after the least-privilege findings, at 1,000 and 5,000 users.

The estate of bench/estate.py (moto's server in this process, AWS managed policies loaded), plus
policies by every route: AdministratorAccess attached to 2% of users, an IAMFullAccess group with 1%,
a customer-managed policy allowing `*` on `*` on 1%, a read-only group with 25%, inline S3 policies on
5%, console passwords on 3%, and 20 groups and 10 customer-managed policies in all. Besides, 6% more users
whose one key was made with them and never used (CIS 1.11's setup keys): per 1,000 users, 40 CI users whose
key is 1-44 days old, 10 CI users 46-85 days old, and 10 console users (password), half on each side of the
45 unused days.

"Before" is `python -m bot scan --json` run from a copy of another revision (`--before`, default
`main`, exported with `git archive`); "after" is this tree. Each runs a first scan (empty database)
and a daily scan (the same estate; the credential report due again; the ownership index a day old),
and moto's server counts every call per operation.

    .venv/bin/python -m bench.privilege_cost [--before REV] [--before-note TEXT] [--sizes 1000,5000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # before moto's backends exist

from bench._common import (
    KEYWARDEN_KEY_ID,
    PYTHON,
    ROOT,
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
)
from bench.estate import Estate, reset_credential_report

AAD = "iam:GetAccountAuthorizationDetails"
ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
S3 = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})
NEW_CODES = ("admin-key", "console-and-key", "initial-key-unused", "key-not-via-group")


@dataclass
class Run:
    code: str
    scan: str
    ok: bool
    wall: float
    calls: Counter[str] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)
    users_with_findings: int = 0
    note: str = ""

    @property
    def iam(self) -> int:
        return sum(n for op, n in self.calls.items() if op.startswith("iam:"))


def grant(iam, names: list[str], start: int, setup_done: dict[str, str]) -> dict[str, int]:
    """Policies by every route for users `names[start:]` (groups and customer policies made once)."""
    made: Counter[str] = Counter()
    if not setup_done:
        for g in range(20):
            iam.create_group(GroupName=f"team-{g:02d}")
        iam.create_group(GroupName="iam-admins")
        iam.attach_group_policy(GroupName="iam-admins", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
        iam.put_group_policy(GroupName="team-00", PolicyName="read", PolicyDocument=S3)
        for p in range(9):
            iam.create_policy(PolicyName=f"app-{p}", PolicyDocument=S3)
        setup_done["platform"] = iam.create_policy(PolicyName="platform-admin", PolicyDocument=ALL)["Policy"]["Arn"]
    for i, name in enumerate(names[start:], start=start):
        if i % 50 == 0:
            iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
            made["AdministratorAccess attached"] += 1
        if i % 100 == 1:
            iam.add_user_to_group(GroupName="iam-admins", UserName=name)
            made["IAMFullAccess through a group"] += 1
        if i % 100 == 5:
            iam.attach_user_policy(UserName=name, PolicyArn=setup_done["platform"])
            made["customer policy allowing * on *"] += 1
        if i % 4 == 2:
            iam.add_user_to_group(GroupName="team-00", UserName=name)
            made["read-only group"] += 1
        if i % 20 == 3:
            iam.put_user_policy(UserName=name, PolicyName="s3-read", PolicyDocument=S3)
            made["inline S3 policy"] += 1
        if i % 33 == 7:
            iam.create_login_profile(UserName=name, Password="Bench-Password-123!")
            made["console password"] += 1
    return dict(made)


def setup_key_users(iam, start: int, size: int) -> dict[str, int]:
    """Per 1,000 users, 60 users made together with their one key, never used (users `start`..`size`)."""
    import time_machine

    made: Counter[str] = Counter()
    now = datetime.now(UTC)
    for n in range(start * 60 // 1000, size * 60 // 1000):
        slot = n % 60
        console = slot >= 50
        days = 1 + n % 44 if slot < 40 or (console and slot < 55) else 46 + n % 40
        name = f"{'person' if console else 'ci'}-setup-{n:05d}"
        with time_machine.travel(now - timedelta(days=days), tick=False):
            iam.create_user(UserName=name)
            iam.create_access_key(UserName=name)
        if console:
            iam.create_login_profile(UserName=name, Password="Bench-Password-123!")
        kind = "console user" if console else "CI user"
        made[f"{kind} setup key {'past' if days > 45 else 'within'} 45 days"] += 1
    return dict(made)


def index_a_day_old(database: Path) -> None:
    with closing(sqlite3.connect(database)) as db, db:
        db.execute("UPDATE account_index SET refreshed_at = datetime(refreshed_at, '-1 day')")


def scan(code: str, label: str, source: Path, endpoint: str, counter, database: Path) -> Run:
    env = child_env(**aws_env(endpoint, KEYWARDEN_KEY_ID), DATABASE_URL=f"sqlite:///{database}")
    env["PYTHONPATH"] = str(source)
    before = counter.snapshot()
    child = run_child([PYTHON, "-m", "bot", "scan", "--json"], env, 600, cwd=source)
    run = Run(code, label, False, child.wall_seconds, counter.since(before, KEYWARDEN_KEY_ID))
    if child.timed_out or child.returncode not in (0, 1):
        run.note = f"exit {child.returncode}: {child.stderr.strip()[-300:]}"
        return run
    data = json.loads(child.stdout)
    run.ok = True
    run.findings = Counter(f["finding"] for f in data["findings"])
    run.users_with_findings = len({f["user"] for f in data["findings"] if f["user"] != "<root_account>"})
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.privilege_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="the revision to compare with (default: main)")
    parser.add_argument(
        "--before-note",
        default="no least-privilege findings; GetAccountAuthorizationDetails with `Filter=[User]`",
        help="what the `before` revision lacks, for the report",
    )
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 5000])
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    revision = subprocess.run(
        ["git", "rev-parse", "--short", args.before], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()

    started = time.perf_counter()
    server, counter, endpoint = start_moto()
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=SETUP_KEY_ID,
        aws_secret_access_key="bench-setup",
    )
    estate = Estate()
    results: dict[int, list[Run]] = {}
    grants: Counter[str] = Counter()
    made: dict[str, str] = {}
    done = 0
    try:
        with tempfile.TemporaryDirectory(prefix="keywarden-bench-") as tmp:
            before_src = Path(tmp) / "before"
            before_src.mkdir()
            archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(before_src)], input=archive.stdout, check=True)
            for size in sorted(args.sizes):
                estate.grow_to(size)
                names = [f"{estate.prefix}-{i:05d}" for i in range(size)]
                grants.update(grant(iam, names, done, made))
                grants.update(setup_key_users(iam, done, size))
                done = size
                print(f"[{size} users] granted so far: {dict(grants)}", file=sys.stderr)
                runs: list[Run] = []
                for code, source in ((f"before ({revision})", before_src), ("after", ROOT)):
                    database = Path(tmp) / f"{code.split()[0]}-{size}.db"
                    reset_credential_report()
                    runs.append(scan(code, "first scan", source, endpoint, counter, database))
                    reset_credential_report()
                    index_a_day_old(database)
                    runs.append(scan(code, "daily scan", source, endpoint, counter, database))
                for run in runs:
                    print(
                        f"  {run.code} {run.scan}: {dict(run.calls)} {dict(run.findings)} {run.note}", file=sys.stderr
                    )
                results[size] = runs
    finally:
        server.stop()
    total = time.perf_counter() - started
    lines = report(results, grants, revision, total, args.before_note)
    publish("privilege_cost", lines, quick=False, no_docs=args.no_docs)
    return 0


def report(
    results: dict[int, list[Run]], grants: Counter[str], revision: str, total: float, before_note: str
) -> list[str]:
    lines = [
        "## Scan cost with the least-privilege findings",
        "",
        *machine_lines(),
        f"- Command: `{command_line('bench.privilege_cost')}` (took {total:.0f} s, building the estates included)",
        "- Setup: the estate of `bench/estate.py` in moto's server (AWS managed policies loaded) plus policies by "
        "every route at the largest size: "
        + ", ".join(f"{n:,} {what}" for what, n in sorted(grants.items()))
        + "; 21 groups and 10 customer-managed policies in all.",
        f"- Before: `python -m bot scan --json` from `git archive {revision}` ({before_note}). After: this tree. "
        "First scan: empty database. Daily scan: same estate, credential report due again, ownership index a "
        "day old. Calls as moto's server counted them.",
        "",
        "### Results",
        "",
    ]
    rows = []
    for size, runs in sorted(results.items()):
        for r in runs:
            ops = ", ".join(f"{op.split(':')[1]} {n:,}" for op, n in sorted(r.calls.items()) if op.startswith("iam:"))
            new = ", ".join(f"{c} {r.findings[c]:,}" for c in NEW_CODES if r.findings.get(c)) or "-"
            rows.append(
                [
                    f"{size:,}",
                    r.code,
                    r.scan,
                    f"{r.iam:,}",
                    r.calls.get(AAD, 0),
                    ops,
                    r.users_with_findings,
                    new,
                    f"{r.wall:.1f}",
                    r.note,
                ]
            )
    lines += table(
        [
            "users",
            "code",
            "scan",
            "IAM calls",
            "GetAccountAuthorizationDetails",
            "by operation",
            "users with findings",
            "new findings",
            "wall s",
            "note",
        ],
        rows,
    )
    lines += ["", "### Targets", ""]
    trows = []
    for size, runs in sorted(results.items()):
        by = {(r.code.split()[0], r.scan): r for r in runs}
        for label in ("first scan", "daily scan"):
            b, a = by.get(("before", label)), by.get(("after", label))
            if not (b and a and b.ok and a.ok):
                continue
            same_index = a.calls.get(AAD, 0) == b.calls.get(AAD, 0)
            other = ("iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountSummary")
            same_report = all(a.calls.get(op, 0) == b.calls.get(op, 0) for op in other)
            extra_lists = a.calls.get("iam:ListAccessKeys", 0) - b.calls.get("iam:ListAccessKeys", 0)
            trows.append(
                [
                    f"{size:,} users, {label}: same GetAccountAuthorizationDetails and report calls as before",
                    f"{b.calls.get(AAD, 0)} → {a.calls.get(AAD, 0)} index, report/summary "
                    f"{'equal' if same_report else 'differ'}; ListAccessKeys {extra_lists:+,} "
                    f"(users newly flagged: {a.users_with_findings - b.users_with_findings:+,}); "
                    f"IAM calls {b.iam:,} → {a.iam:,}",
                    verdict(same_index and same_report),
                ]
            )
    for size, runs in sorted(results.items()):
        by = {(r.code.split()[0], r.scan): r for r in runs}
        b, a = by.get(("before", "first scan")), by.get(("after", "first scan"))
        if not (b and a and b.ok and a.ok):
            continue
        expected = sum(1 for n in range(size * 60 // 1000) if n % 60 >= 55)  # console users past 45 days
        found = a.findings.get("initial-key-unused", 0)
        trows.append(
            [
                f"{size:,} users, first scan: initial-key-unused on console users past the unused days only",
                f"{b.findings.get('initial-key-unused', 0):,} → {found:,} (expected {expected:,}); ListAccessKeys "
                f"{b.calls.get('iam:ListAccessKeys', 0):,} → {a.calls.get('iam:ListAccessKeys', 0):,}",
                verdict(found == expected),
            ]
        )
    lines += table(["target", "measured", "verdict"], trows)
    lines += [
        "",
        "The index read is the same number of calls in moto, which answers GetAccountAuthorizationDetails in one "
        "page whatever `MaxItems` says. On AWS a page holds at most 1,000 entries and groups and customer-managed "
        "policies now count among them: "
        + ", ".join(
            f"{math.ceil(s / 1000)} → {math.ceil((s + 31) / 1000)} call(s) at {s:,} users (with these 31 groups and "
            "policies)"
            for s in sorted(results)
        )
        + "; an account with more groups and policies than `1,000 x pages - users` pays one more call. AWS-managed "
        "policies are judged by name, so their documents (every version, megabytes) are not asked for. "
        "ListAccessKeys grows only on the first scan, by the users that only the new findings flag (their key ids "
        "are not known yet); the daily scan reuses the remembered ids, so it lists no more than before."
        " Setup keys (CIS 1.11): only console users whose key has been unused for the 45 days are flagged; the CI "
        "users still within them are not, so the first scan lists 40 fewer users' keys per 1,000 users; the other "
        "setup-key users are flagged either way (key-unused past 45 days, console-and-key).",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
