"""Slack messages of a scan: 500 keys with findings owned by 40 people, scanned twice with `--post`.

In one process: moto in-process (`mock_aws`), filled through its backend; the fake Slack Web API on
loopback knows the 40 owners by email; Keywarden's services are bootstrapped as every entry point
does, and `services.scan(post=True)` runs twice in a row (what `python -m bot scan --post` runs).
The fake Slack records every Web API call; they are counted by method.

    .venv/bin/python -m bench.slack_messages            # 500 keys with findings, 40 owners
    .venv/bin/python -m bench.slack_messages --quick    # 100 keys with findings, 10 owners
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import time_machine

from bench._common import command_line, machine_lines, publish, table, verdict
from bench.estate import REGION, iam_backend
from tests.support.fake_slack import Call, FakeSlack

ALERTS = "CALERTS"
LOOKUPS = {"users.lookupByEmail", "users.info", "usergroups.users.list"}  # reads, cached by SlackDirectory


class SlackWithFiles(FakeSlack):
    """The fake Slack Web API, answering files.completeUploadExternal with its `files` list as Slack does
    (slack_sdk's files_upload_v2 reads it)."""

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "files.completeUploadExternal":
            files = params.get("files")
            if isinstance(files, str):
                import json

                files = json.loads(files)
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files or []]}
        return super()._answer(method, params)


def person(n: int) -> tuple[str, str]:
    return f"UOWNER{n:03d}", f"person{n:03d}@example.com"


def build_estate(keys_with_findings: int, owners: int, clean: int, now: datetime) -> dict[str, int]:
    """One key per user; every user tagged with an owner's email, round-robin over the owners."""
    from moto.iam.models import AccessKeyLastUsed

    backend = iam_backend()
    kinds: Counter[str] = Counter()
    for i in range(keys_with_findings + clean):
        name = f"dev-{i:04d}"
        _, email = person(i % owners)
        backend.create_user(region_name=REGION, user_name=name, tags=[{"Key": "owner", "Value": email}])
        if i >= keys_with_findings:
            age, status, used, kind = 10 + i % 60, "Active", 1 + i % 20, "clean"
        elif i % 20 < 12:
            age, status, used, kind = 91 + (i * 7) % 400, "Active", 1 + i % 20, "too old"
        elif i % 20 < 17:
            age, status, used, kind = 50 + i % 35, "Active", None, "never used"
        else:
            age, status, used, kind = 20 + i % 60, "Inactive", None, "inactive"
        with time_machine.travel(now - timedelta(days=age), tick=False):
            key = backend.create_access_key(name, status=status)
        if used is not None:
            when = (now - timedelta(days=used)).replace(tzinfo=None)
            key.last_used = AccessKeyLastUsed(timestamp=when, service="s3", region=REGION)
        kinds[kind] += 1
    return dict(kinds)


def classify(calls: list[Call]) -> Counter[str]:
    out: Counter[str] = Counter()
    for c in calls:
        if c.method == "chat.postMessage":
            channel = str(c.params.get("channel", ""))
            if channel == ALERTS:
                out["chat.postMessage: digest thread" if c.params.get("thread_ts") else "chat.postMessage: digest"] += 1
            else:
                out["chat.postMessage: DM"] += 1
        elif c.method.startswith("/"):
            out["file upload (POST to the upload URL)"] += 1
        else:
            out[c.method] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slack_messages", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 keys, 10 owners")
    parser.add_argument("--keys", type=int, help="keys with findings (default 500)")
    parser.add_argument("--owners", type=int, help="owners (default 40)")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    n_keys = args.keys or (100 if args.quick else 500)
    n_owners = args.owners or (10 if args.quick else 40)
    clean = n_keys // 5

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    )
    from moto import mock_aws

    from bot.bootstrap import bootstrap
    from bot.settings import Settings

    started = time.perf_counter()
    slack = SlackWithFiles().start()
    try:
        with mock_aws(), tempfile.TemporaryDirectory(prefix="keywarden-bench-") as tmp:
            now = datetime.now(UTC).replace(microsecond=0)
            kinds = build_estate(n_keys, n_owners, clean, now)
            for n in range(n_owners):
                slack.add_user(*person(n))
            env = {
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": "bench-signing-secret",
                "SLACK_API_URL": slack.api_url,
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'keywarden.db'}",
                "SCHEDULER": "off",
                "ALERT_CHANNEL": ALERTS,
                "APPROVAL_CHANNEL": "CAPPROVE",
                "APPROVER_IDS": "UBOSS",
            }
            services = bootstrap(Settings.from_env(env))
            scans: list[dict[str, Any]] = []
            try:
                for label in ("first scan", "second scan, nothing new"):
                    before = len(slack.calls)
                    t = time.perf_counter()
                    report, delivery = services.scan(post=True, trigger="cli")
                    seconds = time.perf_counter() - t
                    calls = slack.calls[before:]
                    assert delivery is not None
                    scans.append(
                        {
                            "label": label,
                            "seconds": seconds,
                            "calls": calls,
                            "by_method": classify(calls),
                            "delivery": delivery,
                            "keys_with_findings": len({f.key_id for f in report.findings if f.key_id}),
                            "owners_with_findings": len({f.owner.lower() for f in report.findings if f.owner}),
                            "iam_calls": report.iam_calls,
                        }
                    )
                    print(f"[{label}] {dict(scans[-1]['by_method'])} in {seconds:.2f} s", file=sys.stderr)
            finally:
                services.close()
    finally:
        slack.stop()
    total = time.perf_counter() - started
    lines = report_lines(scans, args, n_keys, n_owners, clean, kinds, total)
    publish("slack_messages", lines, quick=args.quick, no_docs=args.no_docs)
    return 0


