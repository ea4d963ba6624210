"""Every payload gets a deliberate answer: signed but hostile requests to every listener, and malformed headers.

The property (a Hypothesis run over every command, action id, view callback and event type, plus raw bodies):
a 2xx or 4xx within Slack's 3 seconds, no ERROR record and no traceback in the log, no change to IAM (no
request is approved here, so no key may change), and no `<!channel>`, `<!here>` or `<!everyone>` written from
the input to Slack. The suite runs a bounded number of examples; `KEYWARDEN_FUZZ_EXAMPLES` runs more
(docs/reliability.md has the figures of a long run).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack import ids
from tests.support.harness import BotServer, Reply, send

EXAMPLES = int(os.environ.get("KEYWARDEN_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=EXAMPLES <= 500,
)
BROADCASTS = ("<!channel>", "<!here>", "<!everyone>")
# IAM changes only an approved request (or an approver's break-glass, not reachable without a real user) makes.
MUTATIONS = ("CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey", "TagUser", "PutUserPolicy")

ACTION_IDS = sorted(v for k, v in vars(ids).items() if k.isupper() and not k.startswith(("BLOCK_", "INPUT")))
CALLBACKS = [ids.REQUEST_MODAL, ids.DENY_MODAL, ids.SECRET_MODAL, "unknown_view"]
EVENT_TYPES = ["message", "app_home_opened", "member_joined_channel", "reaction_added", "unknown"]

# Values Slack never sends in a field, and those an attacker would try.
_hostile_text = st.sampled_from(
    ["<!everyone>", "<!here>", "<!channel>", "<@U0ADMIN>", "<https://evil.example|click>", "", " ", "x" * 300]
)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_json = st.recursive(
    _scalar | _hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
_user_id = st.one_of(st.sampled_from(["UALICE", "UBOSS", "UMALLORY", "W0ENTERPRISE"]), _hostile_text, _json)
_channel_id = st.one_of(st.sampled_from(["CWORK", "CALERT", "D0DM", "G0PRIVATE"]), _hostile_text, _json)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": value}
    return value


def _maybe(draw: st.DrawFn, good: Any, bad: st.SearchStrategy = _json) -> Any:
    """Mostly the right value, sometimes a wrong one, sometimes missing (the sentinel `...`)."""
    choice = draw(st.integers(0, 9))
    if choice < 6:
        return good
    return ... if choice == 9 else draw(bad)


def _put(payload: dict, key: str, value: Any) -> None:
    if value is not ...:
        payload[key] = value


@st.composite
def commands(draw: st.DrawFn, bot: BotServer) -> tuple[str, str]:
    fields = {
        "command": bot.slash_command,
        "team_id": "T1",
        "channel_id": draw(st.sampled_from(["CWORK", "<!everyone>", ""])),
        "text": draw(st.one_of(st.sampled_from(["help", "list", "requests", "list <!here>"]), st.text(max_size=40))),
        "trigger_id": draw(st.sampled_from(["T-trigger", ""])),
    }
    user = draw(st.one_of(st.sampled_from(["UALICE", "UMALLORY"]), st.text(max_size=12)))
    if draw(st.integers(0, 4)):
        fields["user_id"] = user
    if draw(st.integers(0, 4)):
        fields["response_url"] = draw(st.sampled_from([bot.slack.response_url("fuzz"), "", "not a url"]))
    return urlencode(fields), "application/x-www-form-urlencoded"


@st.composite
def interactions(draw: st.DrawFn, bot: BotServer) -> tuple[str, str]:
    kind = draw(st.sampled_from(["block_actions", "view_submission", "view_closed", "shortcut", "nonsense"]))
    payload: dict[str, Any] = {"type": kind, "team": {"id": "T1"}, "api_app_id": "A1"}
    _put(payload, "user", _maybe(draw, {"id": draw(_user_id)}))
    _put(payload, "response_url", _maybe(draw, bot.slack.response_url("fuzz"), st.one_of(st.none(), st.integers())))
    _put(payload, "trigger_id", _maybe(draw, "T-click"))
    if kind == "block_actions":
        action = {
            "type": "button",
            "action_id": draw(st.sampled_from([*ACTION_IDS, "unknown"])),
            "block_id": "b",
            "value": _maybe(draw, draw(st.sampled_from(["R-ABCDEF", "default|AKIAIOSFODNN7EXAMPLE", "x"]))),
        }
        if action["value"] is ...:
            del action["value"]
        _put(payload, "actions", _maybe(draw, [action], st.one_of(st.just([None]), st.just([]), _json)))
        container = draw(
            st.sampled_from([{"type": "message", "channel_id": "CAPPROVE", "message_ts": "1.2"}, {"type": "view"}])
        )
        _put(payload, "container", _maybe(draw, container))
        if draw(st.booleans()):
            _put(payload, "view", _maybe(draw, {"id": "V1", "type": "home", "private_metadata": ""}))
    elif kind.startswith("view_"):
        values = {ids.BLOCK_REASON: {ids.INPUT: {"type": "plain_text_input", "value": draw(_hostile_text)}}}
        view = {
            "id": "V1",
            "type": "modal",
            "callback_id": draw(st.sampled_from(CALLBACKS)),
            "private_metadata": _maybe(draw, '{"request_id": "R-ABCDEF"}'),
            "state": _maybe(draw, {"values": values}, st.one_of(_json, st.just({"values": [values]}))),
        }
        view = {k: v for k, v in view.items() if v is not ...}
        _put(payload, "view", _maybe(draw, view, st.one_of(st.just([view]), _json)))
    if draw(st.integers(0, 19)) == 0:
        payload["deep"] = _nested(draw(st.sampled_from([100, 990])))
    body = json.dumps(payload)
    if draw(st.integers(0, 19)) == 0:
        body = body[: draw(st.integers(0, len(body) - 1))]  # cut short: not JSON
    return urlencode({"payload": body}), "application/x-www-form-urlencoded"


@st.composite
def events(draw: st.DrawFn, bot: BotServer) -> tuple[str, str]:
    event: dict[str, Any] = {"type": _maybe(draw, draw(st.sampled_from(EVENT_TYPES)))}
    _put(event, "user", _maybe(draw, draw(_user_id)))
    _put(event, "channel", _maybe(draw, draw(_channel_id)))
    _put(event, "text", _maybe(draw, "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
    _put(event, "ts", _maybe(draw, "1700000100.000100"))
    if draw(st.booleans()):
        _put(event, "subtype", _maybe(draw, "message_changed", st.one_of(st.just({"a": 1}), _json)))
        _put(event, "message", _maybe(draw, {"user": draw(_user_id), "text": "hi", "ts": "1.2"}))
    if draw(st.booleans()):
        event["tab"] = _maybe(draw, "home")
    envelope: dict[str, Any] = {
        "type": _maybe(draw, "event_callback"),
        "team_id": "T1",
        "api_app_id": "A1",
        "event_id": f"Ev{draw(st.integers(0, 10**9)):010d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
    }
    _put(envelope, "event", _maybe(draw, {k: v for k, v in event.items() if v is not ...}))
    if draw(st.integers(0, 19)) == 0:
        envelope["event"] = {"type": "message", "deep": _nested(draw(st.sampled_from([100, 990])))}
    envelope = {k: v for k, v in envelope.items() if v is not ...}
    return json.dumps(envelope).replace("/", "\\/"), "application/json"


@st.composite
def raw_bodies(draw: st.DrawFn, bot: BotServer) -> tuple[str, str]:
    body = draw(
        st.one_of(
            st.text(max_size=200),
            st.just("payload="),
            st.just("payload=null"),
            st.just("payload=%5B%5D"),
            st.just("[]"),
            st.just("null"),
            st.just('{"type": "url_verification", "challenge": {"a": 1}}'),
            st.just('{"type": ["event_callback"]}'),
            st.builds(lambda t: urlencode({"payload": t}), st.text(max_size=60)),
        )
    )
    content_type = draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]))
    return body, content_type


def surfaces(bot: BotServer) -> st.SearchStrategy[tuple[str, str]]:
    return st.one_of(commands(bot), interactions(bot), events(bot), raw_bodies(bot))


class _Errors(logging.Handler):
    """Every record at ERROR or above, and every record that carries a traceback, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info or "Traceback" in record.getMessage():
            self.records.append(record)


