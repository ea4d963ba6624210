"""The secret access key, after every flow that makes a key, in a real process logging at DEBUG:
only in the modal (or in Secrets Manager), never in another Slack call, a table, a log line or a file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from sqlalchemy import create_engine, select

from bot import ids
from bot.db import Base
from bot.domain.requests import Status
from tests.reliability.conftest import Requests, bot_env, file_request
from tests.support.harness import RemoteBot


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keywarden.db'}"
    return request.getfixturevalue("pg_url")


def _everywhere_but_the_modal(slack, db_url: str, tmp_path: Path) -> dict[str, str]:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        tables = "\n".join(repr(conn.execute(select(t)).all()) for t in Base.metadata.sorted_tables)
    engine.dispose()
    files = "\n".join(p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file())
    slack_calls = "\n".join(c.raw for c in slack.calls if c.method != "views.update")
    return {"tables": tables, "files (database, logs)": files, "slack": slack_calls}


@pytest.mark.parametrize("flow", ["create ci", "rotate ci"])
def test_revealed_secret_is_nowhere_else(slack, db_url, proxy, remote_iam, start_web, tmp_path, flow) -> None:
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    if flow.startswith("rotate"):
        remote_iam.create_access_key(UserName="ci")  # the key the rotation replaces
    web = RemoteBot(start_web(bot_env(slack, db_url, proxy.url, LOG_LEVEL="DEBUG")).url, slack)
    db = Requests(db_url)
    rid = file_request(web, flow)
    web.click(ids.APPROVE, rid, "UBOSS")
    db.wait(rid, lambda r: r.status is Status.APPROVED)
    web.click(ids.REVEAL, rid, "UALICE")
    db.wait(rid, lambda r: r.status is Status.SUCCEEDED and r.notified_status == "succeeded")
    modal = json.loads(slack.wait_calls("views.update")[0].raw)["view"]["blocks"][1]["text"]["text"]
    secret = re.search(r"`([A-Za-z0-9/+]{40})`", modal).group(1)
    db.db.dispose()
    places = _everywhere_but_the_modal(slack, db_url, tmp_path)
    assert "DEBUG" in places["files (database, logs)"]  # the log was written, at every level
    for where, text in places.items():
        assert secret not in text, f"the secret leaked into {where}"


def test_secrets_manager_secret_is_nowhere_else(
    slack, db_url, proxy, remote_iam, moto_url, start_web, tmp_path
) -> None:
    remote_iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "UALICE"}])
    env = bot_env(slack, db_url, proxy.url, LOG_LEVEL="DEBUG", SECRET_DELIVERY="secretsmanager")
    web = RemoteBot(start_web(env).url, slack)
    db = Requests(db_url)
    rid = file_request(web, "create deployer")
    web.click(ids.APPROVE, rid, "UBOSS")
    db.wait(rid, lambda r: r.status is Status.SUCCEEDED and r.notified_status == "succeeded")
    db.db.dispose()
    stored = boto3.client(
        "secretsmanager",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    ).get_secret_value(SecretId="keywarden/default/deployer")["SecretString"]
    secret = json.loads(stored)["aws_secret_access_key"]
    for where, text in _everywhere_but_the_modal(slack, db_url, tmp_path).items():
        assert secret not in text, f"the secret leaked into {where}"
