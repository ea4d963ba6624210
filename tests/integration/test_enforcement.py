"""Opt-in enforcement with an injected clock: warnings (a precondition: late ones move the deadline), the
deactivation as a policy-approved request, the cap, dry runs, Reactivate, and the keys never touched (snoozed,
Keywarden's own user, also behind a member role or while its identity is unknown, a key being rotated, a key a
policy deny rule protects)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

import boto3
import pytest

from bot.bootstrap import bootstrap
from bot.domain.requests import Status
from bot.domain.rotation import RotationState
from bot.settings import Settings
from bot.slack import ids
from tests.conftest import base_env
from tests.support.aws_faults import aws_error
from tests.support.fake_slack import Fault
from tests.support.flows import (
    BOSS,
    filed_id,
    key_made,
    made_with_secret,
    request,
    request_store,
    wait_ephemeral,
    wait_rotation,
    wait_status,
)
from tests.support.harness import BotServer

ALICE = "UALICE"


def dms(bot: BotServer) -> list[str]:
    return [c.raw for c in bot.slack.posts_to(ALICE)]


def alerts(bot: BotServer) -> list[str]:
    return [c.raw for c in bot.slack.posts_to("CALERTS")]


def status(iam, user: str) -> str:
    return iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"]


def scan_at(bot: BotServer, clock, day: float, start):
    from datetime import timedelta

    clock.now = start + timedelta(days=day)
    report, _ = bot.services.scan(post=True)
    return report


@pytest.fixture
def idle_key(iam, clock) -> str:
    """A key of Alice's, 100 days old and never used: an `unused` finding from the first scan on."""
    iam.create_user(UserName="idle-svc", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    return key_made(iam, "idle-svc", 100, clock())


def test_warned_twice_then_deactivated_as_a_policy_approved_request_with_reactivate(
    make_bot, aws, iam, clock, idle_key: str
) -> None:
    bot = make_bot(ENFORCE="unused=60")
    bot.slack.add_user(ALICE, email="alice@example.com")
    start = clock()
    scan_at(bot, clock, 0, start)  # finding opened; Alice told (1)
    scan_at(bot, clock, 8, start)  # reminded (2)
    assert len(dms(bot)) == 2 and status(iam, "idle-svc") == "Active"

    scan_at(bot, clock, 57.5, start)  # 2.5 days left: the 3-day warning
    warning = [d for d in dms(bot) if "will be deactivated" in d]
    assert len(warning) == 1 and idle_key in warning[0]
    assert ids.ALERT_ROTATE in warning[0] and ids.ALERT_SNOOZE in warning[0]
    scan_at(bot, clock, 58, start)  # no second 3-day warning
    assert len([d for d in dms(bot) if "will be deactivated" in d]) == 1
    scan_at(bot, clock, 59.5, start)  # the 1-day warning
    assert len([d for d in dms(bot) if "will be deactivated" in d]) == 2
    assert status(iam, "idle-svc") == "Active"

    report = scan_at(bot, clock, 60.5, start)
    assert status(iam, "idle-svc") == "Inactive"
    assert any("enforcement deactivated 1 key:" in n and idle_key in n for n in report.notes)
    [announced] = [a for a in alerts(bot) if "Keywarden deactivated" in a]
    assert ids.ENFORCE_REACTIVATE in announced and '"Reactivate"' in announced
    assert any("Keywarden deactivated" in d and ids.ENFORCE_REACTIVATE in d for d in dms(bot))
    trail = [(e.actor, e.action) for e in bot.services.audit.all() if e.key_id == idle_key and e.request_id]
    assert trail == [
        ("keywarden", "requested"),
        ("policy:enforce", "approved"),
        ("keywarden", "executing"),
        ("keywarden", "executed"),
    ]
    assert any("enforcement deactivated" in d for d in alerts(bot))

    # Reactivate: a normal reactivate request, filed for Alice, going to approval.
    bot.click(ids.ENFORCE_REACTIVATE, f"default|{idle_key}", ALICE)
    post = bot.slack.wait_for(lambda _: [p for p in bot.slack.posts_to("CAPPROVE") if "reactivate" in p.raw.lower()])
    assert idle_key in post[-1].raw
    filed = request_store(bot).open_for(ALICE)
    assert [(r.operation.value, r.status) for r in filed] == [("reactivate", Status.PENDING)]


def test_dry_run_announces_and_changes_nothing(make_bot, aws, iam, clock, idle_key: str) -> None:
    bot = make_bot(ENFORCE="unused=60", ENFORCE_DRY_RUN="true")
    bot.slack.add_user(ALICE, email="alice@example.com")
    start = clock()
    for day in (0, 8, 57.5, 59.5):  # the 3-day and the 1-day warnings
        scan_at(bot, clock, day, start)
    assert len([d for d in dms(bot) if "would be deactivated (dry run" in d]) == 2
    report = scan_at(bot, clock, 61, start)
    assert status(iam, "idle-svc") == "Active"
    assert any("would deactivate 1 key:" in n for n in report.notes)
    assert any("Dry run: Keywarden would deactivate" in a and idle_key in a for a in alerts(bot))
    assert not [e for e in bot.services.audit.all() if e.action == "executed"]


def test_cap_per_scan_the_rest_wait_and_unowned_keys_are_warned_in_the_alert_channel(make_bot, aws, iam, clock) -> None:
    bot = make_bot(ENFORCE="age=30", ENFORCE_MAX_PER_SCAN="1")
    start = clock()
    keys = []
    for name in ("old-a", "old-b"):
        iam.create_user(UserName=name)  # no owner tag
        keys.append(key_made(iam, name, 200, start))
    scan_at(bot, clock, 0, start)
    scan_at(bot, clock, 31, start)  # past the first deadline, never warned: the 3-day warning, deadline day 34
    warnings = [a for a in alerts(bot) if "will be deactivated" in a]
    assert len(warnings) == 2 and all("no owner tag: this channel is told instead" in w for w in warnings)
    scan_at(bot, clock, 33, start)  # the 1-day warning
    assert len([a for a in alerts(bot) if "will be deactivated" in a]) == 4
    assert [status(iam, n) for n in ("old-a", "old-b")] == ["Active", "Active"]
    report = scan_at(bot, clock, 34, start)
    assert sorted(status(iam, n) for n in ("old-a", "old-b")) == ["Active", "Inactive"], report.notes
    assert any("1 more key is due for enforcement and waits" in n for n in report.notes)
    assert "ENFORCE_MAX_PER_SCAN=1" in json.dumps(alerts(bot))
    scan_at(bot, clock, 35, start)
    assert [status(iam, n) for n in ("old-a", "old-b")] == ["Inactive", "Inactive"]


def test_snoozed_keys_and_keywardens_own_user_are_never_enforced(make_bot, aws, iam, clock, idle_key: str) -> None:
    bot = make_bot(ENFORCE="unused=60")
    bot.slack.add_user(ALICE, email="alice@example.com")
    iam.create_user(UserName="moto")  # moto's own credentials are this user's: Keywarden's identity here
    key_made(iam, "moto", 100, clock())
    start = clock()
    scan_at(bot, clock, 0, start)
    bot.services.alerts.snooze("default", idle_key, ALICE, days=365)
    scan_at(bot, clock, 8, start)
    scan_at(bot, clock, 70, start)
    assert status(iam, "idle-svc") == "Active" and status(iam, "moto") == "Active"


def warnings(bot: BotServer, to: str = ALICE) -> list[str]:
    return [c.raw for c in bot.slack.posts_to(to) if "deactivated by Keywarden on" in c.raw]


def notes_about(report, key_id: str) -> list[str]:
    return [n for n in report.notes if key_id in n]


@pytest.fixture
def identity_bot(slack, database_url, clock, sleeps, aws) -> Iterator[Callable[..., BotServer]]:
    """A bot whose own sts:GetCallerIdentity fails while `down[0]` is true (AWS answers AccessDenied)."""
    servers: list[BotServer] = []

    def make(down: list[bool], **env: str) -> BotServer:
        def answer(**kwargs: object) -> object:
            return aws_error("AccessDenied", 403)(**kwargs) if down[0] else None

        def session() -> boto3.Session:
            s = boto3.Session(region_name="us-east-1")
            s.events.register("before-call.sts.GetCallerIdentity", answer)
            return s

        settings = Settings.from_env(base_env(slack, database_url, **env))
        services = bootstrap(settings, clock=clock, sleep=sleeps, migrate=False, session_factory=session)
        servers.append(BotServer(services, slack))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()
        server.services.close()


# Warnings are a precondition


def test_enforce_switched_on_for_a_finding_seen_long_ago_warns_first_and_moves_the_deadline(
    make_bot, aws, iam, clock, idle_key: str
) -> None:
    bot = make_bot()  # ENFORCE off: the finding is seen and Alice told, twice
    bot.slack.add_user(ALICE, email="alice@example.com")
    start = clock()
    scan_at(bot, clock, 0, start)
    scan_at(bot, clock, 8, start)
    bot = make_bot(ENFORCE="unused=60")  # switched on at day 100, 40 days past the finding's natural deadline
    scan_at(bot, clock, 100, start)
    assert status(iam, "idle-svc") == "Active"
    [first] = warnings(bot)
    assert f"{start + timedelta(days=103):%Y-%m-%d %H:%M} UTC" in first  # the full three days of notice
    assert "it has been *Unused* for close to 60 days" in first and "`unused`" not in first  # a title, not a code
    scan_at(bot, clock, 101, start)
    assert len(warnings(bot)) == 1 and status(iam, "idle-svc") == "Active"
    scan_at(bot, clock, 102, start)  # the 1-day warning
    assert len(warnings(bot)) == 2 and status(iam, "idle-svc") == "Active"
    scan_at(bot, clock, 102.9, start)
    assert status(iam, "idle-svc") == "Active"
    report = scan_at(bot, clock, 103, start)
    assert status(iam, "idle-svc") == "Inactive" and any("enforcement deactivated 1" in n for n in report.notes)


def test_a_clock_jump_past_the_deadline_warns_instead_of_deactivating(make_bot, aws, iam, clock, idle_key) -> None:
    bot = make_bot(ENFORCE="unused=60")
    bot.slack.add_user(ALICE, email="alice@example.com")
    start = clock()
    scan_at(bot, clock, 0, start)
    scan_at(bot, clock, 20, start)
    scan_at(bot, clock, 400, start)  # the next scan sees a year gone by
    assert status(iam, "idle-svc") == "Active"
    [first] = warnings(bot)
    assert f"{start + timedelta(days=403):%Y-%m-%d %H:%M} UTC" in first


def test_a_warning_slack_did_not_take_holds_the_key_until_one_is_delivered(
    make_bot, aws, iam, clock, idle_key: str
) -> None:
    bot = make_bot(ENFORCE="unused=60")
    bot.slack.add_user(ALICE, email="alice@example.com")
    start = clock()
    scan_at(bot, clock, 0, start)
    scan_at(bot, clock, 8, start)
    bot.slack.fail("chat.postMessage", Fault(200, {"ok": False, "error": "fatal_error"}))  # the 3-day warning is lost
    report = scan_at(bot, clock, 57.5, start)
    assert warnings(bot) == [] and any("could not warn about" in n for n in notes_about(report, idle_key))
    scan_at(bot, clock, 61, start)  # past the natural deadline: the 3-day warning now, deadline day 64
    assert status(iam, "idle-svc") == "Active" and len(warnings(bot)) == 1
    assert f"{start + timedelta(days=64):%Y-%m-%d %H:%M} UTC" in warnings(bot)[0]
    for day, told in ((62, 1), (63, 2), (63.5, 2)):
        scan_at(bot, clock, day, start)
        assert len(warnings(bot)) == told and status(iam, "idle-svc") == "Active"
    scan_at(bot, clock, 64, start)
    assert status(iam, "idle-svc") == "Inactive"


# Keys never touched


def test_nothing_is_enforced_while_keywardens_own_identity_cannot_be_read(
    identity_bot, iam, clock, idle_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    down = [False]
    bot = identity_bot(down, ENFORCE="unused=60")
    bot.slack.add_user(ALICE, email="alice@example.com")
    iam.create_user(UserName="moto")  # the IAM user Keywarden's own credentials belong to here; no owner tag
    own_key = key_made(iam, "moto", 100, clock())
    start = clock()
    scan_at(bot, clock, 0, start)
    down[0] = True  # sts:GetCallerIdentity fails from now on
    with caplog.at_level(logging.WARNING, logger="bot.services.enforcement"):
        for day in (57.5, 59.5, 61, 70):
            report = scan_at(bot, clock, day, start)
            assert {idle_key, own_key} <= {f.key_id for f in report.findings}  # the scan itself went on
            [said] = [n for n in report.notes if "enforcement did nothing this scan" in n]
            assert "could not read its own AWS identity" in said and "GetCallerIdentity" in said
    assert "enforcement did nothing this scan" in caplog.text
    assert status(iam, "idle-svc") == "Active" and status(iam, "moto") == "Active"
    assert warnings(bot) == [] and warnings(bot, "CALERTS") == []  # not even a warning

    down[0] = False
    report = scan_at(bot, clock, 71, start)
    assert status(iam, "idle-svc") == "Active" and status(iam, "moto") == "Active"
    assert len(warnings(bot)) == 1 and warnings(bot, "CALERTS") == []  # the 3-day warning; none for its own key
    assert f"enforcement left {own_key} alone: Keywarden's own IAM user" in report.notes


def test_nothing_is_filed_while_keywardens_own_identity_cannot_be_read(identity_bot, iam) -> None:
    down = [True]
    bot = identity_bot(down)
    iam.create_user(UserName="ci")
    bot.command("create ci")
    assert wait_ephemeral(bot, ALICE, "could not read its own AWS identity")
    assert bot.services.filing.open_requests(ALICE) == []
    refused = [e for e in bot.services.audit.all() if e.action == "refused"]
    assert len(refused) == 1 and refused[0].iam_user == "ci"
    down[0] = False
    bot.command("create ci")
    filed_id(bot)


def test_keywardens_own_user_served_through_a_member_role_is_never_changed(
    make_bot, aws, iam, clock, monkeypatch
) -> None:
    """Keywarden runs as IAM user `keywarden` of account 123456789012, which it also serves through a member role
    (alias `hub`): there, too, nobody gets or changes that user's keys, and enforcement leaves them alone."""
    iam.create_user(UserName="keywarden")
    own, secret = made_with_secret(iam, "keywarden", 200, clock())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", own)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    bot = make_bot(ACCOUNTS="hub=arn:aws:iam::123456789012:role/KeywardenMember", ENFORCE="age=30")
    bot.slack.add_user(ALICE, email="alice@example.com")
    for text in ("rotate hub:keywarden", f"deactivate {own}", "create hub:keywarden"):
        bot.command(text)
        assert wait_ephemeral(bot, ALICE, "is the IAM user Keywarden itself runs as in account `hub`")
        bot.slack.calls.clear()
    assert bot.services.filing.open_requests(ALICE) == []
    start = clock()
    for day in (0, 31, 33, 34):
        report = scan_at(bot, clock, day, start)
    assert status(iam, "keywarden") == "Active" and warnings(bot, "CALERTS") == []
    assert f"enforcement left {own} alone: Keywarden's own IAM user" in report.notes


def test_a_key_being_rotated_from_the_warning_is_left_to_its_rotation(make_bot, aws, iam, clock, idle_key: str) -> None:
    bot = make_bot(ENFORCE="unused=60", REQUEST_TTL_HOURS="168")
    bot.slack.add_user(ALICE, email="alice@example.com")
    start = clock()
    for day in (0, 8, 57.5):
        scan_at(bot, clock, day, start)
    assert len(warnings(bot)) == 1
    bot.click(ids.ALERT_ROTATE, f"default|{idle_key}", ALICE)  # Rotate, on the warning
    rid = filed_id(bot)
    report = scan_at(bot, clock, 61, start)  # the request is pending
    assert status(iam, "idle-svc") == "Active"
    assert f"enforcement left {idle_key} alone: request {rid} (rotate) is open for it" in report.notes

    bot.click(ids.APPROVE, rid, BOSS)
    wait_status(bot, rid, Status.APPROVED)
    bot.slack.wait_for(lambda _: [d for d in dms(bot) if ids.REVEAL in d and rid in d])
    bot.click(ids.REVEAL, rid, ALICE, channel="DALICE", trigger_id=f"T-reveal-{rid}")
    wait_status(bot, rid, Status.SUCCEEDED)
    wait_rotation(bot, rid, RotationState.GRACE)
    report = scan_at(bot, clock, 62, start)  # mid-grace
    assert f"enforcement left {idle_key} alone: rotation {rid} of `idle-svc` is in progress" in report.notes
    assert status(iam, "idle-svc") == "Active"
    assert bot.services.rotations.get(rid).state is RotationState.GRACE


POLICY = """
rules:
  - name: break-glass-users
    target_tags: {breakglass: "true"}
    deny: "break-glass users are unused by design"
  - name: default
    approvers: [UBOSS]
"""


def test_a_policy_deny_rule_protects_a_key_from_enforcement(make_bot, aws, iam, clock, tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    bot = make_bot(ENFORCE="age=30", POLICY_FILE=str(path))
    start = clock()
    iam.create_user(UserName="emergency", Tags=[{"Key": "breakglass", "Value": "true"}])
    iam.create_user(UserName="old-svc")
    glass, other = key_made(iam, "emergency", 200, start), key_made(iam, "old-svc", 200, start)
    for day in (0, 31, 33):
        scan_at(bot, clock, day, start)
    told = warnings(bot, "CALERTS")
    assert len(told) == 2 and all(other in w and glass not in w for w in told)
    report = scan_at(bot, clock, 34, start)
    assert status(iam, "emergency") == "Active" and status(iam, "old-svc") == "Inactive"
    assert f"enforcement left {glass} alone: policy rule `break-glass-users` denies deactivating it" in report.notes
    [rid] = {e.request_id for e in bot.services.audit.all() if e.key_id == other and e.request_id}
    enforced = request(bot, rid)
    assert enforced.policy_rule == "policy:enforce" and "rule `default`" not in enforced.details
