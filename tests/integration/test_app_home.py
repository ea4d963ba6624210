"""The App Home over HTTP: app_home_opened -> views.publish, and its buttons clicked from the Home view."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.fake_slack import Fault
from tests.support.flows import BOSS, REQUESTER, dms, filed_id, key_made, request, request_store, wait_status


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


def wait_home(bot, user: str, n: int = 1) -> dict:
    return bot.slack.wait_for(lambda _: (h := homes(bot, user))[n - 1 :] and h[n - 1])


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
        {
            "type": "block_actions",
            "team": {"id": "T1", "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": "T-home",
            "container": {"type": "view", "view_id": "VHOME"},
            "view": {"id": "VHOME", "type": "home", "blocks": []},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "x",
                    "value": value,
                    "action_ts": str(time.time()),
                }
            ],
        }
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
    view = wait_home(bot, REQUESTER)
    assert time.monotonic() - started < 3
    assert view["type"] == "home" and "default:ci" in json.dumps(view) and key in json.dumps(view)
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
