"""What Slack sees of Keywarden at its edge: events answered, text escaped, modals opened in time."""

from __future__ import annotations

import json
import threading
import time

import pytest

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.fake_slack import Call
from tests.support.flows import BOSS, CARL, REQUESTER, dms, filed_id, key_made, request, wait_status
from tests.support.harness import BotServer
from tests.support.slack_text import texts_in


def event_callback(event: dict, event_id: str = "Ev01") -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    )


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_home_opened", "user": "UALICE", "channel": "DALICE", "tab": "home", "event_ts": "1.2"},
        {"type": "reaction_added", "user": "UALICE", "reaction": "eyes", "item": {}, "event_ts": "1.3"},
    ],
    ids=["app_home_opened", "an event type nobody subscribed to"],
)
def test_every_event_gets_200(bot: BotServer, event: dict) -> None:
    body = event_callback(event)
    reply = bot.post(body, bot.signed_headers(body, content_type="application/json"))
    assert reply.status == 200
    retry = bot.signed_headers(body, content_type="application/json") | {
        "X-Slack-Retry-Num": "1",
        "X-Slack-Retry-Reason": "http_error",
    }
    assert bot.post(body, retry).status == 200
    bot.work.idle()
    methods = {c.method for c in bot.slack.calls} - {"auth.test"}  # Bolt learns its own bot id once
    if event["type"] == "app_home_opened":  # handled: the Home is published, nothing else is posted
        assert "views.publish" in methods and methods <= {"views.publish", "users.info", "usergroups.users.list"}
    else:
        assert methods == set()


# 12. What people type is shown as text: never a mention, a broadcast or a link.

INJECTION = "<!channel> *Pre-approved by* <@UBOSS> <https://evil.example|Approve here> & co"
INERT = "&lt;!channel&gt; *Pre-approved by* &lt;@UBOSS&gt; &lt;https://evil.example|Approve here&gt; &amp; co"


def shown(call: Call) -> str:
    """Every piece of text a Slack call asks Slack to render: `text` and the text fields of its blocks or view."""
    params = dict(call.params)
    if call.method == "response_url":
        params = json.loads(call.raw)
    texts = [params["text"]] if isinstance(params.get("text"), str) else []
    for key in ("blocks", "view"):
        value = params.get(key)
        texts += texts_in(json.loads(value) if isinstance(value, str) else value)
    return "\n".join(texts)


def everything_shown(bot: BotServer) -> str:
    return "\n".join(shown(c) for c in bot.slack.calls if c.method in SHOWN)


SHOWN = {"chat.postMessage", "chat.update", "response_url", "views.open", "views.update"}


def _no_live_markup(text: str) -> None:
    for live in ("<!channel>", "<!here>", "<!everyone>", "<https://evil.example", "<tel:"):
        assert live not in text


def test_typed_text_is_escaped_everywhere_it_is_shown(bot: BotServer, iam) -> None:
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = key_made(iam, "ci", 30, bot.services.clock())
    other = key_made(iam, "ci", 10, bot.services.clock())

    # A reason typed after the slash command, in the approval channel
    bot.command(f"deactivate {key} {INJECTION}")
    rid = filed_id(bot)
    approval = shown(bot.slack.posts_to("CAPPROVE")[0])
    assert INERT in approval and f"<@{REQUESTER}>" in approval  # our own mention still works
    # A deny reason from the form, in the approval message and the requester's DM
    metadata = json.dumps({"request_id": rid})
    deny_reason = "<!here> call <tel:123|me> & <@UBOSS>"
    bot.submit_view(ids.DENY_MODAL, {ids.BLOCK_REASON: {ids.INPUT: {"value": deny_reason}}}, BOSS, metadata)
    wait_status(bot, rid, Status.DENIED)
    bot.slack.wait_for(lambda calls: request(bot, rid).notified_status == "denied")
    escaped_deny = "&lt;!here&gt; call &lt;tel:123|me&gt; &amp; &lt;@UBOSS&gt;"
    assert escaped_deny in shown(bot.slack.calls_to("chat.update")[-1])
    assert escaped_deny in "\n".join(shown(c) for c in bot.slack.calls if c.params.get("channel") == REQUESTER)

    # A reason typed into the request form
    values = {
        ids.BLOCK_OPERATION: {ids.INPUT: {"selected_option": {"value": "deactivate"}}},
        ids.BLOCK_TARGET: {ids.INPUT: {"value": other}},
        ids.BLOCK_REASON: {ids.INPUT: {"value": "<!everyone> urgent"}},
    }
    bot.submit_view(ids.REQUEST_MODAL, values, REQUESTER)
    filed_id(bot, 2)
    assert "&lt;!everyone&gt; urgent" in shown(bot.slack.posts_to("CAPPROVE")[1])

    # A break-glass reason, announced to the approvers
    bot.command(f"deactivate {key} --now {INJECTION}", user_id=BOSS)
    notice = bot.slack.wait_for(lambda _: [c for c in bot.slack.posts_to("CAPPROVE") if "Break-glass" in c.raw])
    assert INERT in shown(notice[0])

    # Names typed by people, quoted back in replies: in the ack, and after it
    assert "`&lt;!channel&gt;` is not a valid IAM user name" in bot.command("list <!channel>").json()["text"]
    bot.command("check <!here>AKIA")
    assert bot.slack.wait_for(lambda _: [c for c in bot.slack.calls_to("response_url") if "lt;!here" in shown(c)])

    # The audit log, which holds every reason
    bot.command("audit ci", user_id=BOSS)
    audit = bot.slack.wait_for(lambda _: [c for c in bot.slack.calls_to("response_url") if "Recent audit" in shown(c)])
    assert INERT in shown(audit[0])

    bot.work.idle()
    _no_live_markup(everything_shown(bot))


