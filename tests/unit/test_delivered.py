"""Delivered rotation, the pure parts: backoff, when a scheduled rotation is due, the order places are written in,
what a location holds; and the words (Block Kit Slack takes, places named, never a secret)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block

from bot.domain.cutover import Why
from bot.domain.delivered import Delivery, Held, Pass, retry_at, rotation_due, write_order
from bot.domain.rotation import KeyUse, Rotation, RotationState, check_transition
from bot.domain.transitions import TransitionError
from bot.slack.messages.delivered import (
    MAX_LINES,
    RunSummary,
    build_delivery_failed,
    build_new_key_gone,
    build_old_key_in_use,
    build_run_summary,
)
from bot.slack.messages.rotations import stage
from tests.support.records import a_rotation

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
S = RotationState


def rotation(state: RotationState = S.DELIVERED, **kw: object) -> Rotation:
    made = {"id": "R-ABC234", "iam_user": "ci-deployer", "next_check_at": T0 + timedelta(hours=1), "delivered_at": T0}
    return a_rotation(T0, state, **(made | kw))


@pytest.mark.parametrize(
    ("failures", "transient", "minutes"),
    [
        (1, True, 5),
        (2, True, 10),
        (3, True, 20),
        (7, True, 320),
        (8, True, 360),
        (1, False, 60),
        (2, False, 120),
        (9, False, 360),
    ],
)
def test_a_refused_delivery_backs_off_doubling_sooner_for_a_passing_failure_at_most_six_hours_apart(
    failures: int, transient: bool, minutes: int
) -> None:
    assert retry_at(failures, transient, T0) == T0 + timedelta(minutes=minutes)


def test_a_scheduled_rotation_is_due_when_the_active_key_is_that_many_days_old() -> None:
    assert not rotation_due(T0 - timedelta(days=29, hours=23), 30, T0)
    assert rotation_due(T0 - timedelta(days=30), 30, T0)


def test_places_that_can_be_read_back_are_written_first_in_the_files_order() -> None:
    places = ["github a", "ssm", "gitlab b", "secretsmanager"]
    assert write_order(places, [False, True, False, True]) == ["ssm", "secretsmanager", "github a", "gitlab b"]


def test_a_location_holds_a_key_only_when_it_was_written_with_it() -> None:
    written = Delivery("R-1", 0, "SSM /x", "AKIANEW", Held.VERIFIED, 0, None, False, T0)
    assert written.holds("AKIANEW") and not written.holds("AKIAOTHER")
    failed = Delivery("R-1", 0, "SSM /x", "AKIAOLD", Held.FAILED, 2, "refused (403)", False, T0)
    assert not failed.holds("AKIAOLD")
    assert Pass(("SSM /x",), (), transient=True).complete and not Pass((), (("GitHub a", "403"),), False).complete


def test_a_delivered_rotation_reaches_a_switched_off_old_key_only_through_its_own_claim() -> None:
    for current, new in [
        (S.DELIVERING, S.DELIVERED),
        (S.DELIVERED, S.SWITCHING_OFF),
        (S.SWITCHING_OFF, S.OLD_KEY_DEACTIVATED),
    ]:
        check_transition(current, new)
    for current, new in [
        (S.DELIVERY_FAILED, S.SWITCHING_OFF),
        (S.DELIVERING, S.OLD_KEY_DEACTIVATED),
        (S.DELIVERY_FAILED, S.CANCELLED),
    ]:
        with pytest.raises(TransitionError):
            check_transition(current, new)  # never switched off before delivery; a refused delivery is not dropped


def _valid(message: tuple[str, list[dict[str, object]]]) -> str:
    text, blocks = message
    for raw in blocks:  # as Slack checks Block Kit (slack_sdk's models raise on what it refuses)
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
    return text + "\n" + str(blocks)


def test_the_words_name_the_places_and_the_keys_and_slack_takes_them() -> None:
    r = rotation(S.DELIVERY_FAILED, note="GitHub acme/api: refused permission (403)")
    failed = _valid(
        build_delivery_failed(r, Pass(("SSM /ci",), (("GitHub acme/api", "refused permission (403)"),), False), T0)
    )
    assert "GitHub acme/api" in failed and "SSM /ci already hold" in failed and r.old_key_id in failed
    in_use = _valid(
        build_old_key_in_use(rotation(), KeyUse(T0, "s3", "eu-west-1"), KeyUse(None), Why.OLD_IN_USE, ["SSM /ci"])
    )
    assert "s3" in in_use and "eu-west-1" in in_use and "Roll back" in in_use
    gone = _valid(build_new_key_gone(rotation(), ["SSM /ci", "GitHub acme/api"]))
    assert "SSM /ci, GitHub acme/api hold it" in gone
    assert "delivery failed" in stage(r) and "403" in stage(r)  # `list` and the App Home say where it stands


def test_one_summary_however_many_users_long_lists_cut() -> None:
    run = RunSummary(
        rotated=[f"default:ci-{n}" for n in range(200)],
        places=597,
        failed=[f"default:ci-{n}: GitHub acme/{n}: answered 500" for n in range(12)],
    )
    text = _valid(build_run_summary(run, timedelta(seconds=41)))
    assert "200 machine users rotated in 41 seconds" in text and "597 places" in text
    assert f"and {12 - MAX_LINES} more" in text
    assert not RunSummary(skipped=["default:ci: two active keys"]).worth_telling  # not news on every run
