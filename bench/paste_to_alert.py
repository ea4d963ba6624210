"""Paste to alert: a key pasted with its secret in a channel, to the critical alert in ALERT_CHANNEL, while
50 ordinary messages a second arrive; then the slash-command ack at 32 clients under the same stream.

Keywarden runs as the Procfile's `web` line runs it (`waitress-serve --threads=<as in the Procfile>
--call bot.entrypoints.web:create_wsgi_app`) on a free loopback port, with a temporary SQLite database, moto's server
and a fake Slack Web API in this process. Every paste uses its own IAM user's real key (owner-tagged),
so the response does its real lookups (sts:GetAccessKeyInfo, iam:GetAccessKeyLastUsed, the ownership
index) before it posts. Background: signed `message` events with ordinary chat (bench/chat_corpus.py)
at 50 per second. A paste is sent every 1.25 s (Slack allows about one message per second per channel,
and Keywarden keeps to it); latency runs from sending the event to the fake Slack receiving the alert.
Then bench/_load.py sends `/awskeys help` and `/awskeys list ci` from 32 clients while the stream goes on.

    .venv/bin/python -m bench.paste_to_alert            # 60 pastes, 300 slash commands
    .venv/bin/python -m bench.paste_to_alert --quick    # 15 pastes, 100 slash commands
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from slack_sdk.signature import SignatureVerifier

from bench._common import (
    KEYWARDEN_KEY_ID,
    LOOPBACK,
    PYTHON,
    ROOT,
    SETUP_KEY_ID,
    aws_env,
    child_env,
    command_line,
    free_port,
    machine_lines,
    ms,
    percentile,
    publish,
    run_child,
    start_moto,
    table,
    verdict,
    wait_for_port,
)
from bench.chat_corpus import ordinary_lines, secret
from tests.support.fake_slack import FakeSlack

SIGNING_SECRET = "bench-signing-secret"
THREADS = int(re.search(r"^web:.*--threads=(\d+)", (ROOT / "Procfile").read_text(), re.M).group(1))
ALERTS = "CALERTS"
RATE = 50  # ordinary messages per second
PASTE_EVERY = 1.25
KEY_ID = re.compile(r"AKIA[A-Z2-7]{16}")


class AlertClock(FakeSlack):
    """The fake Slack Web API, noting when the first alert naming each key id arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.alerted: dict[str, float] = {}
        self.arrivals: dict[str, float] = {}
        self._server.socket.listen(256)

    def _handle(self, handler: Any, raw: str) -> None:
        arrived = time.time()
        path = handler.path
        if path == "/api/chat.postMessage" and ALERTS in raw:
            for key_id in KEY_ID.findall(raw):
                with self._cond:
                    self.alerted.setdefault(key_id, arrived)
        if path.startswith("/respond/"):
            with self._cond:
                self.arrivals.setdefault(path[len("/respond/") :], arrived)
        super()._handle(handler, raw)