# 14. One DM per request, updated in place; a new one only to ask for Reveal or after a long wait.


def _dm_posts(bot: BotServer) -> list[Call]:
    return bot.slack.posts_to(REQUESTER)


def _dm_updates(bot: BotServer, ts: str) -> list[Call]:
    return [
        c for c in bot.slack.calls_to("chat.update") if c.params.get("channel") == REQUESTER and c.params["ts"] == ts
    ]


def test_one_dm_per_request_updated_in_place(bot: BotServer, iam, clock) -> None:
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = key_made(iam, "ci", 30, bot.services.clock())

    # approved, then succeeded a moment later: one DM, brought up to date
    bot.command(f"deactivate {key}")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.SUCCEEDED)
    bot.slack.wait_for(lambda _: request(bot, rid).notified_status == "succeeded")
    [dm] = _dm_posts(bot)
    assert "approved" in dm.params["text"]
    done = _dm_updates(bot, request(bot, rid).dm_ts)
    assert len(done) == 1 and "Done" in done[0].raw

    # a new key: the DM asking for Reveal is new (the requester must act); the outcome updates it
    bot.command("create ci")
    create = filed_id(bot, 2)
    bot.click(ids.APPROVE, create, BOSS)
    bot.slack.wait_for(lambda _: len(_dm_posts(bot)) == 2 and ids.REVEAL in _dm_posts(bot)[1].raw)
    bot.click(ids.REVEAL, create, REQUESTER)
    wait_status(bot, create, Status.SUCCEEDED)
    bot.slack.wait_for(lambda _: request(bot, create).notified_status == "succeeded")
    assert len(_dm_posts(bot)) == 2
    assert "Done" in _dm_updates(bot, request(bot, create).dm_ts)[-1].raw

    # an outcome long after the DM (a Reveal never used, expired a day later): a DM of its own
    iam.delete_access_key(UserName="ci", AccessKeyId=request(bot, create).new_key_id)
    bot.command("create ci")
    late = filed_id(bot, 3)
    bot.click(ids.APPROVE, late, BOSS)
    bot.slack.wait_for(lambda _: len(_dm_posts(bot)) == 3)
    clock.advance(hours=25)
    assert bot.services.decisions.expire_due() == 1
    assert len(_dm_posts(bot)) == 4 and "Expired" in _dm_posts(bot)[3].raw


# 11. Modals open within Slack's 3 s even when every worker waits on AWS.


class HangingAws:
    """Every IAM call waits (in the bot's work threads) until released, as behind a slow scan."""

    def __init__(self, bot: BotServer) -> None:
        self.released = threading.Event()
        self.waiting: set[str] = set()
        self._cond = threading.Condition()
        client = bot.services.aws.account("default").client("iam")
        client.meta.events.register_first("before-call.iam", self._hang, unique_id="hang-all-iam")

    def _hang(self, **_: object) -> None:
        with self._cond:
            self.waiting.add(threading.current_thread().name)
            self._cond.notify_all()
        self.released.wait(60)

    def wait_for_workers(self, count: int, prefix: str = "keywarden-work", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len([n for n in self.waiting if n.startswith(prefix)]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"only {sorted(self.waiting)} wait on AWS"
                self._cond.wait(left)


def test_modals_open_while_every_worker_waits_on_aws(bot: BotServer, iam) -> None:
    bot.slack.add_user(REQUESTER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = key_made(iam, "ci", 30, bot.services.clock())
    bot.command("create ci")
    create = filed_id(bot)
    bot.click(ids.APPROVE, create, BOSS)
    bot.slack.wait_for(lambda _: [d for d in dms(bot, REQUESTER) if ids.REVEAL in d])
    bot.command(f"deactivate {key}", user_id=CARL)
    pending = filed_id(bot, 2)

    aws = HangingAws(bot)
    try:
        for _ in range(bot.work.workers):  # every worker busy with AWS calls that do not return
            bot.command("list ci", user_id=BOSS)
        aws.wait_for_workers(bot.work.workers)
        bot.click(ids.REVEAL, create, REQUESTER, channel="DALICE", trigger_id="T-reveal")
        bot.click(ids.DENY, pending, BOSS, trigger_id="T-deny")
        bot.command("", trigger_id="T-form")
        opened = bot.slack.wait_for(
            lambda calls: (
                (t := {c.params["trigger_id"]: c for c in calls if c.method == "views.open"}).keys()
                >= {"T-reveal", "T-deny", "T-form"}
                and t
            ),
            timeout=10,
        )
        assert not aws.released.is_set() and len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 1
        assert "Creating the key" in opened["T-reveal"].raw
        assert ids.DENY_MODAL in opened["T-deny"].raw and ids.REQUEST_MODAL in opened["T-form"].raw
    finally:
        aws.released.set()
    done = wait_status(bot, create, Status.SUCCEEDED)
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "views.update" and done.new_key_id in c.raw])
    assert len(bot.slack.calls_to("views.open")) == 3  # the window opened at the click shows the key