@pytest.fixture
def errors() -> Any:
    handler = _Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def _post(bot: BotServer, body: str, headers: dict[str, str]) -> Reply:
    request = urllib.request.Request(bot.url + "/slack/events", data=body.encode(), headers=headers, method="POST")
    return send(request, timeout=3)  # Slack's window: an answer later than this is a failure


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_payload_gets_a_deliberate_answer(bot: BotServer, errors: _Errors) -> None:
    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        body, content_type = data.draw(surfaces(bot))
        errors.records.clear()
        bot.slack.calls.clear()
        before = bot.services.aws.call_counts()
        reply = _post(bot, body, bot.signed_headers(body, content_type=content_type))
        assert 200 <= reply.status < 500, (reply.status, body)
        assert "Traceback" not in reply.body
        bot.work.idle()
        changed = bot.services.aws.call_counts() - before
        assert not [op for op in changed if op.split(":")[-1] in MUTATIONS], changed
        assert not errors.records, [(r.name, r.getMessage()) for r in errors.records]
        written = "\n".join(call.raw for call in bot.slack.calls)
        assert not [b for b in BROADCASTS if b in written], [c.raw for c in bot.slack.calls]

    run()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "1700000000.5", "1700000000, 1700000001", " 17", "-1"])
def test_a_malformed_timestamp_is_refused_as_unsigned(bot: BotServer, errors: _Errors, timestamp: str) -> None:
    body = urlencode({"command": "/awskeys", "text": "help", "user_id": "UALICE", "response_url": "x"})
    headers = bot.signed_headers(body)
    headers["X-Slack-Request-Timestamp"] = timestamp
    warnings = _Warnings()
    logging.getLogger().addHandler(warnings)
    try:
        replies = [_post(bot, body, headers) for _ in range(3)]
    finally:
        logging.getLogger().removeHandler(warnings)
    assert [r.status for r in replies] == [401, 401, 401]
    assert not errors.records
    assert len(warnings.records) <= 1  # at most one line, not one per request
    assert bot.slack.calls == []


