"""The App Home builder: within Slack's 100 blocks for an owner of 50 users with 100 keys; findings first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.slack import ids
from bot.slack.messages.home import MAX_BLOCKS, Home, HomeKey, HomeUser, build_home, last_scan_line
from bot.slack.messages.scans import snoozed_reply

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
    assert last_scan_line(NOW, 7, 3, 0) == "2026-11-30 00:00 UTC · 7 findings in 3 accounts"
    assert last_scan_line(NOW, 7, 3, 1) == "2026-11-30 00:00 UTC · 7 findings in 3 accounts · 1 failed"
    until = NOW + timedelta(days=7)
    assert (
        snoozed_reply("AKIAEXAMPLE000000001", until)
        == "Alerts for `AKIAEXAMPLE000000001` are snoozed until 2026-12-07."
    )
