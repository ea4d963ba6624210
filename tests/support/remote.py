"""What the reliability tests share: the environment of a bot process, reading its requests, filing one."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from urllib.parse import quote

from bot.domain.requests import Request
from bot.store.audit import AuditLog
from bot.store.db import Database
from bot.store.requests import RequestStore
from tests.support.fake_slack import FakeSlack
from tests.support.harness import SIGNING_SECRET, RemoteBot
from tests.support.processes import Process, clean_env


def encoded_forms(secret: str) -> dict[str, str]:
    """The forms a secret takes on its way through JSON, URLs and base64, each as it would be found in text."""
    forms = {
        "raw": secret,
        "JSON \\/": secret.replace("/", "\\/"),
        "repr of JSON \\\\/": secret.replace("/", "\\\\/"),
        "JSON \\u002f": secret.replace("/", "\\u002f"),
        "JSON \\u002F": secret.replace("/", "\\u002F"),
        "URL-encoded": quote(secret, safe=""),
        "URL-encoded twice": quote(quote(secret, safe=""), safe=""),
    }
    for offset in range(3):  # base64 of a text holding the secret: the groups made of the secret alone
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            forms[f"{name} at offset {offset}"] = encode(b"x" * offset + secret.encode()).decode()[4:-4]
    return forms


def bot_env(slack: FakeSlack, database_url: str, aws_url: str, **extra: str) -> dict[str, str]:
    return clean_env(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=database_url,
        APPROVAL_CHANNEL="CAPPROVE",
        ALERT_CHANNEL="CALERTS",
        APPROVER_IDS="UBOSS,UCARL",
        SCHEDULER="off",
        AWS_ENDPOINT_URL=aws_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        **extra,
    )


def start_bot(
    start_web: Callable[..., Process],
    slack: FakeSlack,
    database_url: str,
    aws_url: str,
    name: str = "web",
    **extra: str,
) -> tuple[dict[str, str], Process, RemoteBot, Requests]:
    """A web process on `database_url` (started by `start_web`), its environment, the bot as Slack reaches it, and
    its requests as the database holds them."""
    env = bot_env(slack, database_url, aws_url, **extra)
    process = start_web(env, name)
    return env, process, RemoteBot(process.url, slack), Requests(database_url)


class Requests:
    """Read requests straight from the database the processes share."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.store = RequestStore(self.db, lambda: None, AuditLog(self.db, lambda: None))  # type: ignore[arg-type]

    def get(self, request_id: str) -> Request | None:
        return self.store.get(request_id)

    def wait(self, request_id: str, predicate: Callable[[Request], bool], timeout: float = 30) -> Request:
        deadline = time.monotonic() + timeout
        while True:
            current = self.get(request_id)
            if current is not None and predicate(current):
                return current
            assert time.monotonic() < deadline, f"{request_id}: {current}"
            time.sleep(0.05)


def file_request(bot: RemoteBot, text_: str, user: str = "UALICE") -> str:
    """File a request; its id, from the approval message the bot posted."""
    before = len(bot.slack.posts_to("CAPPROVE"))
    assert bot.command(text_, user_id=user).status == 200
    post = bot.slack.wait_posts("CAPPROVE", before + 1)[before]
    return re.search(r"R-[A-Z0-9]{6}", post.raw).group(0)
