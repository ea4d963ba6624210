"""The App Home over HTTP: app_home_opened -> views.publish, and its buttons clicked from the Home view."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from slack_sdk.models.views import View

from bot.domain.requests import Status
from bot.slack import ids
from bot.slack.messages.home import LIVE
from tests.support.fake_slack import Fault
from tests.support.flows import (
    BOSS,
    REQUESTER,
    dms,
    filed_id,
    key_made,
    make_key,
    request,
    request_store,
    rotate,
    rotation,
    wait_status,
)
from tests.support.harness import interaction
from tests.support.slack_text import fallback_text


def open_home(bot, user: str) -> float:
    started = time.monotonic()
    reply = bot.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"})
    assert reply.status == 200
    return started


def homes(bot, user: str) -> list[dict]:
    return [
        json.loads(c.params["view"]) if isinstance(c.params["view"], str) else c.params["view"]
        for c in bot.slack.calls_to("views.publish")
        if c.params.get("user_id") == user
    ]


def live_homes(bot, user: str) -> list[dict]:
    """The Homes published right after reading the person's keys from AWS (each opening first publishes what
    Keywarden knows, at once)."""
    return [h for h in homes(bot, user) if h.get("private_metadata") == LIVE]


def wait_home(bot, user: str, n: int = 1) -> dict:
    """The n-th Home as AWS says it, once it arrived."""
    return bot.slack.wait_for(lambda _: (h := live_homes(bot, user))[n - 1 :] and h[n - 1])


def buttons(view: dict) -> list[tuple[str, str, str]]:
    return [
        (e["text"]["text"], e["action_id"], e["value"])
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def click_in_home(bot, action_id: str, value: str, user: str):
    """A click as Slack sends it from the App Home: the container is a view, and there is no response_url."""
    return bot.interact(
        interaction(
            "block_actions",
            user,
            trigger_id="T-home",
            container={"type": "view", "view_id": "VHOME"},
            view={"id": "VHOME", "type": "home", "blocks": []},
            actions=[
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "x",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        )
    )


def setup(bot, iam) -> str:
    bot.slack.add_user(REQUESTER, email="alice@example.com", name="alice")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = key_made(iam, "ci", 100, bot.services.clock())
    bot.services.inventory.user_keys("default", "ci")  # the key memory, as a list or a scan leaves it
    return key


def test_home_for_a_requester_with_working_buttons(bot, iam) -> None:
    key = setup(bot, iam)
    bot.command("create ci for the new pipeline")
    rid = filed_id(bot)
    started = open_home(bot, REQUESTER)
    bot.slack.wait_for(lambda _: homes(bot, REQUESTER))  # what Keywarden knows, at once
    assert time.monotonic() - started < 3
    view = wait_home(bot, REQUESTER)
    assert view["type"] == "home" and "*ci*" in json.dumps(view) and key in json.dumps(view)
    found = buttons(view)
    assert ("Rotate", ids.ALERT_ROTATE, f"default|{key}") in found
    assert ("Deactivate", ids.ALERT_DEACTIVATE, f"default|{key}") in found
    assert ("Cancel", ids.CANCEL, rid) in found and not [b for b in found if b[1] == ids.APPROVE]

    click_in_home(bot, ids.CANCEL, rid, REQUESTER)
    wait_status(bot, rid, Status.CANCELLED)
    assert bot.slack.wait_for(lambda _: [d for d in dms(bot, REQUESTER) if "is cancelled" in d])
    # Its request changed: the Home is published again, without the Cancel button (an earlier refresh, from the
    # request's own filing, may still show it).
    assert bot.slack.wait_for(
        lambda _: [h for h in homes(bot, REQUESTER)[1:] if ("Cancel", ids.CANCEL, rid) not in buttons(h)]
    )

    click_in_home(bot, ids.ALERT_DEACTIVATE, f"default|{key}", REQUESTER)
    rid2 = filed_id(bot, 2)
    assert request(bot, rid2).operation.value == "deactivate"
    assert bot.slack.wait_for(lambda _: [d for d in dms(bot, REQUESTER) if rid2 in d])


def test_home_for_an_approver_approves_from_the_home_view(bot, iam) -> None:
    key = setup(bot, iam)
    bot.command(f"deactivate {key} leaving")
    rid = filed_id(bot)
    open_home(bot, "UBOSS")
    view = wait_home(bot, "UBOSS")
    text = json.dumps(view)
    assert "Waiting for approval" in text and "Last scan" in text and rid in text
    approve = next(
        e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == ids.APPROVE
    )
    assert approve["value"] == rid and "confirm" in approve
    assert ("Deny", ids.DENY, rid) in buttons(view)

    click_in_home(bot, ids.APPROVE, rid, "UMALLORY")  # the same checks as in the channel
    assert bot.slack.wait_for(lambda _: [d for d in dms(bot, "UMALLORY") if "Only approvers" in d])
    click_in_home(bot, ids.APPROVE, rid, "UBOSS")
    wait_status(bot, rid, Status.SUCCEEDED)
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    # The approver's Home is published again without the decided request (an earlier refresh may still hold it).
    assert bot.slack.wait_for(
        lambda _: [h for h in homes(bot, "UBOSS")[1:] if not [b for b in buttons(h) if b[2] == rid]]
    )


def test_home_for_a_user_slack_does_not_resolve(bot, iam) -> None:
    open_home(bot, "UGHOST")
    view = wait_home(bot, "UGHOST")
    text = json.dumps(view)
    assert "You own no IAM users" in text and "Slack did not say who you are" in text
    assert "Waiting for approval" not in text


QUEUE_POLICY = """
rules:
  - name: payments
    target_tags: {team: payments}
    approvers: [SPAYLEADS]
  - name: default
    approvers: [UBOSS, UCARL]
