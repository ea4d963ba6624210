"""Shared fixtures: databases (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), moto, fake Slack, the bot."""

from __future__ import annotations

import functools
import os
import sys
import urllib.request
import zlib
from collections.abc import Callable, Iterator

import boto3
import botocore.session
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from bot.bootstrap import Services, bootstrap
from bot.settings import Settings
from tests.support.databases import PG_URL, Databases, process_databases
from tests.support.fake_slack import FakeSlack
from tests.support.flows import ci_user, old  # noqa: F401 (fixtures the integration tests share)
from tests.support.harness import SIGNING_SECRET, BotServer, RecordingSleep, TestClock

# The suite starts many Python processes (xdist workers, real bot processes, the CLI): with
# PYTHONDONTWRITEBYTECODE set, as some machines do, each would compile every module of bot/ and tests/ again.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(autouse=True, scope="session")
def parsed_service_models_once() -> Iterator[None]:
    """Every botocore session of the test process shares one loader of service models.

    moto starts each test with a new default session, and the bot makes its own: each would parse the JSON
    models of IAM, STS and the rest again, about 0.3 s of CPU per test.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", functools.cache(botocore.session.create_loader))
        yield


DATABASE_KINDS = ("sqlite", "postgresql")
# Fixtures that hand a test a database; pytest_generate_tests decides on which kinds each test runs.
DATABASE_FIXTURES = ("database_url", "empty_database_url", "shared_db", "db_url")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_databases: the test is about database behaviour and runs on SQLite and on PostgreSQL"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """On which databases a test runs.

    Tests of database behaviour (claims, locks, leases, migrations, the audit chain, crashes between steps,
    secrets in stored rows: marked `both_databases`) run on SQLite and on PostgreSQL. Every other test that
    needs a database runs on one of them, the same one every run (chosen by a hash of its name), so the flows
    meet both databases across the suite without running twice. `KEYWARDEN_TEST_DATABASES=both` runs every
    test on both (a long run, as before a release); without TEST_DATABASE_URL everything runs on SQLite.
    """
    name = next((f for f in DATABASE_FIXTURES if f in metafunc.fixturenames), None)
    if name is None or any(name in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize")):
        return  # no database, or the test names its own
    metafunc.parametrize(name, databases_for(metafunc, name), indirect=True)


# Started first, so that no worker is still on one of them when the rest are done: the type check (one long
# process), then the tests that start real processes, then the rest in their usual order.
_FIRST = ("tests/unit/test_types.py", "tests/reliability/", "tests/integration/test_startup_checks.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next((i for i, prefix in enumerate(_FIRST) if path.startswith(prefix)), len(_FIRST))

    items.sort(key=rank)  # stable: within a rank, the order pytest collected


def databases_for(metafunc: pytest.Metafunc, fixture: str) -> list[str]:
    both = (
        os.environ.get("KEYWARDEN_TEST_DATABASES") == "both"
        or fixture == "empty_database_url"  # the migrations themselves
        or metafunc.definition.get_closest_marker("both_databases") is not None
    )
    if both:
        return list(DATABASE_KINDS)
    if not PG_URL:
        return ["sqlite"]
    return [DATABASE_KINDS[zlib.crc32(metafunc.definition.nodeid.encode()) % 2]]


@pytest.fixture(scope="session")
def databases() -> Databases:
    return process_databases()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, databases: Databases) -> Iterator[str]:
    """A fresh database at the newest migration: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield databases.sqlite_url()
        return
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    with databases.pg_schema() as url:
        yield url


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, databases: Databases) -> Iterator[str]:
    """A fresh database with no tables at all, for tests of the migrations themselves."""
    if request.param == "sqlite":
        yield databases.sqlite_url(migrated=False)
        return
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    with databases.pg_schema(migrated=False) as url:
        yield url


@pytest.fixture
def sqlite_url(databases: Databases) -> str:
    return databases.sqlite_url()


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
    assert not fake.block_kit_refusals, f"Slack would refuse this Block Kit: {fake.block_kit_refusals}"


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
        # The database is a copy of a migrated template: running the migrations again would find nothing to do
        # (start-up migrations are the entry-point tests' subject).
        services = bootstrap(settings, clock=clock, sleep=sleeps, migrate=False)
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
