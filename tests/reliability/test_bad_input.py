"""Forged requests and random input: never a 5xx, never a traceback, never AWS or a state change for bad input."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.domain.commands import USAGE, parse
from bot.domain.keys import InputError
from bot.store.models import AuditEvent, KeyRequest, Snooze
from tests.support.harness import BotServer

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


def state(bot: BotServer) -> tuple[int, int, int, int]:
    """What a bad request must not change: rows, and AWS calls made (once earlier work has finished)."""
    settle(bot)
    with bot.services.db.session() as s:
        rows = tuple(s.scalar(select(func.count()).select_from(t)) or 0 for t in (AuditEvent, KeyRequest, Snooze))
    return (*rows, sum(bot.services.aws.call_counts().values()))


def settle(bot: BotServer) -> None:
    """Let work after the ack finish, so its effects (if any) are counted."""
    bot.work.idle()


@pytest.fixture
def fuzz_bot(bot: BotServer) -> BotServer:
    return bot


# Forged requests


@pytest.mark.parametrize(
    "forge",
    ["wrong signature", "stale timestamp", "altered body", "no signature", "no timestamp", "future timestamp"],
)
def test_forged_requests_are_refused(fuzz_bot: BotServer, forge: str) -> None:
    bot = fuzz_bot
    body = urlencode(
        {
            "command": "/awskeys",
            "text": "deactivate AKIAIOSFODNN7EXAMPLE --now",
            "user_id": "UBOSS",
            "response_url": bot.slack.response_url(),
        }
    )
    headers = bot.signed_headers(body)
    if forge == "wrong signature":
        headers["X-Slack-Signature"] = "v0=" + "1" * 64
    elif forge == "stale timestamp":
        # Six minutes, clear of the five-minute window: a timestamp right on
        # its edge drifts back inside it while the request is in flight.
        headers = bot.signed_headers(body, timestamp=int(time.time()) - 360)
    elif forge == "future timestamp":
        headers = bot.signed_headers(body, timestamp=int(time.time()) + 360)
    elif forge == "altered body":
        body = body.replace("deactivate", "reactivate")
    elif forge == "no signature":
        del headers["X-Slack-Signature"]
    elif forge == "no timestamp":
        del headers["X-Slack-Request-Timestamp"]
    before = state(bot)
    assert bot.post(body, headers).status == 401
    assert state(bot) == before
    assert bot.slack.calls == []


# Slash command text

_words = st.sampled_from(
    [
        *USAGE,
        "--now",
        "--for",
        "8h",
        "91d",
        "--role",
        "app-role",
        "R-ABCDEF",
        "AKIAIOSFODNN7EXAMPLE",
        "prod:ci",
        "ci",
        "",
        " ",
    ]
)
_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(_words, st.text(max_size=30)), max_size=6).map(" ".join),
    st.text(alphabet=st.characters(categories=["Zs", "Cc", "So", "Lo"]), max_size=50),
    st.just("x" * 5000),
)


@FUZZ
@given(text=_text)
def test_random_command_text(fuzz_bot: BotServer, text: str) -> None:
    bot = fuzz_bot
    try:
        parse(text, ["default"])
    except InputError:
        valid = False
    else:
        valid = True
    before = state(bot)
    reply = bot.command(text, user_id="UMALLORY")
    assert reply.status < 500
    assert "Traceback" not in reply.body and "Exception" not in reply.body
    if not valid:
        body = reply.json()
        assert body["response_type"] == "ephemeral" and body["text"]
        assert state(bot) == before
    for call in bot.slack.calls_to("response_url"):
        assert "Traceback" not in call.raw


# Interactivity payloads

_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=40))
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_action_ids = st.sampled_from(
    [
        "request_approve",
        "request_deny",
        "secret_reveal",
        "rotation_rollback",
        "alert_rotate",
        "alert_deactivate",
        "alert_snooze",
        "unknown",
    ]
)


@st.composite
def payloads(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["block_actions", "view_submission", "shortcut", "nonsense"]))
    payload: dict = {"type": kind}
    if draw(st.booleans()):
        payload["user"] = draw(st.one_of(st.fixed_dictionaries({"id": st.text(max_size=12)}), _json))
    if kind == "block_actions":
        action = {"action_id": draw(_action_ids), "value": draw(st.one_of(st.text(max_size=40), _scalar))}
        payload["actions"] = draw(st.one_of(st.just([action]), _json))
        payload["trigger_id"] = draw(st.text(max_size=10))
    if kind == "view_submission":
        payload["view"] = draw(
            st.one_of(
                _json,
                st.fixed_dictionaries(
                    {
                        "callback_id": st.sampled_from(["request_modal", "deny_modal", "other"]),
                        "private_metadata": st.one_of(st.text(max_size=40), st.just('{"request_id": "R-ABCDEF"}')),
                        "state": st.fixed_dictionaries({"values": _json}),
                    }
                ),
            )
        )
    return payload


@FUZZ
@given(payload=payloads(), raw=st.booleans())
def test_random_interactivity_payloads(fuzz_bot: BotServer, payload: dict, raw: bool) -> None:
    bot = fuzz_bot
    if payload.get("type") == "block_actions":
        payload["response_url"] = bot.slack.response_url("fuzz")  # only ever to the fake Slack
    before = state(bot)
    body = urlencode({"payload": json.dumps(payload) if not raw else json.dumps(payload)[:-1]})
    reply = bot.post(body, bot.signed_headers(body))
    assert reply.status < 500
    assert "Traceback" not in reply.body
    assert state(bot) == before  # no request exists, so nothing can change
    for call in bot.slack.calls_to("response_url"):
        assert "Traceback" not in call.raw
