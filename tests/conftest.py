"""Shared fixtures: databases (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), moto, fake Slack, the bot."""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer
from sqlalchemy import create_engine, text

from bot.bootstrap import Services, bootstrap
from bot.settings import Settings
from tests.support.fake_slack import FakeSlack
from tests.support.harness import SIGNING_SECRET, BotServer, RecordingSleep, TestClock

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def pg_schema() -> Iterator[str]:
    """A PostgreSQL schema of its own (dropped afterwards), as a database URL; skips without TEST_DATABASE_URL."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'keywarden.db'}"
        return
    with pg_schema() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'keywarden.db'}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, with fake credentials and no endpoint override."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture
def moto_url() -> Iterator[str]:
    """moto's server on loopback, for code in other processes (AWS_ENDPOINT_URL)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's state lives in this process, shared by every server: start each test from nothing.
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"), timeout=10).close()
    yield url
    server.stop()


@pytest.fixture
def iam(aws: None):
    return boto3.client("iam", region_name="us-east-1")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def sleeps() -> RecordingSleep:
    """The bot's waits (Slack retries, pacing, report polling) in tests: recorded, not slept."""
    return RecordingSleep()


def base_env(slack: FakeSlack, database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "APPROVAL_CHANNEL": "CAPPROVE",
        "ALERT_CHANNEL": "CALERTS",
        "APPROVER_IDS": "UBOSS,UCARL",
        "SCHEDULER": "off",
    }
    env.update(overrides)
    return env


@pytest.fixture
def make_services(
    slack: FakeSlack, database_url: str, clock: TestClock, sleeps: RecordingSleep
) -> Iterator[Callable[..., Services]]:
    made: list[Services] = []

    def make(**overrides: str) -> Services:
        settings = Settings.from_env(base_env(slack, database_url, **overrides))
        services = bootstrap(settings, clock=clock, sleep=sleeps)
        made.append(services)
        return services

    yield make
    for services in made:
        services.close()


@pytest.fixture
def make_bot(make_services: Callable[..., Services], slack: FakeSlack) -> Iterator[Callable[..., BotServer]]:
    servers: list[BotServer] = []

    def make(**overrides: str) -> BotServer:
        server = BotServer(make_services(**overrides), slack)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def bot(make_bot: Callable[..., BotServer], aws: None) -> BotServer:
    return make_bot()
