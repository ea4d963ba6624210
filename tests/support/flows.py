"""What the integration tests share: the people, waiting on requests and DMs, keys made in the past, rotations."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

import boto3
import pytest
import time_machine

from bot.domain.requests import Request, Status
from bot.domain.rotation import Rotation, RotationState
from bot.slack import ids
from bot.store.requests import RequestStore
from bot.store.rotations import RotationStore
from tests.support.harness import BotServer

REQUESTER, BOSS, CARL, MALLORY = "UALICE", "UBOSS", "UCARL", "UMALLORY"


def filed_id(bot: BotServer, n: int = 1) -> str:
    """The id of the n-th request the approval channel was asked to approve."""
    post = bot.slack.wait_posts("CAPPROVE", n)[n - 1]
    request_id = re.search(r"R-[A-Z0-9]{6}", post.raw).group(0)
    bot.slack.wait_for(lambda _: (r := request(bot, request_id)) and r.message_ts)  # the bot recorded where it is
    return request_id


def request_store(bot: BotServer) -> RequestStore:
    """The bot's requests, read and written through a store on its database, clock and audit log."""
    return RequestStore(bot.services.db, bot.services.clock, bot.services.audit)


def request(bot: BotServer, request_id: str) -> Request | None:
    return request_store(bot).get(request_id)


def wait_status(bot: BotServer, request_id: str, *statuses: Status):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        current = request(bot, request_id)
        if current and current.status in statuses:
            return current
        time.sleep(0.02)
    raise AssertionError(f"{request_id} stayed {current.status if current else None}")


def ephemerals(bot: BotServer, user: str) -> list[str]:
    return [c.raw for c in bot.slack.calls_to("response_url") if c.path.endswith(user)]


def wait_ephemeral(bot: BotServer, user: str, text: str, timeout: float = 15) -> str:
    """The first ephemeral answer to `user` that contains `text`, once it arrived."""
    return bot.slack.wait_for(lambda calls: next((e for e in ephemerals(bot, user) if text in e), None), timeout)


def dms(bot: BotServer, user: str) -> list[str]:
    """What the bot wrote in its DM with a user: new messages, and updates of them in place."""
    return [
        c.raw
        for c in bot.slack.calls
        if c.method in ("chat.postMessage", "chat.update") and c.params.get("channel") == user
    ]


# Keys and users
def key_made(iam, user: str, days_old: int, now: datetime) -> str:
    """Create a key as if `days_old` days before `now` (moto stamps it with the moved clock)."""
    with time_machine.travel(now - timedelta(days=days_old), tick=False):
        return iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]


def make_key(iam, user: str, days_old: int, now: datetime, used_days_ago: int | None = None) -> str:
    with time_machine.travel(now - timedelta(days=days_old), tick=False):
        key = iam.create_access_key(UserName=user)["AccessKey"]
    if used_days_ago is not None:
        with time_machine.travel(now - timedelta(days=used_days_ago), tick=False):
            boto3.client(
                "sts",
                region_name="us-east-1",
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            ).get_caller_identity()
    return key["AccessKeyId"]


def tagged(iam, name: str, **tags: str) -> None:
    iam.create_user(UserName=name, Tags=[{"Key": k.replace("_", ":"), "Value": v} for k, v in tags.items()])


@pytest.fixture
def ci_user(bot: BotServer, iam):
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    return key_made(iam, "ci", 30, bot.services.clock())


# Rotations
def made_with_secret(iam, user: str, days_old: int, now: datetime) -> tuple[str, str]:
    """A key created `days_old` days before `now`, with its secret (to sign calls with it)."""
    with time_machine.travel(now - timedelta(days=days_old), tick=False):
        key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def rotation_store(bot: BotServer) -> RotationStore:
    """The bot's rotations, read and written through a store on its database, clock and audit log."""
    return RotationStore(bot.services.db, bot.services.clock, bot.services.audit)


def rotation(bot: BotServer, rid: str) -> Rotation:
    found = bot.services.rotations.get(rid)
    assert found is not None, f"no rotation {rid}"
    return found


def wait_rotation(bot: BotServer, rid: str, state: RotationState) -> Rotation:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = bot.services.rotations.get(rid)
        if found and found.state is state:
            return found
        time.sleep(0.02)
    raise AssertionError(f"rotation {rid} is {found.state if found else None}, not {state}")


def owner_dms(bot: BotServer, text: str) -> list[str]:
    return [d for d in dms(bot, REQUESTER) if text in d]


def wait_owner_dm(bot: BotServer, text: str) -> str:
    """The owner's DM with this text, once it arrived (some are sent by the thread that handled a click)."""
    return bot.slack.wait_for(lambda calls: owner_dms(bot, text))[-1]


@pytest.fixture
def old(bot: BotServer, iam) -> tuple[str, str]:
    """IAM user `ci`, owned by the requester, with one active 100-day-old key (its id and secret)."""
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    return made_with_secret(iam, "ci", 100, bot.services.clock())


def rotate(bot: BotServer, target: str = "ci", reason: str = "quarterly rotation", n: int = 1) -> str:
    """File, approve and reveal a rotation; returns its id once its grace period has begun."""
    bot.command(f"rotate {target} {reason}")
    rid = filed_id(bot, n)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if ids.REVEAL in d and rid in d])
    bot.click(ids.REVEAL, rid, REQUESTER, channel="DALICE", trigger_id=f"T-reveal-{rid}")
    wait_status(bot, rid, Status.SUCCEEDED)
    wait_rotation(bot, rid, RotationState.GRACE)
    wait_owner_dm(bot, f"Rotation {rid} of")
    return rid


# Time-bound keys
def time_bound_key(bot: BotServer, text: str = "create ci --for 1h one-off migration") -> Request:
    """File, approve and reveal a key (`create ... --for ...`); returns its request once the key exists."""
    filed = len(bot.slack.posts_to("CAPPROVE"))
    bot.command(text)
    rid = filed_id(bot, filed + 1)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    bot.slack.wait_for(lambda calls: [d for d in dms(bot, REQUESTER) if ids.REVEAL in d and rid in d])
    bot.click(ids.REVEAL, rid, REQUESTER, channel="DALICE", trigger_id=f"T-reveal-{rid}")
    return wait_status(bot, rid, Status.SUCCEEDED)


# Block Kit
def buttons(call) -> list[tuple[str, str]]:
    blocks = call.params["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return [(e["action_id"], e["value"]) for b in blocks if b["type"] == "actions" for e in b["elements"]]
