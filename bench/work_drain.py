"""How fast one `python -m bot worker` drains the work after the ack, every AWS call taking 50 ms.

A web process started as the Procfile's `web` line with WORK_IN=worker only acks and records: the benchmark sends
it N signed `/awskeys list ci` commands (each one's work: ListAccessKeys and GetAccessKeyLastUsed, then the answer
to the fake Slack's response_url), then starts one worker (the Procfile's `worker` line) and reads the queue's
depth from the database until it is empty. The rate is taken between 90 % and 10 % of the queue left, so the
worker's start-up is not counted.

    .venv/bin/python -m bench.work_drain                                  # 400 items, a temporary SQLite file
    .venv/bin/python -m bench.work_drain --database-url postgresql://...  # on PostgreSQL (an empty database)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (
    KEYWARDEN_KEY_ID,
    LOOPBACK,
    ROOT,
    aws_env,
    child_env,
    command_line,
    free_port,
    machine_lines,
    ms,
    percentile,
    publish,
    start_moto,
    wait_for_port,
)
from bench.estate import REGION, iam_backend
from bot.entrypoints.worker import THREADS
from tests.support.fake_slack import FakeSlack
from tests.support.harness import SIGNING_SECRET, RemoteBot
from tests.support.processes import procfile_command


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.work_drain", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--aws-latency", type=float, default=0.05, help="seconds added to every AWS call")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a temporary SQLite file)")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    slack = FakeSlack().start()
    moto, counter, moto_url = start_moto()
    iam = iam_backend()
    iam.create_user(region_name=REGION, user_name="ci", tags=[{"Key": "owner", "Value": "alice@example.com"}])
    iam.create_access_key("ci")
    tmp = Path(tempfile.mkdtemp(prefix="keywarden-drain-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    env = child_env(
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=url,
        SCHEDULER="off",
        WORK_IN="worker",
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        APPROVAL_CHANNEL="CAPPROVE",
        APPROVER_IDS="UBOSS",
        **aws_env(moto_url, KEYWARDEN_KEY_ID) | {"AWS_DEFAULT_REGION": REGION},
    )
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, cwd=tmp, check=True, capture_output=True)
    port = free_port()
    web = subprocess.Popen(
        ["/bin/sh", "-c", "exec " + procfile_command("web", port)], env=env | {"PORT": str(port)}, cwd=tmp
    )
    worker = None
    try:
        wait_for_port(port, 60, web)
        bot = RemoteBot(f"http://{LOOPBACK}:{port}", slack)
        acks = []
        for _ in range(args.items):
            sent = time.perf_counter()
            assert bot.command("list ci", user_id="UALICE").status == 200
            acks.append(time.perf_counter() - sent)
        from bot.clock import system_clock
        from bot.store.db import Database
        from bot.store.work_queue import WorkQueue

        queue = WorkQueue(Database(url), system_clock)
        assert queue.depth().items == args.items
        counter.latency = args.aws_latency
        calls_before = counter.snapshot()
        worker = subprocess.Popen(["/bin/sh", "-c", "exec " + procfile_command("worker", 0)], env=env, cwd=tmp)
        marks: dict[str, float] = {}
        while True:
            left = queue.depth().items
            now = time.monotonic()
            if left <= 0.9 * args.items:
                marks.setdefault("90", now)
            if left <= 0.1 * args.items:
                marks.setdefault("10", now)
            if left == 0:
                marks["0"] = now
                break
            time.sleep(0.05)
        slack.wait_for(lambda calls: len([c for c in calls if c.method == "response_url"]) >= args.items, 30)
        answers = len(slack.calls_to("response_url"))
        aws_calls = sum(counter.since(calls_before, KEYWARDEN_KEY_ID).values())
        rate = 0.8 * args.items / (marks["10"] - marks["90"])
    finally:
        for proc in (worker, web):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        slack.stop()
        moto.stop()
    per_item = args.aws_latency * aws_calls / args.items
    lines = [
        "## Work drain: one worker",
        "",
        *machine_lines(),
        f"- Command: `{command_line('bench.work_drain')}` (took {time.monotonic() - started:.0f} s)",
        "- Web: the Procfile's `web` line with WORK_IN=worker (acks and records only); worker: the Procfile's "
        f"`worker` line, {THREADS} threads; database: {'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}.",
        f"- Items: {args.items} `/awskeys list ci` commands recorded first, then one worker started. Each item's work: "
        f"2 AWS calls (ListAccessKeys, GetAccessKeyLastUsed) delayed {args.aws_latency * 1000:g} ms each by moto's "
        "server in the benchmark process, then one `response_url` answer to the fake Slack.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| items drained per second (from 90 % to 10 % of the queue left) | {rate:.1f} |",
        f"| bound at {THREADS} threads if only AWS took time ({THREADS} / {per_item:.2f} s) "
        f"| {THREADS / per_item:.0f} |",
        f"| answers at the fake Slack's response_url | {answers} of {args.items} |",
        f"| AWS calls per item | {aws_calls / args.items:.1f} |",
        f"| ack p50 / p99 while recording (one client, sequential) | {ms(percentile(acks, 50))} / "
        f"{ms(percentile(acks, 99))} ms |",
        "",
        f"One worker drains about {rate:.0f} items a second of work that spends {per_item * 1000:g} ms in AWS; "
        "more workers (or WORK_IN=web, where each web process does its own) add to that: each claims items "
        "with one conditional UPDATE.",
    ]
    publish("work_drain", lines, quick=False, no_docs=args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
