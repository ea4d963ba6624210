"""Fixtures for the reliability suite: moto's server behind a counting proxy, real bot processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from tests.support.aws_proxy import AwsProxy
from tests.support.databases import pg_schema
from tests.support.processes import Process


@pytest.fixture
def proxy(moto_url: str) -> Iterator[AwsProxy]:
    p = AwsProxy(moto_url)
    yield p
    p.stop()


@pytest.fixture
def slashed_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's new secret keys (moto's server runs in this process) hold `/`, `//` and `+`.

    About half of real secret keys hold a `/`, which Slack's JSON writes as `\\/`: with this every test run
    meets the escaped forms instead of every other one.
    """
    import moto.iam.models as moto_iam

    original = moto_iam.random_alphanumeric

    def secret(length: int) -> str:
        chars = list(original(length))
        if length == 40:
            chars[5] = chars[6] = chars[30] = "/"
            chars[18] = "+"
        return "".join(chars)

    monkeypatch.setattr(moto_iam, "random_alphanumeric", secret)


@pytest.fixture
def remote_iam(moto_url: str):
    return boto3.client(
        "iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


@pytest.fixture
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database the processes share: a SQLite file, and a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def start_web(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(env: dict[str, str], name: str = "web") -> Process:
        process = Process("web", env, tmp_path, tmp_path / f"{name}.log")
        started.append(process)
        return process.wait_healthy()

    yield start
    for process in started:
        process.stop()
