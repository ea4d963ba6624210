"""Opt-in enforcement with an injected clock: warnings, the deactivation as a policy-approved request, the cap,
dry runs, Reactivate, and the keys never touched (snoozed, Keywarden's own user)."""

from __future__ import annotations

import json

import pytest

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.flows import key_made, request_store
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
    assert any("enforcement deactivated 1 key(s)" in n and idle_key in n for n in report.notes)
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
    for day in (0, 8, 57.5):
        scan_at(bot, clock, day, start)
    assert any("would be deactivated (dry run" in d for d in dms(bot))
    report = scan_at(bot, clock, 61, start)
    assert status(iam, "idle-svc") == "Active"
    assert any("would deactivate 1 key(s)" in n for n in report.notes)
    assert any("Dry run: Keywarden would deactivate" in a and idle_key in a for a in alerts(bot))
    assert not [e for e in bot.services.audit.all() if e.action == "executed"]


def test_cap_per_scan_the_rest_wait_and_unowned_keys_need_no_warning(make_bot, aws, iam, clock) -> None:
    bot = make_bot(ENFORCE="age=30", ENFORCE_MAX_PER_SCAN="1")
    start = clock()
    keys = []
    for name in ("old-a", "old-b"):
        iam.create_user(UserName=name)  # no owner tag
        keys.append(key_made(iam, name, 200, start))
    scan_at(bot, clock, 0, start)
    report = scan_at(bot, clock, 31, start)
    assert sorted(status(iam, n) for n in ("old-a", "old-b")) == ["Active", "Inactive"], report.notes
    assert any("1 more key(s) are due for enforcement and wait" in n for n in report.notes)
    assert "ENFORCE_MAX_PER_SCAN=1" in json.dumps(alerts(bot))
    scan_at(bot, clock, 32, start)
    assert [status(iam, n) for n in ("old-a", "old-b")] == ["Inactive", "Inactive"]


def test_snoozed_keys_and_keywardens_own_user_are_never_enforced(make_bot, aws, iam, clock, idle_key: str) -> None:
    bot = make_bot(ENFORCE="unused=60")
    bot.slack.add_user(ALICE, email="alice@example.com")
    iam.create_user(UserName="moto")  # moto's own credentials are this user's: Keywarden's identity here
    key_made(iam, "moto", 100, clock())
    start = clock()
    scan_at(bot, clock, 0, start)
    bot.services.alerts.snooze("default", idle_key, ALICE, is_approver=False, days=365)
    scan_at(bot, clock, 8, start)
    scan_at(bot, clock, 70, start)
    assert status(iam, "idle-svc") == "Active" and status(iam, "moto") == "Active"
