"""SQS event to alert: an AWS Health AWS_RISK_CREDENTIALS_EXPOSED event put on the events queue, to the
critical alert in ALERT_CHANNEL.

The scheduler runs as the Procfile's `clock` line runs it (`python -m bot scheduler`), with
EVENTS_QUEUE_URL pointing at a queue of moto's server in this process (20-second long polls, batches of
10, as in production), a temporary SQLite database and a fake Slack Web API on loopback. Every event
names its own IAM user's real key (owner-tagged), so the response does its real lookups. An event is
sent every 1.25 s, plus a burst of 10 at once at the end; latency runs from SendMessage returning to
the fake Slack receiving the alert that names the key.

    .venv/bin/python -m bench.events_to_alert            # 40 events and a burst of 10
    .venv/bin/python -m bench.events_to_alert --quick    # 10 events and a burst of 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import boto3

from bench._common import (
    KEYWARDEN_KEY_ID,
    PYTHON,
    ROOT,
    SETUP_KEY_ID,
    aws_env,
    child_env,
    command_line,
    machine_lines,
    ms,
    percentile,
    publish,
    start_moto,
    table,
    verdict,
)
from bench.paste_to_alert import ALERTS, AlertClock, estate
from tests.support.aws_events import health_exposed

EVERY = 1.25
BURST = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    paced = 10 if args.quick else 40

    moto, _, endpoint = start_moto()
    slack = AlertClock().start()
    for n in range(10):
        slack.add_user(f"UOWNER{n}", email=f"person{n}@example.com")
    keys = estate(endpoint, paced + BURST)
    sqs = boto3.client(
        "sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=SETUP_KEY_ID, aws_secret_access_key="s"
    )
    url = sqs.create_queue(QueueName="keywarden-events", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    tmp = Path(tempfile.mkdtemp(prefix="keywarden-bench-"))
    env = child_env(
        **aws_env(endpoint, KEYWARDEN_KEY_ID),
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET="bench",
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=f"sqlite:///{tmp / 'keywarden.db'}",
        ALERT_CHANNEL=ALERTS,
        APPROVAL_CHANNEL="CAPPROVE",
        APPROVER_IDS="UBOSS",
        EVENTS_QUEUE_URL=url,
        LOG_LEVEL="INFO",
    )
    log_path = tmp / "clock.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed after the process stops)
    clock = subprocess.Popen(
        [PYTHON, "-m", "bot", "scheduler"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    sent: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 60
        while b"reading AWS events" not in log_path.read_bytes():
            if clock.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the scheduler did not start reading the queue:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        time.sleep(1)  # its first long poll is waiting
        started = time.perf_counter()
        for n, key_id in enumerate(keys[:paced]):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(health_exposed(key_id)))
            sent[key_id] = time.time()
            delay = started + (n + 1) * EVERY - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        for key_id in keys[paced:]:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(health_exposed(key_id)))
            sent[key_id] = time.time()
        deadline = time.monotonic() + 90
        while len(slack.alerted) < len(keys) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessages"]
        )
    finally:
        clock.terminate()
        try:
            clock.wait(60)
        except subprocess.TimeoutExpired:
            clock.kill()
        log.close()
        slack.stop()
        moto.stop()

    paced_lat = [slack.alerted[k] - sent[k] for k in keys[:paced] if k in slack.alerted]
    burst_lat = [slack.alerted[k] - sent[k] for k in keys[paced:] if k in slack.alerted]
    every = paced_lat + burst_lat
    missing = len(keys) - len(every)
    p99 = percentile(every, 99)
    lines = [
        "## SQS event to alert",
        "",
        f"Command: `{command_line('bench.events_to_alert')}`",
        "",
        *machine_lines(),
        "",
        f"`python -m bot scheduler` reading moto's SQS (20 s long polls, batches of 10) with a fake Slack on loopback; "
        f"{paced} AWS Health `AWS_RISK_CREDENTIALS_EXPOSED` events one every {EVERY} s, then {BURST} at once. "
        "Latency: SendMessage returned → alert received by the fake Slack.",
        "",
        *table(
            ["events", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"],
            [
                [
                    name,
                    len(values),
                    ms(percentile(values, 50)),
                    ms(percentile(values, 95)),
                    ms(percentile(values, 99)),
                    ms(max(values) if values else float("nan")),
                ]
                for name, values in (("one at a time", paced_lat), (f"a burst of {BURST}", burst_lat), ("all", every))
            ],
        ),
        "",
        f"- SQS event → alert p99 {ms(p99)} ms (goal < 25,000 ms): {verdict(p99 < 25 and not missing)}"
        + (f"; {missing} event(s) never alerted" if missing else ""),
        f"- Messages left on the queue afterwards: {left} (each deleted once handled)",
        "- In a burst, alerts leave one per second: Keywarden keeps to Slack's one message per second per channel.",
    ]
    publish("events_to_alert", lines, quick=args.quick, no_docs=args.no_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
