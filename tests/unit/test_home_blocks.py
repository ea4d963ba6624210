"""The App Home builder: within Slack's 100 blocks for an owner of 50 users with 100 keys; findings first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bot.slack import ids
from bot.slack.messages.home import MAX_BLOCKS, Home, HomeKey, HomeUser, build_home, last_scan_line
from bot.slack.messages.request_form import TargetChoices, target_options
from bot.slack.messages.scans import snoozed_reply
from tests.support.slack_text import fallback_text

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def test_a_large_owner_fits_and_keys_with_findings_come_first() -> None:
    users = [
        HomeUser(
            "prod",
            f"svc-{i:02d}",
            tuple(
                HomeKey(f"AKIA{i:08d}{k:04d}XXXX", NOW - timedelta(days=i), ("old-key",) if i == 49 else ())
                for k in range(2)
            ),
        )
        for i in range(50)
    ]
    view = build_home(Home("UALICE", "alice", users, [], []), NOW)
    assert view["type"] == "home" and len(view["blocks"]) <= MAX_BLOCKS
    first = next(b for b in view["blocks"] if b["type"] == "actions")
    assert first["elements"][0]["action_id"] == ids.ALERT_ROTATE and "AKIA00000049" in first["elements"][0]["value"]
    assert any("more keys" in b.get("text", {}).get("text", "") for b in view["blocks"])


def test_a_person_with_nothing_still_gets_a_home() -> None:
    view = build_home(Home("UGHOST", None, [], [], [], note="Slack did not say who you are"), NOW)
    texts = " ".join(b.get("text", {}).get("text", "") for b in view["blocks"] if b["type"] == "section")
    assert "You own no IAM users" in texts and "Waiting for approval" not in texts


def test_the_words_of_service_outcomes_are_written_by_the_builders() -> None:
    """The App Home's last-scan line and the Snooze reply are words of bot/slack/messages, fed plain facts."""
    at = "<!date^1795996800^{date_short_pretty} {time}|2026-11-30 00:00 UTC>"  # in the reader's zone
    assert last_scan_line(NOW, 7, 3, 0) == f"{at} · 7 findings in 3 accounts"
    assert last_scan_line(NOW, 7, 3, 1) == f"{at} · 7 findings in 3 accounts · 1 failed"
    assert last_scan_line(NOW, 1, 1, 0) == f"{at} · 1 finding in 1 account"
    until = NOW + timedelta(days=7)
    assert (
        fallback_text(snoozed_reply("AKIAEXAMPLE000000001", until))
        == "Alerts for `AKIAEXAMPLE000000001` are snoozed until 2026-12-07."
    )


def _texts(view: dict) -> str:
    return " ".join(b.get("text", {}).get("text", "") for b in view["blocks"] if b["type"] == "section")


def test_keys_show_finding_titles_and_the_account_only_when_there_are_several() -> None:
    user = HomeUser("default", "ci", (HomeKey("AKIAAAAAAAAAAAAAAAAA", NOW - timedelta(days=100), ("key-too-old",)),))
    one = _texts(build_home(Home("UALICE", "alice", [user], [], [], several_accounts=False), NOW))
    assert "*ci* `AKIAAAAAAAAAAAAAAAAA`" in one and "default:" not in one
    assert "Older than the limit" in one and "key-too-old" not in one
    several = _texts(build_home(Home("UALICE", "alice", [user], [], [], several_accounts=True), NOW))
    assert "*default:ci* `AKIAAAAAAAAAAAAAAAAA`" in several
    old_code = HomeUser("default", "ci", (HomeKey("AKIAAAAAAAAAAAAAAAAA", NOW, ("key_unused",)),))  # stored before
    assert "Unused" in _texts(build_home(Home("UALICE", "alice", [old_code], [], []), NOW))


def test_rotate_is_offered_only_where_it_can_work() -> None:
    keys = (HomeKey("AKIAAAAAAAAAAAAAAAAA", NOW), HomeKey("AKIABBBBBBBBBBBBBBBB", NOW))
    view = build_home(Home("UALICE", "alice", [HomeUser("default", "ci", keys, two_active=True)], [], []), NOW)
    actions = [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids.ALERT_ROTATE not in actions and actions.count(ids.ALERT_DEACTIVATE) == 2


def test_the_manifest_asks_slack_for_the_request_forms_options_where_the_bot_answers() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yaml").read_text())
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["message_menu_options_url"] == interactivity["request_url"]


def test_the_target_menu_stays_within_slacks_hundred_options() -> None:
    users = [("prod", f"svc-{i:03d}") for i in range(80)]
    keys = [("prod", f"svc-{i:03d}", f"AKIA{i:016d}") for i in range(80)]
    menu = target_options(TargetChoices(users, keys, several_accounts=True), None, "")
    options = [o for g in menu["option_groups"] for o in g["options"]]
    assert len(options) <= 100 and options[0]["value"] == "prod:svc-000"
    assert all(len(o["text"]["text"]) <= 75 for o in options)