"""


def test_an_approvers_queue_holds_only_the_requests_they_may_decide(make_bot, aws, iam, tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(QUEUE_POLICY)
    bot = make_bot(POLICY_FILE=str(path))
    bot.slack.groups["SPAYLEADS"] = ["UPAY"]
    iam.create_user(
        UserName="pay", Tags=[{"Key": "owner", "Value": "alice@example.com"}, {"Key": "team", "Value": "payments"}]
    )
    key = setup(bot, iam)  # the ownership index is read here, with both users
    pay_key = key_made(iam, "pay", 100, bot.services.clock())
    bot.command(f"deactivate {key} leaving")
    default_rid = filed_id(bot)
    bot.command(f"deactivate {pay_key} leaving")
    pay_rid = filed_id(bot, 2)

    open_home(bot, "UBOSS")
    boss = {b[2] for b in buttons(wait_home(bot, "UBOSS")) if b[1] == ids.APPROVE}
    open_home(bot, "UPAY")
    lead = {b[2] for b in buttons(wait_home(bot, "UPAY")) if b[1] == ids.APPROVE}
    assert boss == {default_rid} and lead == {pay_rid}
    # Slack does not say who is in the group: the queue is shown unfiltered (a click is checked anyway).
    bot.slack.fail("usergroups.users.list", *[Fault(200, {"ok": False, "error": "fatal_error"})] * 10)
    open_home(bot, "UBOSS")
    assert {b[2] for b in buttons(wait_home(bot, "UBOSS", 2)) if b[1] == ids.APPROVE} == {default_rid, pay_rid}


def test_with_secrets_manager_delivery_no_reveal_appears_anywhere(make_bot, aws, iam) -> None:
    bot = make_bot(SECRET_DELIVERY="secretsmanager", SECRET_PREFIX="kw")
    setup(bot, iam)
    bot.command("rotate ci yearly")
    rid = filed_id(bot)
    store = request_store(bot)
    assert store.approve(rid, BOSS)[0] == "approved"  # then the process died before delivering
    bot.services.recovery.resync(timedelta(0))  # the approval message and the DM catch up
    assert bot.slack.wait_for(lambda _: [d for d in dms(bot, REQUESTER) if rid in d])
    open_home(bot, REQUESTER)
    approved = json.dumps(wait_home(bot, REQUESTER))
    assert store.transition(rid, Status.APPROVED, Status.EXECUTING, actor="keywarden", action="executing")
    open_home(bot, REQUESTER)
    executing = json.dumps(wait_home(bot, REQUESTER, 2))

    for home in (approved, executing):
        assert rid in home and "stores it in AWS Secrets Manager as `kw/default/ci` when the delivery finishes" in home
    about_it = [c.raw for c in bot.slack.calls if rid in c.raw]
    assert len(about_it) >= 5  # the approval message, its update, the DM, two Homes
    assert [raw for raw in about_it if "reveal" in raw.lower()] == []
    assert "stored in AWS Secrets Manager as `kw/default/ci`" in bot.slack.posts_to("CAPPROVE")[0].raw


def test_the_home_makes_what_people_typed_inert(bot, iam) -> None:
    setup(bot, iam)
    bot.command("create ci <https://evil.example|click> <@UCARL> <!here> & co")
    rid = filed_id(bot)
    open_home(bot, "UBOSS")
    view = wait_home(bot, "UBOSS")
    (reason,) = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and rid in b["text"]["text"]]
    assert "&lt;https://evil.example|click&gt; &lt;@UCARL&gt; &lt;!here&gt; &amp; co" in reason
    assert "<https://" not in reason and "<@UCARL>" not in reason and "<!here>" not in reason


def section_texts(view: dict) -> str:
    return "\n".join(
        b["text"]["text"] if b["type"] == "section" else b["elements"][0].get("text", "")
        for b in view["blocks"]
        if b["type"] in ("section", "context")
    )


def test_before_any_scan_the_home_is_published_at_once_then_with_what_aws_says(bot, iam) -> None:
    now = bot.services.clock()
    bot.slack.add_user(REQUESTER, email="alice@example.com", name="alice")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key = make_key(iam, "ci", 100, now, used_days_ago=2)  # Keywarden has seen neither the user nor the key

    open_home(bot, REQUESTER)
    first = bot.slack.wait_for(lambda _: homes(bot, REQUESTER))[0]
    assert first.get("private_metadata") != LIVE and key not in json.dumps(first)
    assert "Looking for IAM users whose owner tag names you" in section_texts(first)
    assert "Asking AWS for each key's status and last use" in section_texts(first)
    assert ("Request", ids.HOME_REQUEST, "form") in [
        (b["accessory"]["text"]["text"], b["accessory"]["action_id"], b["accessory"]["value"])
        for b in first["blocks"]
        if b.get("accessory")
    ]

    for view in (first, wait_home(bot, REQUESTER)):  # Block Kit that slack_sdk's models read back unchanged
        parsed = View(**view)
        parsed.validate_json()
        assert parsed.to_dict() == view
    live = section_texts(wait_home(bot, REQUESTER))
    line = next(t for t in live.splitlines() if key in t)
    assert line.startswith(f"*ci* `{key}` · 100 days old · active · last used ")  # one account: no `default:`
    used = fallback_text(line)
    assert f"last used {now - timedelta(days=2):%Y-%m-%d}" in used
    assert "Older than the limit" in live and "key-too-old" not in live and "key_too_old" not in live
    assert "Status and last use as AWS said at <!date^" in live
    assert ("Rotate", ids.ALERT_ROTATE, f"default|{key}") in buttons(wait_home(bot, REQUESTER))

    second = make_key(iam, "ci", 1, now)  # two active keys: Rotate cannot work on either, so it is not offered
    open_home(bot, REQUESTER)
    view = wait_home(bot, REQUESTER, 2)
    assert "Two active keys" in section_texts(view)
    offered = buttons(view)
    assert not [b for b in offered if b[1] == ids.ALERT_ROTATE]
    assert {("Deactivate", ids.ALERT_DEACTIVATE, f"default|{k}") for k in (key, second)} <= set(offered)


def test_a_rotation_under_way_shows_as_such_in_the_home(bot, iam, old) -> None:
    old_id, _ = old
    rid = rotate(bot)
    r = rotation(bot, rid)
    open_home(bot, REQUESTER)
    text = section_texts(wait_home(bot, REQUESTER))
    assert "Two active keys" not in text and "Older than the limit" not in text  # the rotation deals with both
    assert (
        f"being replaced by `{r.new_key_id}` (rotation {rid}): checked on <!date^{int(r.grace_ends_at.timestamp())}^"
        in text
    )
    assert f"the new key of rotation {rid}, replacing `{old_id}`" in text
    assert "grace period, grace until" in text and "grace_" not in text  # the stage in words, not its state name


def block_suggestion(bot, user: str, typed: str, operation: str | None = None):
    """Slack asking for the request form's menu as the person types."""
    state = {ids.BLOCK_OPERATION: {ids.INPUT: {"type": "static_select", "selected_option": {"value": operation}}}}
    return bot.interact(
        interaction(
            "block_suggestion",
            user,
            action_id=ids.TARGET_CHOICE,
            block_id=ids.BLOCK_TARGET,
            value=typed,
            container={"type": "view", "view_id": "VFORM"},
            view={
                "id": "VFORM",
                "type": "modal",
                "callback_id": ids.REQUEST_MODAL,
                "state": {"values": state if operation else {}},
            },
        )
    )


