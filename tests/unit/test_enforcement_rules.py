"""ENFORCE's deadline rules on plain data: warnings first, a late warning moves the deadline, due only after both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.enforcement import StepKind, Warnings, next_step

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_on_time_the_warnings_come_3_and_1_days_before_and_keep_the_deadline() -> None:
    natural = T0 + 60 * DAY
    assert next_step(natural, Warnings(), T0 + 56 * DAY).kind is StepKind.WAIT
    step = next_step(natural, Warnings(), T0 + 57 * DAY)
    assert (step.kind, step.stage, step.deadline) == (StepKind.WARN, 3, natural)
    first = Warnings(natural, T0 + 57 * DAY)
    assert next_step(natural, first, T0 + 58 * DAY).kind is StepKind.WAIT
    step = next_step(natural, first, T0 + 59 * DAY)
    assert (step.kind, step.stage, step.deadline) == (StepKind.WARN, 1, natural)
    both = Warnings(natural, T0 + 57 * DAY, T0 + 59 * DAY)
    assert next_step(natural, both, T0 + 59.9 * DAY).kind is StepKind.WAIT
    assert next_step(natural, both, T0 + 60 * DAY).kind is StepKind.DUE


def test_a_deadline_long_past_but_never_warned_gets_the_first_warning_and_three_more_days() -> None:
    now = T0 + 400 * DAY  # ENFORCE switched on late, or the clock jumped
    step = next_step(T0 + 60 * DAY, Warnings(), now)
    assert (step.kind, step.stage, step.deadline) == (StepKind.WARN, 3, now + 3 * DAY)


def test_a_late_second_warning_gives_one_more_day() -> None:
    first = Warnings(T0 + 60 * DAY, T0 + 57 * DAY)
    now = T0 + 70 * DAY  # no scan ran for ten days
    step = next_step(T0 + 60 * DAY, first, now)
    assert (step.kind, step.stage, step.deadline) == (StepKind.WARN, 1, now + DAY)
    assert next_step(T0 + 60 * DAY, Warnings(now + DAY, first.warned_3_at, now), now).kind is StepKind.WAIT


def test_a_longer_limit_configured_later_is_honoured() -> None:
    both = Warnings(T0 + 60 * DAY, T0 + 57 * DAY, T0 + 59 * DAY)
    assert next_step(T0 + 90 * DAY, both, T0 + 61 * DAY).kind is StepKind.WAIT