def report_lines(
    scans: list[dict[str, Any]],
    args: argparse.Namespace,
    n_keys: int,
    n_owners: int,
    clean: int,
    kinds: dict[str, int],
    total: float,
) -> list[str]:
    lines = [
        "## Slack messages per scan" + (" (quick run)" if args.quick else ""),
        "",
        *machine_lines(("boto3", "moto", "slack_sdk", "SQLAlchemy")),
        f"- Command: `{command_line('bench.slack_messages')}` (took {total:.0f} s)",
        f"- Setup: moto in process (`mock_aws`); {n_keys + clean} IAM users with one key each: {n_keys} keys with "
        f"findings ({', '.join(f'{n} {k}' for k, n in kinds.items() if k != 'clean')}) and {clean} clean ones; "
        f"every user tagged `owner` = the email of one of {n_owners} people, round-robin; the fake Slack Web API "
        "knows each email (`users.lookupByEmail`) and answers `files.completeUploadExternal` with its `files` "
        "list as Slack does. Keywarden's services bootstrapped in process with "
        "ALERT_CHANNEL and a temporary SQLite database; `services.scan(post=True)` twice in a row, as "
        "`python -m bot scan --post` runs it.",
        "- Counted: every call the fake Slack received during each scan, by method; `chat.postMessage` split into "
        "the digest (alert channel), its thread, and DMs (a user id as the channel). Lookups "
        "(`users.lookupByEmail`, cached 5 minutes by `SlackDirectory`) are reads, listed apart from messages.",
        "",
        "### Slack API calls by method",
        "",
    ]
    methods = sorted({m for s in scans for m in s["by_method"]}, key=lambda m: (m in LOOKUPS, m))
    rows = []
    for m in methods:
        rows.append([f"`{m}`" + (" (read)" if m in LOOKUPS else ""), *(s["by_method"].get(m, 0) for s in scans)])
    rows.append(
        ["**messages and uploads (lookups apart)**"]
        + [sum(n for m, n in s["by_method"].items() if m not in LOOKUPS) for s in scans]
    )
    rows.append(
        ["keys with findings / owners with findings"]
        + [f"{s['keys_with_findings']} / {s['owners_with_findings']}" for s in scans]
    )
    rows.append(["owners messaged (Keywarden's count)"] + [s["delivery"].owners_messaged for s in scans])
    rows.append(["IAM calls"] + [s["iam_calls"] for s in scans])
    rows.append(["scan + delivery time, s"] + [f"{s['seconds']:.2f}" for s in scans])
    lines += table(["method", *(s["label"] for s in scans)], rows)

    first, second = scans[0], scans[1]
    f = first["by_method"]
    dm_channels = Counter(
        c.params.get("channel")
        for c in first["calls"]
        if c.method == "chat.postMessage" and c.params.get("channel") != ALERTS
    )
    extra = f.get("chat.postMessage: digest thread", 0) + f.get("files.completeUploadExternal", 0)
    owners = first["owners_with_findings"]
    second_messages = [
        (c.method, c.params.get("channel"), bool(c.params.get("thread_ts")))
        for c in second["calls"]
        if c.method not in LOOKUPS
    ]
    lines += ["", "### Targets", ""]
    lines += table(
        ["target", "measured", "verdict"],
        [
            [
                "first scan: one digest",
                f"{f.get('chat.postMessage: digest', 0)}",
                verdict(f.get("chat.postMessage: digest", 0) == 1),
            ],
            ["first scan: plus at most one thread post or file", f"{extra}", verdict(extra <= 1)],
            [
                f"first scan: at most one DM per owner ({owners} owners with findings)",
                f"{sum(dm_channels.values())} DMs to {len(dm_channels)} people, at most "
                f"{max(dm_channels.values(), default=0)} each",
                verdict(max(dm_channels.values(), default=0) <= 1 and len(dm_channels) <= owners),
            ],
            [
                "second scan: nothing but the digest",
                ", ".join(f"{m} to {ch}{' (thread)' if th else ''}" for m, ch, th in second_messages) or "nothing",
                verdict(second_messages == [("chat.postMessage", ALERTS, False)]),
            ],
        ],
    )
    sizes = [_blocks(c) for s in scans for c in s["calls"] if c.method == "chat.postMessage"]
    lookups = [s["by_method"].get("users.lookupByEmail", 0) for s in scans]
    lines += [
        "",
        f"`users.lookupByEmail`: {lookups[0]} in the first scan (one per distinct owner email), {lookups[1]} in the "
        "second (answered from SlackDirectory's 5-minute cache; a scheduled scan a day later looks every owner up "
        "again).",
        "",
        f"Largest message posted: {max(sizes, default=0)} blocks (Slack accepts at most 50 per message).",
    ]
    return lines


def _blocks(call: Call) -> int:
    blocks = call.params.get("blocks")
    if isinstance(blocks, str):
        import json

        try:
            blocks = json.loads(blocks)
        except ValueError:
            return 0
    return len(blocks or [])


if __name__ == "__main__":
    sys.exit(main())
