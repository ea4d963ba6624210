"""Delivered rotation, the issue's "done when": a machine user listed in LOCATIONS_FILE is rotated on schedule, its
consumers read the new key from SSM, Secrets Manager and GitHub without anyone seeing it, its old key is switched off
after the consumer moved and not before, and a refusing location leaves everything working and says where.

moto in this process (IAM, SSM, Secrets Manager: last use stamped by the moved clock), the fake GitHub that opens
the sealed boxes with its private key, the real WSGI app behind signed Slack requests, the fake Slack Web API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.domain.rotation import RotationState
from bot.entrypoints.housekeeping import run_once
from bot.slack import ids
from tests.support.delivered import (
    OWNER,
    REPO,
    TOKEN,
    USER,
    Consumers,
    assert_nowhere,
    env,
    everywhere,
    machine_user,
    rotation_of,
    use,
    user_keys,
    wait_for,
)
from tests.support.fake_github import FakeGitHub
from tests.support.harness import BotServer, TestClock

S = RotationState


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    fake.add_repository(REPO, token=TOKEN)
    yield fake
    fake.stop()


def test_a_machine_user_is_rotated_on_schedule_delivered_unseen_and_switched_off_only_after_its_consumer_moved(
    make_bot: Callable[..., BotServer],
    aws: None,
    iam,
    github: FakeGitHub,
    clock: TestClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = make_bot(**env(tmp_path, github))
    consumers = Consumers(github)
    old_id, old_secret = machine_user(iam, clock.now, age_days=31)
    consumers.hold(old_id, old_secret)  # as a person set it up once, before Keywarden

    # Due by rotate_every_days (30), while GitHub refuses the token: the clock's periodic work, as
    # `python -m bot housekeeping` runs it.
    github.fail(403, {"message": "Resource not accessible by personal access token"}, where=REPO)
    assert run_once(bot.services).failed == []
    rotation = rotation_of(bot.services)
    assert rotation is not None and rotation.state is S.DELIVERY_FAILED and rotation.old_key_id == old_id
    new_id = rotation.new_key_id
    # Everything still works: the old key stays active; SSM and Secrets Manager already hold the new key (both
    # keys are active), the workflow still reads the old one. Where it failed is said to the owner and the channel.
    assert user_keys(iam) == {old_id: "Active", new_id: "Active"}
    assert consumers.ssm()[0] == consumers.secrets_manager()[0] == new_id
    assert consumers.workflow() == (old_id, old_secret)
    for channel in (OWNER, "CALERTS"):
        [told] = [m.raw for m in bot.slack.posts_to(channel) if "could not be delivered" in m.raw]
        assert f"GitHub {REPO}" in told and "403" in told and old_id in told
    bot.command(f"list {USER}", user_id=OWNER)  # a signed slash command: the key shows where delivery stands
    listed = wait_for(lambda: [c.raw for c in bot.slack.calls_to("response_url") if old_id in c.raw], "list")
    assert f"GitHub {REPO}" in listed[-1] and "delivery failed" in listed[-1]

    # The token is given access; the retry (an hour later for a refusal) sends the key on from SSM.
    clock.advance(hours=1, minutes=1)
    assert run_once(bot.services).failed == []
    rotation = bot.services.rotations.get(rotation.id)
    assert rotation.state is S.DELIVERED and rotation.new_key_id == new_id  # the same key: no second new key
    [(read_id, new_secret)] = consumers.everyone()  # every consumer reads the same key: the new one
    assert read_id == new_id and user_keys(iam) == {old_id: "Active", new_id: "Active"}
    [summary] = [m.raw for m in bot.slack.posts_to("CALERTS") if "Scheduled rotation" in m.raw]  # one, the first run's
    assert "Waiting in delivery-failed" in summary and f"GitHub {REPO}" in summary

    # The consumer has not moved yet: the old key stays active, however quiet time passes for the new one.
    clock.advance(hours=2)
    use(old_id, old_secret, clock.now)
    clock.advance(hours=30)
    bot.services.scheduled_rotations.advance()
    assert user_keys(iam)[old_id] == "Active"
    told = [m.raw for m in bot.slack.posts_to(OWNER) if "still in use" in m.raw or "nothing has used" in m.raw]
    assert told and "sts" in told[-1] and "eu-west-1" in told[-1]  # what still uses it: service and region

    # The consumer moves to the new key (its last call with the old one just before); once the old key has been
    # quiet for CUTOVER_QUIET_HOURS (24), it is switched off, not deleted.
    use(old_id, old_secret, clock.now)
    use(new_id, new_secret, clock.advance(minutes=5))
    clock.advance(hours=23)
    bot.services.scheduled_rotations.advance()
    assert user_keys(iam)[old_id] == "Active"  # quiet for 23 hours only
    clock.advance(hours=2)
    bot.services.scheduled_rotations.advance()
    assert user_keys(iam) == {old_id: "Inactive", new_id: "Active"}
    assert bot.services.rotations.get(rotation.id).state is S.OLD_KEY_DEACTIVATED

    # Nobody saw the secret: no Reveal anywhere, not in Slack, the database or the log.
    assert not any(ids.REVEAL in c.raw for c in bot.slack.calls)
    assert_nowhere(new_secret, everywhere(bot.services, bot.slack, caplog.text, {"to GitHub": github.traffic()}))