class Sender:
    """Signed event_callback bodies over one keep-alive connection; returns each ack's latency."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.verifier = SignatureVerifier(SIGNING_SECRET)
        self.conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        self.n = 0

    def message(self, text: str, ts: str, user: str = "UDAVE") -> tuple[float, int | str]:
        self.n += 1
        envelope = {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{ts.replace('.', '')}",
            "event_time": int(time.time()),
            "event": {"type": "message", "channel": "CWORK", "user": user, "text": text, "ts": ts},
        }
        body = json.dumps(envelope).replace("/", "\\/")
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp, body=body),
        }
        started = time.perf_counter()
        try:
            self.conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
            response = self.conn.getresponse()
            response.read()
            status: int | str = response.status
        except (OSError, http.client.HTTPException) as e:
            status = type(e).__name__
            self.conn.close()
            self.conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
        return time.perf_counter() - started, status


def background(port: int, stop: threading.Event, acks: list[float], errors: list[Any], seed: int) -> None:
    """Ordinary chat at RATE/2 messages per second (two of these run)."""
    sender = Sender(port)
    lines = ordinary_lines(5000, seed=seed)
    interval = 2 / RATE
    next_at = time.perf_counter()
    i = 0
    while not stop.is_set():
        latency, status = sender.message(lines[i % len(lines)], f"{1700000000 + seed}.{i:06d}")
        acks.append(latency)
        if status != 200:
            errors.append(status)
        i += 1
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            stop.wait(delay)


def estate(endpoint: str, count: int) -> list[str]:
    """`count` IAM users, each with one key and an owner tag; their key ids."""
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=SETUP_KEY_ID,
        aws_secret_access_key="setup",
    )
    keys = []
    for n in range(count):
        iam.create_user(UserName=f"svc-{n:03d}", Tags=[{"Key": "owner", "Value": f"person{n % 10}@example.com"}])
        keys.append(iam.create_access_key(UserName=f"svc-{n:03d}")["AccessKey"]["AccessKeyId"])
    iam.create_user(UserName="ci")
    iam.create_access_key(UserName="ci")
    return keys


def slash_load(port: int, slack: FakeSlack, requests: int) -> dict[str, Any]:
    cfg = {
        "port": port,
        "clients": 32,
        "requests": requests,
        "run_id": "slash",
        "signing_secret": SIGNING_SECRET,
        "command": "/awskeys",
        "kinds": [
            {"name": "/awskeys help", "type": "command", "text": "help", "user": "UALICE"},
            {"name": "/awskeys list ci", "type": "command", "text": "list ci", "user": "UALICE"},
        ],
        "response_base": slack.response_url(""),
        "time_limit": 120,
    }
    run = run_child([PYTHON, "-m", "bench._load", json.dumps(cfg)], child_env(), timeout=300)
    if run.returncode != 0:
        raise RuntimeError(f"load generator failed: {run.stderr[-500:]}")
    return json.loads(run.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    n_pastes, n_slash = (15, 100) if args.quick else (60, 300)

    moto, _, endpoint = start_moto()
    slack = AlertClock().start()
    for n in range(10):
        slack.add_user(f"UOWNER{n}", email=f"person{n}@example.com")
    keys = estate(endpoint, n_pastes)
    tmp = Path(tempfile.mkdtemp(prefix="keywarden-bench-"))
    port = free_port()
    env = child_env(
        **aws_env(endpoint, KEYWARDEN_KEY_ID),
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=f"sqlite:///{tmp / 'keywarden.db'}",
        ALERT_CHANNEL=ALERTS,
        APPROVAL_CHANNEL="CAPPROVE",
        APPROVER_IDS="UBOSS",
        SCHEDULER="off",
        LOG_LEVEL="WARNING",
    )
    log = open(tmp / "web.log", "wb")  # noqa: SIM115 (closed after the server stops)
    cmd = [
        str(Path(PYTHON).with_name("waitress-serve")),
        f"--listen={LOOPBACK}:{port}",
        f"--threads={THREADS}",
        "--ident=keywarden",
        "--call",
        "bot.entrypoints.web:create_wsgi_app",
    ]
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 60, server)
        warm = Sender(port)
        for n in range(20):
            warm.message("warming up", f"1699999999.{n:06d}")
        stop = threading.Event()
        acks: list[float] = []
        errors: list[Any] = []
        streams = [
            threading.Thread(target=background, args=(port, stop, acks, errors, seed), daemon=True) for seed in (1, 2)
        ]
        for t in streams:
            t.start()
        time.sleep(2)  # the stream is flowing before the first paste
        paster = Sender(port)
        sent: dict[str, float] = {}
        paste_acks: list[float] = []
        started = time.perf_counter()
        for n, key_id in enumerate(keys):
            pasted = f"aws_access_key_id = {key_id}\naws_secret_access_key = {secret(random.Random(n))}"
            text = f"here are the creds for svc-{n:03d}:\n```\n{pasted}\n```"
            sent[key_id] = time.time()
            latency, status = paster.message(text, f"1800000000.{n:06d}")
            paste_acks.append(latency)
            if status != 200:
                errors.append(status)
            delay = started + (n + 1) * PASTE_EVERY - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        deadline = time.monotonic() + 30
        while len(slack.alerted) < len(keys) and time.monotonic() < deadline:
            time.sleep(0.05)
        stream_rate = len(acks) / (time.perf_counter() - started + 2)
        slash = slash_load(port, slack, n_slash)
        time.sleep(3)  # answers through response_url
        stop.set()
        for t in streams:
            t.join(10)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        slack.stop()
        moto.stop()

    latencies = [slack.alerted[k] - sent[k] for k in keys if k in slack.alerted]
    missing = len(keys) - len(latencies)
    slash_acks = [r[1] for r in slash["results"] if r[2] == 200]
    slash_errors = [r[2] for r in slash["results"] if r[2] != 200]
    answered = [
        slack.arrivals[r[4]] - r[3] for r in slash["results"] if r[0] == "/awskeys list ci" and r[4] in slack.arrivals
    ]
    p99 = percentile(latencies, 99)
    ack_p99 = percentile(slash_acks, 99)
    lines = [
        "## Paste to alert",
        "",
        f"Command: `{command_line('bench.paste_to_alert')}`",
        "",
        *machine_lines(),
        "",
        f"The web process as the Procfile runs it (waitress, {THREADS} threads), moto's server and a fake Slack on "
        f"loopback; {len(keys)} pastes of real keys (one every {PASTE_EVERY} s) while ordinary chat arrives at "
        f"{stream_rate:.0f} messages per second; then {n_slash} slash commands from 32 clients with the stream still "
        "flowing. Latency: event sent → alert received by the fake Slack.",
        "",
        *table(
            ["measure", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"],
            [
                [
                    name,
                    len(values),
                    ms(percentile(values, 50)),
                    ms(percentile(values, 95)),
                    ms(percentile(values, 99)),
                    ms(max(values) if values else float("nan")),
                ]
                for name, values in (
                    ("paste → alert in ALERT_CHANNEL", latencies),
                    ("paste event ack", paste_acks),
                    ("ordinary message ack", acks),
                    ("slash command ack, 32 clients", slash_acks),
                    ("`list ci` answer (response_url), 32 clients", answered),
                )
            ],
        ),
        "",
        f"- Paste → alert p99 {ms(p99)} ms (goal < 2,000 ms): {verdict(p99 < 2.0 and not missing)}"
        + (f"; {missing} paste(s) never alerted" if missing else ""),
        f"- Slash-command ack p99 at 32 clients while {RATE} messages/s arrive: {ms(ack_p99)} ms (goal < 300 ms): "
        f"{verdict(ack_p99 < 0.3 and not slash_errors)}",
        f"- Non-200 answers: {len(errors)} to events, {len(slash_errors)} to slash commands",
    ]
    publish("paste_to_alert", lines, quick=args.quick, no_docs=args.no_docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
