"""`audit` in Slack shows a title for every audit action Keywarden writes; the codes stay in the log."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.audit_events import ACTION_TYPES, RETIREMENT_PREFIX, AuditRow, event, event_type
from bot.domain.retirement import Stage
from bot.domain.time_bound import KeyEnd
from bot.slack.messages.audit import AUDIT_SHOWN, AUDIT_TITLES, audit_line, audit_title, build_audit
from bot.store.time_bound_keys import PREFIX as TIME_BOUND

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def written_actions() -> set[str]:
    """Every audit action the services and stores write by name (`action="..."`), and the event types' actions."""
    found = set(ACTION_TYPES) | {"approval_withdrawn", "superseded", "rotation_started", "rotation_in_use"}
    for package in ("bot/services", "bot/store"):
        for path in (ROOT / package).rglob("*.py"):
            found |= set(re.findall(r'action="([a-z_]+)"', path.read_text()))
    found |= {TIME_BOUND + s.value for s in KeyEnd} | {TIME_BOUND + "started", TIME_BOUND + "retry"}
    return found | {RETIREMENT_PREFIX + s.value for s in Stage} | {RETIREMENT_PREFIX + "waiting"}


def row(action: str, outcome: str = "ok", detail: str = "", operation: str | None = None) -> AuditRow:
    return AuditRow(1, AT, "UBOSS", action, outcome, "R-7KQ2ZD", "default", "ci", None, detail, operation)


def test_every_action_written_has_a_title() -> None:
    missing = sorted(a for a in written_actions() if a not in AUDIT_TITLES)
    assert missing == []
    assert all("_" not in title for title in AUDIT_TITLES.values())


def test_titles_for_codes_people_used_to_see() -> None:
    assert audit_title(row("reveal_started")) == "Reveal started"
    assert audit_title(row("rotation_grace")) == "Rotation in grace period"
    assert audit_title(row("executed", operation="deactivate")) == "Key deactivated"
    refused = audit_line(row("refused", "refused", "approve: not an approver"))
    assert "*Refused: not an approver* approve" in refused.replace(" R-7KQ2ZD default:ci", "")
    assert "(refused)" not in refused
    assert "*Some new thing*" in audit_line(row("some_new_thing"))  # a code added later still reads as words


def test_a_finding_is_named_by_its_title() -> None:
    line = audit_line(row("finding_opened", detail="key_too_old: 120 days old"))
    assert "*Finding opened: Older than the limit*" in line and "key_too_old" not in line


def test_a_long_answer_says_how_to_get_the_rest() -> None:
    _, blocks = build_audit([row("requested")] * (AUDIT_SHOWN + 1), None)
    assert "older ones" in blocks[-1]["elements"][0]["text"] and "audit --json" in blocks[-1]["elements"][0]["text"]
    _, blocks = build_audit([row("requested")] * AUDIT_SHOWN, None)
    assert all(b["type"] == "section" for b in blocks)
    _, blocks = build_audit([row("requested", detail="x" * 280)] * AUDIT_SHOWN, "ci")
    assert all(len(b["text"]["text"]) <= 2900 for b in blocks) and len(blocks) > 2  # split, never cut


def test_a_retirements_steps_are_stage_changes_with_titles() -> None:
    switched_off = row(RETIREMENT_PREFIX + Stage.SWITCHED_OFF.value, detail="replaced by ci-role")
    assert event_type(switched_off.action) == "retirement.stage_changed"
    assert event(switched_off)["stage"] == "switched-off"
    assert audit_title(switched_off) == "Key switched off: its role took over"
    assert "*Retirement: owner told what holds it up*" in audit_line(row("retirement_waiting"))
