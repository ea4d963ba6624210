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
from typing import TYPE_CHECKING

import pytest

from bot.bootstrap import Services
from bot.domain.requests import Status
from bot.domain.rotation import RotationState
from bot.entrypoints.housekeeping import run_once
from bot.slack import ids
from tests.support.delivered import (
    OWNER,
    PLACES,
    REPO,
    SSM_NAME,
    USER,
    Consumers,
    assert_nowhere,
    env,
    everywhere,
    machine_user,
    repository_on_github,
    rotation_of,
    use,
    user_keys,
    wait_for,
)
from tests.support.fake_github import FakeGitHub
from tests.support.flows import BOSS, MALLORY, dms, filed_id, wait_ephemeral, wait_status
from tests.support.harness import BotServer

if TYPE_CHECKING:
    from tests.support.harness import TestClock  # a class named Test…: not imported where pytest collects

S = RotationState


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with repository_on_github() as fake:
        yield fake


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
    [told] = [m.raw for m in bot.slack.posts_to(OWNER) if "could not be delivered" in m.raw]
    assert f"GitHub {REPO}" in told and "403" in told and old_id in told
    [summary] = [m.raw for m in bot.slack.posts_to("CALERTS")]  # the run's one summary names it too
    assert "Scheduled rotation" in summary and "Waiting in delivery-failed" in summary
    assert f"GitHub {REPO}" in summary and "403" in summary
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
    assert [m.raw for m in bot.slack.posts_to("CALERTS")] == [summary]  # a retry that works posts nothing there

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
    assert any("switched off" in m.raw and "Reactivate" in m.raw for m in bot.slack.posts_to(OWNER))
    clock.advance(days=7, hours=1)  # ROTATION_GRACE_DAYS after it was switched off, unused: deleted
    assert run_once(bot.services).failed == []
    assert user_keys(iam) == {new_id: "Active"} and bot.services.rotations.get(rotation.id).state is S.OLD_KEY_DELETED

    # Nobody saw the secret: no Reveal anywhere, not in Slack, the database or the log.
    assert not any(ids.REVEAL in c.raw for c in bot.slack.calls)
    assert_nowhere(new_secret, everywhere(bot.services, bot.slack, caplog.text, {"to GitHub": github.traffic()}))


def test_a_persons_rotate_of_a_machine_user_is_delivered_never_revealed_and_can_be_rolled_back(
    make_bot: Callable[..., BotServer], aws: None, iam, github: FakeGitHub, clock: TestClock, tmp_path: Path
) -> None:
    bot = make_bot(**env(tmp_path, github))
    old_id, _ = machine_user(iam, clock.now, age_days=5)  # not due yet: a person asks
    bot.command(f"rotate {USER} moving CI to a new key", user_id=OWNER)
    rid = filed_id(bot)
    plan = bot.slack.posts_to("CAPPROVE")[0].raw  # what the approver approves: delivery, no Reveal, cut-over by use
    assert "nobody sees it, there is no Reveal" in plan and "On Reveal" not in plan and all(p in plan for p in PLACES)
    bot.click(ids.APPROVE, rid, BOSS)
    done = wait_status(bot, rid, Status.SUCCEEDED, Status.FAILED)
    assert done.status is Status.SUCCEEDED and done.new_key_id == rotation_of(bot.services).new_key_id
    # The requester's DM says where the key went; there is no Reveal button anywhere, and a Reveal is refused.
    dm = wait_for(lambda: [d for d in dms(bot, OWNER) if "Nobody saw the secret" in d], "the requester's DM")[-1]
    assert all(place in dm for place in PLACES) and ids.REVEAL not in dm
    assert not any(ids.REVEAL in c.raw for c in bot.slack.calls)
    bot.click(ids.REVEAL, rid, OWNER, channel=OWNER)
    assert wait_ephemeral(bot, OWNER, "shown to nobody: there is nothing to reveal")

    # Roll back on the button: only the owner or an approver; the new key is deleted, the old one kept, and the
    # places that hold the deleted key are named.
    bot.click(ids.ROLLBACK, rid, MALLORY, channel=MALLORY)
    assert wait_ephemeral(bot, MALLORY, "Only the rotation's owner or an approver can roll it back")
    bot.click(ids.ROLLBACK, rid, OWNER, channel=OWNER)
    reply = wait_ephemeral(bot, OWNER, f"Rotation {rid} is rolled back")
    assert f"SSM {SSM_NAME}" in reply and "GitHub" in reply and "hold the deleted key" in reply
    assert user_keys(iam) == {old_id: "Active"}
    assert bot.services.rotations.get(rid).state is S.ROLLED_BACK


def test_a_policy_deny_wins_over_the_schedule(
    make_services: Callable[..., Services], aws: None, iam, github: FakeGitHub, clock: TestClock, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "rules:\n"
        "  - name: frozen-ci\n    operations: [rotate]\n    deny: CI keys are frozen this week\n"
        "  - name: default\n    approvers: [UBOSS]\n"
    )
    services = make_services(**env(tmp_path, github, POLICY_FILE=str(policy)))
    old_id, _ = machine_user(iam, clock.now, age_days=31)
    summary = services.scheduled_rotations.run()
    assert user_keys(iam) == {old_id: "Active"} and rotation_of(services) is None  # nothing made, nothing filed
    assert summary.skipped == [f"{USER}: policy rule `frozen-ci` denies it: CI keys are frozen this week"]
    refusals = [e for e in services.audit.all() if e.action == "refused" and e.iam_user == USER]
    assert refusals and "frozen-ci" in refusals[0].detail
