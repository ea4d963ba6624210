"""What the delivered-rotation tests share: a machine user in LOCATIONS_FILE whose key goes to SSM, Secrets Manager and
GitHub (moto in this process, the fake GitHub that opens the sealed boxes), what each consumer reads there, a
consumer using a key at a given time (moto stamps its last use), and the check that a secret is nowhere it must not be.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import time_machine
from sqlalchemy import create_engine, select

from bot.bootstrap import Services
from bot.domain.rotation import Rotation
from bot.store.models import Base
from tests.support.fake_github import FakeGitHub
from tests.support.fake_slack import FakeSlack
from tests.support.remote import encoded_forms

USER, OWNER, TOKEN, REPO = "ci-deployer", "UALICE", "github_pat_deliver", "acme/api"
SSM_NAME, SECRET_NAME = "/ci/deployer/aws", "ci/deployer"
PLACES = [f"SSM {SSM_NAME}", f"Secrets Manager {SECRET_NAME}", f"GitHub {REPO}"]


def locations_file(tmp_path: Path, every_days: int | None = 30, user: str = USER) -> Path:
    path = tmp_path / "locations.yaml"
    every = f"    rotate_every_days: {every_days}\n" if every_days else ""
    path.write_text(
        "locations:\n"
        f"  - user: {user}\n"
        f"{every}"
        "    deliver:\n"
        f"      - ssm: {SSM_NAME}\n"
        f"      - secretsmanager: {SECRET_NAME}\n"
        f"      - github: {REPO}\n"
    )
    return path


@contextmanager
def repository_on_github() -> Iterator[FakeGitHub]:
    """The fake GitHub holding REPO, writable with TOKEN, while the block runs."""
    fake = FakeGitHub().start()
    try:
        fake.add_repository(REPO, token=TOKEN)
        yield fake
    finally:
        fake.stop()


def env(tmp_path: Path, github: FakeGitHub, **extra: str) -> dict[str, str]:
    """The variables of a Keywarden that delivers USER's keys (to pass to `make_services` / `make_bot`)."""
    return {
        "LOCATIONS_FILE": str(locations_file(tmp_path)),
        "GITHUB_API_URL": github.url,
        "GITHUB_TOKEN": TOKEN,
        **extra,
    }


def machine_user(iam: Any, now: datetime, age_days: int = 40, used_hours_ago: float = 2) -> tuple[str, str]:
    """USER with an old key its consumers use (its id and secret), made `age_days` before `now`."""
    iam.create_user(UserName=USER, Tags=[{"Key": "owner", "Value": OWNER}])
    with time_machine.travel(now - timedelta(days=age_days), tick=False):
        made = iam.create_access_key(UserName=USER)["AccessKey"]
    use(made["AccessKeyId"], made["SecretAccessKey"], now - timedelta(hours=used_hours_ago))
    return made["AccessKeyId"], made["SecretAccessKey"]


def use(key_id: str, secret: str, at: datetime) -> None:
    """A consumer calls AWS with this key at `at` (moto records it as the key's last use)."""
    with time_machine.travel(at, tick=False):
        boto3.client(
            "sts", region_name="eu-west-1", aws_access_key_id=key_id, aws_secret_access_key=secret
        ).get_caller_identity()


@dataclass(frozen=True)
class Consumers:
    """What each consumer of USER's key reads where it was delivered."""

    github: FakeGitHub

    def ssm(self) -> tuple[str, str]:
        value = boto3.client("ssm", region_name="us-east-1").get_parameter(Name=SSM_NAME, WithDecryption=True)
        return _pair(json.loads(value["Parameter"]["Value"]))

    def secrets_manager(self) -> tuple[str, str]:
        value = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=SECRET_NAME)
        return _pair(json.loads(value["SecretString"]))

    def workflow(self) -> tuple[str, str]:
        found = self.github.workflow_secrets(REPO)
        return found.get("AWS_ACCESS_KEY_ID", ""), found.get("AWS_SECRET_ACCESS_KEY", "")

    def hold(self, key_id: str, secret: str) -> None:
        """What a person set up by hand before Keywarden delivered anything: the key in all three places."""
        value = json.dumps({"aws_access_key_id": key_id, "aws_secret_access_key": secret})
        boto3.client("ssm", region_name="us-east-1").put_parameter(Name=SSM_NAME, Value=value, Type="SecureString")
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=SECRET_NAME, SecretString=value)
        self.github.secrets[(REPO, None, "AWS_ACCESS_KEY_ID")] = key_id
        self.github.secrets[(REPO, None, "AWS_SECRET_ACCESS_KEY")] = secret

    def everyone(self) -> set[tuple[str, str]]:
        """The keys the three consumers read: one element when they all read the same key."""
        return {self.ssm(), self.secrets_manager(), self.workflow()}


def _pair(value: dict[str, str]) -> tuple[str, str]:
    return value["aws_access_key_id"], value["aws_secret_access_key"]


def user_keys(iam: Any, user: str = USER) -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def rotation_of(services: Services, user: str = USER) -> Rotation | None:
    return services.rotations.in_progress_for_user("default", user)


def tables(services: Services) -> str:
    """Every row of every table of the bot's database, as text."""
    engine = create_engine(services.db.url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        text = "\n".join(repr(conn.execute(select(t)).all()) for t in Base.metadata.sorted_tables)
    engine.dispose()
    return text


def assert_nowhere(secret: str, places: dict[str, str]) -> None:
    """The secret, in none of its encodings (JSON, URLs, base64), in any of the texts."""
    assert secret
    for where, text in places.items():
        for form, encoded in encoded_forms(secret).items():
            assert encoded not in text, f"the secret leaked into {where} ({form})"


def everywhere(
    services: Services, slack: FakeSlack | None, log: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The texts a secret must never reach: the database, Slack, the log."""
    places = {"database": tables(services), "log": log, **(extra or {})}
    if slack is not None:
        places["slack"] = "\n".join(c.raw for c in slack.calls)
    return places


def wait_for(condition: Callable[[], Any], what: str, attempts: int = 200) -> Any:
    """A condition met by work another thread does (the work after a Slack click), polled without a fixed sleep."""
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")
