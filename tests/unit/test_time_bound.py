"""Time-bound keys as pure rules: the durations `--for` takes, a key's dates, and the next step from the stored key,
the key's status in AWS and the time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.commands import parse
from bot.domain.keys import ACTIVE, INACTIVE, InputError
from bot.domain.time_bound import (
    DurationError,
    KeyEnd,
    Step,
    TimeBoundKey,
    check_transition,
    describe_hours,
    next_step,
    parse_valid_for,
    plan,
)
from bot.domain.transitions import TransitionError

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "hours"),
    [("1h", 1), ("8h", 8), ("8H", 8), ("30d", 720), ("90d", 2160), ("2160h", 2160), ("007h", 7)],
)
def test_durations_in_hours_or_days(text: str, hours: int) -> None:
    assert parse_valid_for(text) == hours


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0h", "is no time at all"),
        ("00d", "is no time at all"),
        ("8x", "is not a duration"),
        ("8", "is not a duration"),
        ("1.5h", "is not a duration"),
        ("-1h", "is not a duration"),
        ("8 h", "is not a duration"),
        ("\u0663h", "is not a duration"),  # an Arabic-Indic three: digits are ASCII digits
        ("91d", "is too long"),
        ("2161h", "is too long"),
        ("99999999999999999999d", "is too long"),
    ],
)
def test_bad_durations_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(DurationError, match=why) as refused:
        parse_valid_for(text)
    assert "\n" not in str(refused.value)


def test_create_takes_for_anywhere_after_the_command_and_keeps_the_reason() -> None:
    for text in (
        "create ci --for 8h new pipeline",
        "create --for 8h ci new pipeline",
        "create ci --for=8h new pipeline",
    ):
        cmd = parse(text, ["default"])
        assert (cmd.name, cmd.user.name, cmd.valid_for_hours, cmd.reason) == ("create", "ci", 8, "new pipeline")
    assert parse("create ci new pipeline", ["default"]).valid_for_hours is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("create ci --for 0h", "no time at all"),
        ("create ci --for 8x", "not a duration"),
        ("create ci --for 91d", "at most 90 days"),
        ("create ci --for", "needs a duration after it"),
        ("create ci --for 1h --for 2h", "more than once"),
        ("rotate ci --for 8h", "works only with `create`"),
        ("deactivate AKIAIOSFODNN7EXAMPLE --for 8h", "works only with `create`"),
    ],
)
def test_a_bad_for_is_one_line_with_the_usage(text: str, why: str) -> None:
    with pytest.raises(DurationError) as refused:
        parse(text, ["default"])
    message = str(refused.value)
    assert why in message and "Usage: `" in message and "\n" not in message
    assert isinstance(refused.value, InputError)


def test_plan_warns_a_day_before_or_an_hour_before_a_short_key() -> None:
    assert plan(NOW, 720).ends_at == NOW + timedelta(days=30)
    assert plan(NOW, 720).warn_at == NOW + timedelta(days=29)
    assert plan(NOW, 48).warn_at == NOW + timedelta(days=1)  # two days is not short
    assert plan(NOW, 47).warn_at == NOW + timedelta(hours=46)
    assert plan(NOW, 1).warn_at == NOW  # an hour-long key is told at once
    assert [describe_hours(h) for h in (1, 8, 24, 48, 25)] == ["1 hour", "8 hours", "1 day", "2 days", "25 hours"]


def _key(state: KeyEnd = KeyEnd.ACTIVE, **changes: object) -> TimeBoundKey:
    dates = plan(NOW, 8)
    k = TimeBoundKey(
        request_id="R-ABCDEF",
        account="default",
        iam_user="ci",
        key_id="AKIAIOSFODNN7EXAMPLE",
        owner="UALICE",
        state=state,
        created_at=NOW,
        updated_at=NOW,
        ends_at=dates.ends_at,
        warn_at=dates.warn_at,
        next_at=dates.warn_at,
        delete_at=dates.ends_at + timedelta(days=1) if state is not KeyEnd.ACTIVE else None,
    )
    return replace(k, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "live", "hours", "step"),
    [
        (KeyEnd.ACTIVE, ACTIVE, 1, Step.WAIT),
        (KeyEnd.ACTIVE, ACTIVE, 7, Step.WARN),
        (KeyEnd.ACTIVE, INACTIVE, 7, Step.WARN),  # told anyway: someone may switch it on again
        (KeyEnd.WARNED, ACTIVE, 7.5, Step.WAIT),
        (KeyEnd.WARNED, ACTIVE, 8, Step.DEACTIVATE),
        (KeyEnd.ACTIVE, ACTIVE, 9, Step.DEACTIVATE),  # past its end without a warning: off all the same
        (KeyEnd.WARNED, INACTIVE, 8, Step.SWITCHED_OFF_BY_SOMEONE),
        (KeyEnd.WARNED, None, 8, Step.GONE),
        (KeyEnd.ACTIVE, None, 1, Step.GONE),
        (KeyEnd.DEACTIVATED, INACTIVE, 20, Step.WAIT),
        (KeyEnd.DEACTIVATED, INACTIVE, 32, Step.DELETE),
        (KeyEnd.DEACTIVATED, ACTIVE, 32, Step.SWITCHED_ON_AGAIN),
        (KeyEnd.DEACTIVATED, ACTIVE, 20, Step.SWITCHED_ON_AGAIN),
        (KeyEnd.DEACTIVATED, None, 32, Step.GONE),
        # claims left by a crash: had the call happened?
        (KeyEnd.DEACTIVATING, INACTIVE, 9, Step.CONFIRMED),
        (KeyEnd.DEACTIVATING, ACTIVE, 9, Step.REPEAT),
        (KeyEnd.DEACTIVATING, None, 9, Step.GONE),
        (KeyEnd.DELETING, None, 33, Step.CONFIRMED),
        (KeyEnd.DELETING, INACTIVE, 33, Step.REPEAT),
        (KeyEnd.DELETING, ACTIVE, 33, Step.SWITCHED_ON_AGAIN),
        (KeyEnd.LEFT_ALONE, ACTIVE, 40, Step.WAIT),
    ],
)
def test_next_step(state: KeyEnd, live: str | None, hours: float, step: Step) -> None:
    assert next_step(_key(state), live, NOW + timedelta(hours=hours)) is step


def test_only_its_own_deactivation_leads_to_a_deletion() -> None:
    check_transition(KeyEnd.DEACTIVATING, KeyEnd.DEACTIVATED)
    check_transition(KeyEnd.DEACTIVATED, KeyEnd.DELETING)
    for current in (KeyEnd.ACTIVE, KeyEnd.WARNED):
        with pytest.raises(TransitionError):
            check_transition(current, KeyEnd.DELETING)
    for final in (KeyEnd.DELETED, KeyEnd.GONE, KeyEnd.LEFT_ALONE):
        with pytest.raises(TransitionError):
            check_transition(final, KeyEnd.DEACTIVATING)