def menu(reply) -> dict[str, list[tuple[str, str]]]:
    assert reply.status == 200
    return {
        g["label"]["text"]: [(o["text"]["text"], o["value"]) for o in g["options"]]
        for g in reply.json().get("option_groups", [])
    }


def test_the_request_button_opens_the_form_with_the_persons_own_users_and_keys(bot, iam) -> None:
    key = setup(bot, iam)
    open_home(bot, REQUESTER)
    wait_home(bot, REQUESTER)
    click_in_home(bot, ids.HOME_REQUEST, "form", REQUESTER)
    opened = bot.slack.wait_calls("views.open")[0]
    form = json.loads(opened.params["view"]) if isinstance(opened.params["view"], str) else opened.params["view"]
    assert opened.params["trigger_id"] == "T-home" and form["callback_id"] == ids.REQUEST_MODAL
    (target,) = [b["element"] for b in form["blocks"] if b["block_id"] == ids.BLOCK_TARGET]
    assert (target["type"], target["action_id"], target["min_query_length"]) == (
        "external_select",
        ids.TARGET_CHOICE,
        0,
    )

    started = time.monotonic()
    everything = menu(block_suggestion(bot, REQUESTER, ""))
    assert time.monotonic() - started < 3  # answered in the ack, from the database
    assert everything == {"Your IAM users": [("ci", "ci")], "Their access keys": [(f"{key} (ci)", key)]}
    assert menu(block_suggestion(bot, REQUESTER, "", "create")) == {"Your IAM users": [("ci", "ci")]}
    assert menu(block_suggestion(bot, REQUESTER, key[-6:].lower(), "deactivate")) == {
        "Their access keys": [(f"{key} (ci)", key)]
    }
    assert menu(block_suggestion(bot, REQUESTER, "billing-bot", "create")) == {
        "As typed": [("billing-bot", "billing-bot")]
    }
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert secret not in block_suggestion(bot, REQUESTER, secret).body  # a typed secret is never echoed back
    assert menu(block_suggestion(bot, "UGHOST", "")) == {}  # nobody's users: nothing but what is typed
    bot.slack.add_user("UGUEST", email="guest@example.com", guest="multi")
    iam.tag_user(UserName="ci", Tags=[{"Key": "owner", "Value": "guest@example.com"}])
    bot.services.index.refresh("default")
    assert block_suggestion(bot, "UGUEST", "").json() == {"options": []}  # guests get help only
    iam.tag_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    bot.services.index.refresh("default")

    chosen = {
        ids.BLOCK_OPERATION: {ids.INPUT: {"type": "static_select", "selected_option": {"value": "deactivate"}}},
        ids.BLOCK_TARGET: {ids.TARGET_CHOICE: {"type": "external_select", "selected_option": {"value": key}}},
        ids.BLOCK_REASON: {ids.INPUT: {"type": "plain_text_input", "value": "leaving the team"}},
    }
    assert bot.submit_view(ids.REQUEST_MODAL, chosen, REQUESTER).status == 200
    rid = filed_id(bot)
    filed = request(bot, rid)
    assert (filed.operation.value, filed.key_id, filed.reason) == ("deactivate", key, "leaving the team")
