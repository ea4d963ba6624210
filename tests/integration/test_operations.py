"""Operating Keywarden: GET /metrics moving with real work, /healthz for orchestrators, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from bot.domain.findings import KEY_TOO_OLD
from bot.domain.requests import Status
from bot.entrypoints.web import serve_ops
from bot.logs import JsonFormatter, log_context, setup_logging
from bot.slack import ids
from bot.store.models import ScanRun
from tests.support.fake_slack import Fault
from tests.support.flows import filed_id, key_made, wait_status
from tests.support.harness import BotServer, healthy_body, send
from tests.support.processes import Process, clean_env, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(bot: BotServer) -> tuple[Samples, str]:
    reply = bot.get("/metrics")
    assert reply.status == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.body):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, reply.body


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Samples) -> set[str]:
    return {v for (_, labels) in samples for _, v in labels}


@pytest.fixture
def owned_old_key(bot: BotServer, iam) -> str:
    bot.slack.add_user("UALICE", email="alice@example.com")
    iam.create_user(UserName="ci-deployer", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    return key_made(iam, "ci-deployer", 120, bot.services.clock())


def test_a_scrape_after_a_scan_and_an_approval_shows_the_counters_moving(bot: BotServer, owned_old_key: str) -> None:
    before, _ = scrape(bot)

    bot.command("scan", user_id="UBOSS")
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "response_url" and "Scan done" in c.raw])
    bot.slack.fail("chat.postMessage", Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}))
    bot.command(f"deactivate {owned_old_key} leaving the team")
    rid = filed_id(bot)
    bot.work.idle()
    pending, _ = scrape(bot)
    bot.click(ids.APPROVE, rid, "UBOSS")
    wait_status(bot, rid, Status.SUCCEEDED)
    bot.work.idle()
    after, exposition = scrape(bot)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Requests from Slack, their acks and the work after them
    assert moved("keywarden_slack_requests_total", kind="command", outcome="ok") == 2
    assert moved("keywarden_slack_requests_total", kind="action", outcome="ok") == 1
    assert moved("keywarden_ack_seconds_count", kind="command") == 2
    assert moved("keywarden_work_after_ack_seconds_count", kind="command", outcome="ok") == 2
    assert moved("keywarden_work_after_ack_seconds_count", kind="action", outcome="ok") == 1
    # AWS and Slack calls, and Slack's retries
    assert moved("keywarden_aws_calls_total", service="iam", action="UpdateAccessKey", outcome="ok") == 1
    assert moved("keywarden_aws_calls_total", service="iam", action="GetCredentialReport", outcome="ok") >= 1
    assert moved("keywarden_slack_api_calls_total", method="chat.postMessage", outcome="ok") >= 2
    assert moved("keywarden_slack_api_retries_total", method="chat.postMessage", reason="ratelimited") == 1
    # The scan
    assert moved("keywarden_scans_total", outcome="ok") == 1
    assert moved("keywarden_scan_duration_seconds_count") == 1
    assert value(after, "keywarden_scan_findings", account="default", code=KEY_TOO_OLD) == 1
    scanned_at = bot.services.clock().timestamp()
    assert value(after, "keywarden_last_successful_scan_timestamp_seconds", account="default") == scanned_at
    # State from the database
    assert value(pending, "keywarden_pending_requests", operation="deactivate") == 1
    assert value(after, "keywarden_pending_requests", operation="deactivate") == 0
    assert ("keywarden_rotations", frozenset({("stage", "grace")})) in after
    assert "keywarden_scheduler_leader" not in exposition  # a web process runs no scheduler

    # No label carries a key id, a user name, a Slack user id or a secret
    labels = label_values(after)
    for forbidden in (owned_old_key, "ci-deployer", "UALICE", "UBOSS", "alice@example.com", rid):
        assert not any(forbidden in label for label in labels), forbidden
    assert not [v for v in labels if re.search(r"(AKIA|ASIA)[A-Z0-9]{12,}|[A-Za-z0-9/+]{40}", v)]


def test_healthz_reports_schema_and_keeps_its_contract(make_bot, aws) -> None:
    bot = make_bot()
    healthy = bot.get("/healthz")
    assert healthy.status == 200
    assert healthy.json() == healthy_body()
    db = bot.services.db
    with db.engine.begin() as conn:
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    behind = bot.get("/healthz")
    assert behind.status == 503
    assert behind.json() == {
        "status": "error",
        "database": "ok",
        "migrations": "behind",
        "slack": "ok",
        "aws": "ok",
        "scheduler": "none",
    }
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    ahead = bot.get("/healthz")  # a newer release migrated during a rolling upgrade: still serving
    assert ahead.status == 200 and ahead.json()["migrations"] == "ahead"
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})


@pytest.fixture
def ops_server(make_services, aws) -> Iterator[tuple[str, dict[str, bool], object]]:
    """What the clock process serves on METRICS_PORT, for a process that leads when `leading["now"]`."""
    services = make_services()
    leading = {"now": False}
    server = serve_ops(services, 0, lambda: leading["now"], host="127.0.0.1")
    yield f"http://127.0.0.1:{server.effective_port}", leading, services
    server.close()


def test_healthz_on_a_scheduler_says_who_leads_and_how_old_the_last_scan_is(ops_server, clock) -> None:
    url, leading, services = ops_server
    standby = send(urllib.request.Request(url + "/healthz"))
    assert standby.status == 200 and standby.json() == healthy_body(scheduler="standby", last_scan_age_seconds=None)
    assert "keywarden_scheduler_leader 0.0" in send(urllib.request.Request(url + "/metrics")).body
    leading["now"] = True
    with services.db.session() as session:
        finished = clock() - timedelta(hours=2)
        session.add(ScanRun(started_at=finished, finished_at=finished, trigger="schedule", summary={}))
    leader = send(urllib.request.Request(url + "/healthz")).json()
    assert leader["scheduler"] == "leader" and leader["last_scan_age_seconds"] == 7200
    assert "keywarden_scheduler_leader 1.0" in send(urllib.request.Request(url + "/metrics")).body
    assert send(urllib.request.Request(url + "/slack/events", data=b"x")).status == 404


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def test_json_log_lines_carry_the_request_ids_and_no_secret(json_log: io.StringIO) -> None:
    log = logging.getLogger("keywarden.test")
    log.setLevel(logging.DEBUG)
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    with log_context(request_id="abc123", slack_user_id="UALICE", keywarden_request_id="R-ABCDEF"):
        log.info("created a key: %s", secret)
        try:
            raise ValueError(f"boom {secret}")
        except ValueError:
            log.exception("failed")
    log.warning("outside", extra={"rotation_id": "R-ZZZZZZ"})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["created a key: [redacted]", "failed", "outside"]
    first = lines[0]
    assert set(first) == {
        "timestamp",
        "level",
        "logger",
        "message",
        "request_id",
        "slack_user_id",
        "keywarden_request_id",
    }
    assert (first["level"], first["logger"], first["request_id"], first["keywarden_request_id"]) == (
        "INFO",
        "keywarden.test",
        "abc123",
        "R-ABCDEF",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["timestamp"])
    assert "ValueError" in lines[1]["exception"] and secret not in json_log.getvalue()
    assert lines[2]["rotation_id"] == "R-ZZZZZZ" and "request_id" not in lines[2]


def test_log_format_json_is_set_up_from_settings(monkeypatch) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        setup_logging("INFO", "json")
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers = saved


def test_clock_processes_serve_metrics_port_one_leads_one_stands_by(tmp_path, slack, moto_url) -> None:
    """Two clock processes (the Procfile's line) with METRICS_PORT: /healthz and /metrics say who leads."""
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-t",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'keywarden.db'}",
        APPROVER_IDS="UBOSS",
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="t",
        AWS_SECRET_ACCESS_KEY="t",
        AWS_DEFAULT_REGION="us-east-1",
        LOG_FORMAT="json",
    )
    ports = [free_port(), free_port()]
    first = Process("clock", env | {"METRICS_PORT": str(ports[0])}, tmp_path, tmp_path / "clock1.log")
    second = None

    def health(port: int) -> dict | None:
        try:
            return send(urllib.request.Request(f"http://127.0.0.1:{port}/healthz")).json()
        except OSError:
            return None

    def wait_for(predicate, what: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while not (found := predicate()):
            assert time.monotonic() < deadline, f"{what}:\n" + "".join(
                p.read_text()[-2000:] for p in tmp_path.glob("clock*.log")
            )
            time.sleep(0.1)
        return found

    try:
        wait_for(lambda: (h := health(ports[0])) and h.get("scheduler") == "leader", "the first clock did not lead")
        second = Process("clock", env | {"METRICS_PORT": str(ports[1])}, tmp_path, tmp_path / "clock2.log")
        standby = wait_for(lambda: health(ports[1]), "the second clock did not serve /healthz")
        assert standby["scheduler"] == "standby" and standby["status"] == "ok" and standby["database"] == "ok"
        metrics = [send(urllib.request.Request(f"http://127.0.0.1:{p}/metrics")).body for p in ports]
        assert "keywarden_scheduler_leader 1.0" in metrics[0]
        assert "keywarden_scheduler_leader 0.0" in metrics[1]
        assert all("keywarden_pending_requests" in m for m in metrics)
        json.loads((tmp_path / "clock1.log").read_text().splitlines()[0])  # LOG_FORMAT=json here too
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()


def test_aws_calls_that_never_reach_aws_are_counted_with_their_error() -> None:
    import boto3
    from botocore.config import Config
    from prometheus_client import REGISTRY

    from bot import metrics

    client = boto3.client(
        "iam",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    metrics.watch_aws(client)
    labels = {"service": "iam", "action": "GetUser", "outcome": "EndpointConnectionError"}
    before = REGISTRY.get_sample_value("keywarden_aws_calls_total", labels) or 0
    with pytest.raises(Exception, match="Could not connect"):
        client.get_user(UserName="x")
    assert REGISTRY.get_sample_value("keywarden_aws_calls_total", labels) == before + 1


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"command": "/awskeys", "text": "help"}, "command"),
        ({"type": "block_actions", "actions": []}, "action"),
        ({"type": "view_submission", "view": {"callback_id": "x"}}, "view_submission"),
        ({"type": "event_callback", "event": {"type": "message"}}, "event"),
        ({"type": "view_submission", "view": 7}, "other"),
        ({"type": ["block_actions"]}, "other"),
        ({}, "other"),
    ],
)
def test_request_kinds_come_from_a_fixed_set_whatever_the_body(body: dict, kind: str) -> None:
    from bot.slack.observe import kind_of

    assert kind_of(body) == kind
