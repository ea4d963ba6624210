"""The cut-over decision: an old key is switched off only when its replacement is in use and the key has been quiet
long enough since the replacement appeared; never when AWS could not be read, nor when the key was used after the
replacement's last use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.cutover import Step, Uses, Why, decide

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
QUIET = timedelta(hours=24)
H = timedelta(hours=1)


def at(hours_ago: float | None) -> datetime | None:
    return None if hours_ago is None else NOW - hours_ago * H


def step(since, replacement, old, *, last_told=None):
    return decide(Uses(at(since), at(replacement), at(old)), quiet=QUIET, now=NOW, last_told=last_told)


def test_switched_off_once_the_role_is_used_and_the_key_quiet() -> None:
    d = step(since=72, replacement=1, old=30)
    assert d.step is Step.SWITCH_OFF and d.why is Why.READY and d.quiet_since == at(30) and not d.tell_owner


def test_nothing_when_aws_cannot_be_read() -> None:
    d = decide(None, quiet=QUIET, now=NOW)
    assert d.step is Step.WAIT and d.why is Why.UNREADABLE and not d.tell_owner


@pytest.mark.parametrize(
    "since, replacement, old",
    [
        (72, 5, 2),  # the key was used after the role's last use: still does work the role does not
        (72, 50, 30),  # the same, both silent since: not a sign the key's work moved
        (72, 5, 5),  # at the same moment: not after
        (2, 1, 0.5),  # a role two hours old, the key used since it appeared
    ],
)
def test_never_switched_off_when_used_after_the_role_appeared_and_its_use(since, replacement, old) -> None:
    d = step(since, replacement, old)
    assert d.step is Step.WAIT and d.why is Why.OLD_IN_USE and d.tell_owner


def test_used_after_the_role_appeared_waits_out_the_quiet_period() -> None:
    """The key was used after the role appeared (the move took a while), then the role took over: the quiet period
    counts from the key's last use."""
    waiting = step(since=48, replacement=1, old=10)
    assert waiting.step is Step.WAIT and waiting.why is Why.OLD_IN_USE and waiting.not_before == at(10) + QUIET


def test_a_new_role_settles_before_anything_is_switched_off() -> None:
    """Never used after the role appeared: the quiet period counts from the role's appearance, owner not nagged."""
    d = step(since=3, replacement=1, old=100)
    assert d.step is Step.WAIT and d.why is Why.SETTLING and not d.tell_owner and d.not_before == at(3) + QUIET
    assert step(since=25, replacement=1, old=100).step is Step.SWITCH_OFF
    assert step(since=25, replacement=1, old=None).step is Step.SWITCH_OFF  # a key never used


def test_a_role_missing_or_unused_holds_it_up() -> None:
    assert step(since=None, replacement=None, old=30).why is Why.REPLACEMENT_MISSING
    assert step(since=72, replacement=None, old=30).why is Why.REPLACEMENT_UNUSED
    assert step(since=72, replacement=80, old=100).why is Why.REPLACEMENT_UNUSED  # a use from before it appeared


def test_the_owner_is_told_at_most_daily() -> None:
    assert step(72, 5, 2, last_told=at(2)).tell_owner is False
    assert step(72, 5, 2, last_told=at(24)).tell_owner is True
    assert step(None, None, 2, last_told=at(23)).tell_owner is False
