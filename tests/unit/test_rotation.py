"""Guided rotation as pure logic: states, dates, the plan, the next step, and its Block Kit."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from bot.domain.keys import InputError, KeyFacts
from bot.domain.rotation import (
    CLAIMS,
    DELIVERY,
    FINAL,
    SCHEDULED,
    TRANSITIONS,
    KeyUse,
    Live,
    PlanChanged,
    Rotation,
    RotationPolicy,
    RotationState,
    Step,
    check_transition,
    choose_keys,
    confirm_pre_step,
    next_step,
    reconcile_step,
    reminder_times,
    schedule,
)
from bot.domain.transitions import TransitionError
from bot.settings import Settings
from bot.settings.reader import SettingsError
from bot.slack import ids
from bot.slack.messages.rotations import build_deactivated, build_reminder, build_still_in_use, key_note, plan_text
from tests.support.records import a_rotation
from tests.support.slack_text import fallback_text

S = RotationState
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = RotationPolicy()
OLD, NEW, SPARE = "AKIAOLDOLDOLDOLDOLD1", "AKIANEWNEWNEWNEWNEW1", "AKIASPARESPARESPARE1"
UNUSED = KeyUse(None)


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


def rotation(state: RotationState = S.GRACE, **kw) -> Rotation:
    plan = schedule(T0, POLICY)
    return a_rotation(T0, state, **({"grace_ends_at": plan.grace_ends, "stall_at": plan.stall_at} | kw))


def live(old: str | None = "Active", new: str | None = "Active", used: datetime | None = None) -> Live:
    return Live(old, new, KeyUse(used, "sts", "eu-west-1") if used else UNUSED)


def key(key_id: str, status: str = "Active", age: float = 30) -> KeyFacts:
    return KeyFacts("default", "ci", key_id, status, T0 - timedelta(days=age))


# States
def test_every_state_is_final_claimed_or_scheduled_and_finals_lead_nowhere() -> None:
    assert set(RotationState) == FINAL | CLAIMS | SCHEDULED | DELIVERY
    assert not (FINAL & CLAIMS) and not (FINAL & SCHEDULED) and not (CLAIMS & SCHEDULED)
    assert not (DELIVERY & (FINAL | CLAIMS | SCHEDULED))  # a delivered rotation's own states: its service's alone
    assert all(state not in TRANSITIONS for state in FINAL)
    check_transition(S.GRACE, S.DEACTIVATING)
    with pytest.raises(TransitionError):
        check_transition(S.GRACE, S.DELETING)  # never delete an active key
    with pytest.raises(TransitionError):
        check_transition(S.ROLLED_BACK, S.GRACE)


def test_only_the_rotations_own_claim_leads_to_a_deactivated_old_key() -> None:
    """Roll-back (Reactivate without approval) must only ever undo a deactivation the rotation made itself."""
    assert {s for s, targets in TRANSITIONS.items() if S.OLD_KEY_DEACTIVATED in targets} == {
        S.DEACTIVATING,
        S.OLD_KEY_DEACTIVATED,  # a daily check that stays
        S.DELETING,  # AWS refused the deletion: back to waiting
        S.ROLLING_BACK,  # AWS refused the reactivation: back to waiting
        S.SWITCHING_OFF,  # a delivered rotation's own claim: its cut-over by use
    }


def test_the_main_path_is_allowed() -> None:
    path = [S.NEW_KEY_CREATED, S.GRACE, S.DEACTIVATING, S.OLD_KEY_DEACTIVATED, S.DELETING, S.OLD_KEY_DELETED]
    for current, new in pairwise(path):
        check_transition(current, new)
    check_transition(S.OLD_KEY_DEACTIVATED, S.ROLLING_BACK)
    check_transition(S.ROLLING_BACK, S.ROLLED_BACK)
    check_transition(S.GRACE, S.STALLED)


# Dates
def test_schedule_with_the_default_policy() -> None:
    plan = schedule(T0, POLICY)
    assert plan.reminders == (days(3.5), days(6))
    assert (plan.grace_ends, plan.stall_at, plan.delete_earliest) == (days(7), days(14), days(14))


@pytest.mark.parametrize(
    ("grace", "expected"),
    [(1, (0.5,)), (2, (1,)), (3, (1.5, 2)), (14, (7, 13))],
)
def test_reminders_halfway_and_the_day_before_once_each(grace: int, expected: tuple[float, ...]) -> None:
    assert reminder_times(T0, days(grace)) == tuple(days(d) for d in expected)


# Filing
def test_the_only_active_key_is_replaced() -> None:
    assert choose_keys("ci", [key(OLD)], None) == (OLD, None)
    assert choose_keys("ci", [key(OLD)], OLD) == (OLD, None)


def test_an_inactive_second_key_is_deleted_first() -> None:
    keys = [key(SPARE, "Inactive", 200), key(OLD)]
    assert choose_keys("ci", keys, None) == (OLD, SPARE)
    assert choose_keys("ci", keys, OLD) == (OLD, SPARE)


@pytest.mark.parametrize(
    ("keys", "key_id", "message"),
    [
        ([key(OLD), key(SPARE)], None, "has two active keys"),
        ([key(OLD), key(SPARE)], OLD, "has two active keys"),
        ([key(OLD, "Inactive")], OLD, "is inactive: only an active key is rotated"),
        ([key(OLD, "Inactive")], None, "has no active key to rotate"),
        ([], None, "has no access keys"),
        ([key(SPARE)], OLD, "is not a key of `ci`"),
    ],
)
def test_refusals_say_what_to_do(keys: list[KeyFacts], key_id: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        choose_keys("ci", keys, key_id)


def test_the_pre_step_is_confirmed_against_aws_right_before_the_new_key() -> None:
    filed = T0
    assert confirm_pre_step([key(OLD)], OLD, filed) is None
    assert confirm_pre_step([key(OLD), key(SPARE, "Inactive", 100)], OLD, filed) == SPARE
    with pytest.raises(PlanChanged, match="no longer exists"):
        confirm_pre_step([key(SPARE, "Inactive")], OLD, filed)
    with pytest.raises(PlanChanged, match="no longer active"):
        confirm_pre_step([key(OLD, "Inactive")], OLD, filed)
    with pytest.raises(PlanChanged, match="two active keys"):
        confirm_pre_step([key(OLD), key(SPARE)], OLD, filed)
    with pytest.raises(PlanChanged, match="created after the request was filed"):
        confirm_pre_step([key(OLD), key(SPARE, "Inactive", age=-1)], OLD, filed)


# The next step
def decide(r: Rotation, now: datetime, state: Live | None = None):
    return next_step(r, state or live(), now, POLICY)


def test_grace_reminders_then_deactivation_when_unused() -> None:
    started = decide(rotation(S.NEW_KEY_CREATED), T0)
    assert (started.step, started.state, started.next_check_at) == (Step.START_GRACE, S.GRACE, days(1))
    waiting = decide(rotation(), days(1))
    assert (waiting.step, waiting.next_check_at) == (Step.WAIT, days(2))
    first = decide(rotation(), days(3.5))
    assert (first.step, first.reminders_sent, first.next_check_at) == (Step.REMIND, 1, days(4.5))
    second = decide(rotation(reminders_sent=1), days(6))
    assert (second.step, second.reminders_sent, second.next_check_at) == (Step.REMIND, 2, days(7))
    end = decide(rotation(reminders_sent=2), days(7), live(used=T0 - timedelta(hours=1)))
    assert (end.step, end.state) == (Step.DEACTIVATE, S.DEACTIVATING)


def test_reminders_missed_while_down_are_sent_once() -> None:
    late = decide(rotation(), days(6.5))
    assert (late.step, late.reminders_sent) == (Step.REMIND, 2)


def test_still_in_use_is_checked_daily_then_stalls() -> None:
    used = live(used=days(6))
    in_use = decide(rotation(reminders_sent=2), days(7), used)
    assert (in_use.step, in_use.state, in_use.next_check_at) == (Step.STILL_IN_USE, S.GRACE, days(8))
    near = decide(rotation(reminders_sent=2), days(13.5), used)
    assert near.next_check_at == days(14)  # stalls on time, not a day late
    stalled = decide(rotation(reminders_sent=2), days(14), used)
    assert (stalled.step, stalled.state) == (Step.STALL, S.STALLED)
    again = decide(rotation(S.STALLED, reminders_sent=2), days(15), used)
    assert (again.step, again.state, again.next_check_at) == (Step.RECHECK, S.STALLED, days(16))
    moved_off = decide(rotation(S.STALLED), days(16), live(used=T0 - timedelta(days=1)))
    assert moved_off.step is Step.DEACTIVATE


def test_deletion_after_the_inactive_period_with_no_use() -> None:
    r = rotation(S.OLD_KEY_DEACTIVATED, deactivated_at=days(7), delete_after=days(14), reminders_sent=2)
    waiting = decide(r, days(10), live(old="Inactive"))
    assert (waiting.step, waiting.next_check_at) == (Step.WAIT, days(11))
    due = decide(r, days(14), live(old="Inactive"))
    assert (due.step, due.state) == (Step.DELETE, S.DELETING)
    used = decide(r, days(14), live(old="Inactive", used=days(8)))
    assert (used.step, used.state) == (Step.HOLD, S.OLD_KEY_DEACTIVATED)


@pytest.mark.parametrize(
    ("state", "aws", "step", "new_state"),
    [
        (S.GRACE, live(new=None), Step.NEW_GONE, S.CANCELLED),
        (S.GRACE, live(new="Inactive"), Step.NEW_GONE, S.CANCELLED),
        (S.OLD_KEY_DEACTIVATED, live(old="Inactive", new=None), Step.NEW_GONE, S.CANCELLED),
        (S.GRACE, live(old=None), Step.OLD_GONE, S.OLD_KEY_DELETED),
        (S.STALLED, live(old=None), Step.OLD_GONE, S.OLD_KEY_DELETED),
        (S.GRACE, live(old="Inactive"), Step.OLD_INACTIVE, S.CANCELLED),  # not the rotation's own: it ends
        (S.STALLED, live(old="Inactive"), Step.OLD_INACTIVE, S.CANCELLED),
        (S.OLD_KEY_DEACTIVATED, live(old="Active"), Step.OLD_REACTIVATED, S.ROLLED_BACK),
    ],
)
def test_changes_made_outside_keywarden_are_recorded_not_fought(
    state: RotationState, aws: Live, step: Step, new_state: RotationState
) -> None:
    r = rotation(state, deactivated_at=days(7), delete_after=days(14))
    decision = decide(r, days(2), aws)
    assert (decision.step, decision.state) == (step, new_state)
    check_transition(state, new_state)


def test_claims_are_not_scheduled_steps() -> None:
    with pytest.raises(TransitionError):
        decide(rotation(S.DEACTIVATING), days(8))


@pytest.mark.parametrize(
    ("state", "aws", "step"),
    [
        (S.DEACTIVATING, live(old="Inactive"), Step.CONFIRMED),
        (S.DEACTIVATING, live(old="Active"), Step.DEACTIVATE),
        (S.DEACTIVATING, live(old="Active", new=None), Step.NEW_GONE),
        (S.DEACTIVATING, live(old=None), Step.OLD_GONE),
        (S.DELETING, live(old=None), Step.CONFIRMED),
        (S.DELETING, live(old="Inactive"), Step.DELETE),
        (S.ROLLING_BACK, live(old="Active"), Step.CONFIRMED),
        (S.ROLLING_BACK, live(old="Inactive"), Step.REACTIVATE),
        (S.ROLLING_BACK, live(old=None), Step.OLD_GONE),
    ],
)
def test_a_claim_left_by_a_crash_is_finished_from_the_real_key_status(
    state: RotationState, aws: Live, step: Step
) -> None:
    assert reconcile_step(state, aws) is step


# Block Kit
def test_plan_text_names_the_key_the_pre_step_and_every_date() -> None:
    text = plan_text("default", "ci", OLD, SPARE, schedule(T0, POLICY))
    assert OLD in text and f"the inactive key `{SPARE}` is deleted right before" in text
    for date in ("2026-03-05", "2026-03-08", "2026-03-09", "2026-03-16"):
        assert date in text
    assert "deleted first" not in plan_text("default", "ci", OLD, None, schedule(T0, POLICY))


def test_deactivated_notice_has_the_reactivate_button() -> None:
    r = rotation(S.OLD_KEY_DEACTIVATED, deactivated_at=days(7), delete_after=days(14))
    _, blocks = build_deactivated(r)
    button = blocks[1]["elements"][0]
    assert (button["action_id"], button["value"]) == (ids.ROLLBACK, r.id)
    assert "confirm" in button and "2026-03-16 09:00 UTC" in fallback_text(json.dumps(blocks))


def test_reminder_and_in_use_notices_say_where_the_old_key_was_used() -> None:
    r = rotation()
    _, blocks = build_reminder(r, KeyUse(days(1), "s3", "eu-west-1"), days(3.5))
    text = fallback_text(json.dumps(blocks))
    assert "3 days left" in text and "2026-03-03 09:00 UTC (s3, eu-west-1)" in text and "still uses" in text
    assert "never used" in json.dumps(build_reminder(r, UNUSED, days(6))[1])
    _, blocks = build_still_in_use(r, KeyUse(days(6), "sts", "us-east-1"))
    assert "*2026-03-08 09:00 UTC* by *sts* in *us-east-1*" in fallback_text(json.dumps(blocks))


def test_list_note_for_both_keys() -> None:
    r = replace(rotation(), old_last_used=None)
    assert "being replaced by" in key_note(r, OLD) and "grace until 2026-03-09" in fallback_text(key_note(r, OLD))
    assert f"replaces `{OLD}`" in key_note(r, NEW)


# Settings
def test_rotation_settings() -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    s = Settings.from_env(base)
    assert (s.rotation_grace_days, s.rotation_stall_days, s.rotation_delete_days) == (7, 14, 7)
    s = Settings.from_env(base | {"ROTATION_GRACE_DAYS": "3", "ROTATION_STALL_DAYS": "5", "ROTATION_DELETE_DAYS": "2"})
    assert (s.rotation_grace_days, s.rotation_stall_days, s.rotation_delete_days) == (3, 5, 2)
    with pytest.raises(SettingsError, match="ROTATION_GRACE_DAYS is malformed"):
        Settings.from_env(base | {"ROTATION_GRACE_DAYS": "0"})
    with pytest.raises(SettingsError, match="ROTATION_STALL_DAYS must be larger than ROTATION_GRACE_DAYS"):
        Settings.from_env(base | {"ROTATION_GRACE_DAYS": "14"})