class _Warnings(logging.Handler):
    """Keywarden's own warnings (waitress adds "Task queue depth" ones of its own on a busy machine)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("bot."):
            self.records.append(record)


def _command(**fields: Any) -> dict[str, Any]:
    base = {"command": "/awskeys", "text": "list", "user_id": "UALICE", "response_url": "https://hooks.slack.com/x"}
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


def _click(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "UALICE"},
        "actions": [{"action_id": ids.APPROVE, "value": "R-ABCDEF"}],
        "response_url": "https://hooks.slack.com/x",
    }
    return {**base, **fields}


def _event(**event: Any) -> dict[str, Any]:
    base = {"type": "message", "channel": "CWORK", "user": "UALICE", "text": "hi", "ts": "1.2"}
    return {"type": "event_callback", "team_id": "T1", "event": {**base, **event}}


# Each shape Slack never sends, the field the warning names, and the answer: 400 for a request, 200 for an event.
SHAPES = {
    "command without response_url": (_command(response_url=None), "response_url", 400),
    "command with a number as response_url": ({**_command(), "response_url": 7}, "response_url", 400),
    "command without user_id": (_command(user_id=None), "user_id", 400),
    "command from a user id that is mrkdwn": (_command(user_id="<!everyone>"), "user_id", 400),
    "click with user null": (_click(user=None), "user", 400),
    "click with a numeric user id": (_click(user={"id": 5}), "user.id", 400),
    "click with actions [null]": (_click(actions=[None]), "actions[0]", 400),
    "click with a list as view": (_click(view=[]), "view", 400),
    "view with state not a dict": (
        {"type": "view_submission", "user": {"id": "UALICE"}, "view": {"callback_id": "deny_modal", "state": []}},
        "view.state",
        400,
    ),
    "view with numeric private_metadata": (
        {"type": "view_submission", "user": {"id": "UALICE"}, "view": {"callback_id": "x", "private_metadata": 1}},
        "view.private_metadata",
        400,
    ),
    "event with a dict subtype": (_event(subtype={"a": 1}), "event.subtype", 200),
    "event with a numeric type": (_event(type=1), "event.type", 200),
    "event that is a string": ({"type": "event_callback", "event": "message"}, "event", 200),
    "event from channel <!everyone>": (_event(channel="<!everyone>"), "event.channel", 200),
    "event nested 200 deep": (_event(blocks="DEEP200"), "body (nested too deeply)", 200),
    "event nested 1,000 deep": (_event(blocks="DEEP1000"), None, 200),  # deeper than the JSON parser goes
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_shapes_slack_never_sends_get_a_named_refusal(bot: BotServer, errors: _Errors, shape: str) -> None:
    payload, field, status = SHAPES[shape]
    if payload.get("type") in ("event_callback", None) and "command" not in payload:
        body, content_type = json.dumps(payload), "application/json"
        for depth in (200, 1000):  # deeper than json.dumps can write
            body = body.replace(f'"DEEP{depth}"', '{"a": ' * depth + "0" + "}" * depth)
    elif "command" in payload:
        body, content_type = urlencode(payload), "application/x-www-form-urlencoded"
    else:
        body, content_type = urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    warnings = _Warnings()
    logging.getLogger("bot.slack.payloads").addHandler(warnings)
    try:
        reply = _post(bot, body, bot.signed_headers(body, content_type=content_type))
        bot.work.idle()
    finally:
        logging.getLogger("bot.slack.payloads").removeHandler(warnings)
    assert reply.status == status
    assert not errors.records
    assert bot.slack.calls == []
    assert [r.getMessage() for r in warnings.records][-1:] in ([], [_warning(field, status)])


def _warning(field: str | None, status: int) -> str:
    kind = "event" if status == 200 else "request"
    return f"ignored a Slack {kind} " + (f"with a malformed `{field}`" if field else "whose body cannot be parsed")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unsigned_malformed_payload_is_still_401(bot: BotServer) -> None:
    body = urlencode({"payload": json.dumps(_click(actions=[None]))})
    headers = bot.signed_headers(body)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert _post(bot, body, headers).status == 401


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_pasted_key_in_a_forged_channel_id_makes_no_broadcast(bot: BotServer, iam) -> None:
    iam.create_user(UserName="ci")
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    text = f"{key['AccessKeyId']} {key['SecretAccessKey']}"
    for channel, user in (("<!everyone>", "UALICE"), ("CWORK", "<!here>"), ("<#C1|x> <!channel>", "UALICE")):
        assert bot.message(text, channel=channel, user=user).status == 200
    bot.work.idle()
    written = "\n".join(call.raw for call in bot.slack.calls)
    assert not [b for b in BROADCASTS if b in written]
    assert bot.slack.calls == []  # nothing was believed: no alert, no thread reply, no DM
