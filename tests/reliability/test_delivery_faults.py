"""Delivered rotation under faults: a location answering 403, 500 or not at all mid-delivery, every readable location
refusing, and crashes between creating the key and delivering it and between delivering it and the cut-over.

Whatever happens: the old key stays active until the cut-over, the user ends with exactly one new key, every location
ends with that same key, and the secret is in no Slack message, database row or log line. Crashes are simulated in
this process: the step raises (a BaseException, as a killed process stops everything), then the clock's recovery runs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.bootstrap import Services
from bot.domain.requests import Request, Status
from bot.domain.rotation import RotationState
from bot.entrypoints.housekeeping import run_once
from bot.locations.base import refused
from bot.services import delivered_rotations
from bot.services.approvals.located import LocationDelivery
from bot.services.delivered_cutover import Cutovers
from bot.store.requests import RequestStore
from tests.support.delivered import (
    OWNER,
    REPO,
    SECRET_NAME,
    SSM_NAME,
    Consumers,
    assert_nowhere,
    env,
    everywhere,
    machine_user,
    repository_on_github,
    rotation_of,
    use,
    user_keys,
)
from tests.support.fake_github import FakeGitHub
from tests.support.fake_slack import FakeSlack

if TYPE_CHECKING:
    from tests.support.harness import TestClock  # a class named Test…: not imported where pytest collects

S = RotationState
GITHUB, SSM, SECRETS = f"GitHub {REPO}", f"SSM {SSM_NAME}", f"Secrets Manager {SECRET_NAME}"


class Crash(BaseException):
    """The process dies here: nothing after this line runs, no handler catches it."""


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with repository_on_github() as fake:
        yield fake


@dataclasses.dataclass
class World:
    services: Services
    slack: FakeSlack
    consumers: Consumers
    iam: Any
    clock: TestClock
    old_id: str
    old_secret: str

    def rotate(self) -> None:
        """The scheduled run (the user's key is due); a crash inside it is the test's to expect."""
        self.services.scheduled_rotations.run()

    def recover(self) -> None:
        """Later, the clock's periodic work: crash recovery, retries, cut-overs."""
        self.clock.advance(minutes=11)  # past RECONCILE_AFTER_MINUTES
        assert run_once(self.services).failed == []

    def request(self, request_id: str) -> Request:
        found = RequestStore(self.services.db, self.clock, self.services.audit).get(request_id)
        assert found is not None
        return found

    def one_new_key_everywhere(self) -> tuple[str, str]:
        """Exactly one new key, active beside the old one, and every consumer reads it. Returns it."""
        r = rotation_of(self.services)
        assert r is not None and r.state is S.DELIVERED, r
        assert user_keys(self.iam) == {self.old_id: "Active", r.new_key_id: "Active"}
        [(key_id, secret)] = self.consumers.everyone()
        assert key_id == r.new_key_id
        return key_id, secret


@pytest.fixture
def world(
    make_services: Callable[..., Services], aws: None, iam, github: FakeGitHub, clock: TestClock, tmp_path: Path,
    slack: FakeSlack, caplog: pytest.LogCaptureFixture,
) -> World:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    services = make_services(**env(tmp_path, github))
    consumers = Consumers(github)
    old_id, old_secret = machine_user(iam, clock.now, age_days=31)
    consumers.hold(old_id, old_secret)
    return World(services, slack, consumers, iam, clock, old_id, old_secret)


def faulty(
    monkeypatch: pytest.MonkeyPatch, services: Services, place: str, error: BaseException, *, method: str = "write"
) -> list[int]:
    """`place`'s `method` raises `error` (once each time the returned counter is raised above 0)."""
    left = [1]
    real_open = services.locations.open

    def open_(account: str, user: str, spec: Any) -> Any:
        location = real_open(account, user, spec)
        if spec.describe() != place:
            return location
        real = getattr(location, method)

        def failing(*args: Any) -> Any:
            if left[0] > 0:
                left[0] -= 1
                raise error
            return real(*args)

        setattr(location, method, failing)
        return location

    monkeypatch.setattr(services.locations, "open", open_)
    return left


# A location refusing or failing mid-delivery
@pytest.mark.parametrize(
    ("fault", "said", "retry_minutes"),
    [("403", "refused permission (403)", 60), ("500", "answered 500", 5), ("timeout", "did not answer within", 5)],
)
def test_a_location_failing_mid_delivery_leaves_everything_working_says_where_and_is_retried(
    world: World, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    fault: str, said: str, retry_minutes: int,
) -> None:  # fmt: skip
    if fault == "timeout":  # GitHub holds the connection; the client gives up after its timeout
        short = dataclasses.replace(world.services.locations._reach, timeout=0.3)
        monkeypatch.setattr(world.services.locations, "_reach", short)
        github.hang(where=REPO)
    else:
        github.fail(int(fault), {"message": "no"}, where=REPO)
    world.rotate()
    r = rotation_of(world.services)
    assert r is not None and r.state is S.DELIVERY_FAILED and GITHUB in (r.note or "") and said in (r.note or "")
    assert r.next_check_at == world.clock.now + timedelta(minutes=retry_minutes)  # backed off: later for a refusal
    for channel in (OWNER, "CALERTS"):  # the owner and the alert channel are told where
        assert any(GITHUB in m.raw and said in m.raw for m in world.slack.posts_to(channel))
    # The old key works on; the places already written hold the new key (both keys active); GitHub the old one.
    assert user_keys(world.iam) == {world.old_id: "Active", r.new_key_id: "Active"}
    assert world.consumers.ssm()[0] == world.consumers.secrets_manager()[0] == r.new_key_id
    assert world.consumers.workflow() == (world.old_id, world.old_secret)
    github.heal()
    world.clock.advance(minutes=retry_minutes)
    world.services.scheduled_rotations.advance()
    key_id, secret = world.one_new_key_everywhere()
    assert key_id == r.new_key_id  # sent on from SSM: the same key, not a second one
    assert_nowhere(secret, everywhere(world.services, world.slack, caplog.text, {"to GitHub": github.traffic()}))


def test_when_no_readable_place_takes_the_key_none_gets_it_and_the_retry_starts_again_with_a_fresh_key(
    world: World, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SSM and Secrets Manager both refuse: GitHub is not written either (a key no readable place holds could not be
    sent on later), so no consumer has the new key; the retry deletes it and delivers a fresh one."""
    for place in (SSM, SECRETS):
        faulty(monkeypatch, world.services, place, refused(place, 403, "AccessDeniedException", {}))
    world.rotate()
    first = rotation_of(world.services)
    assert first is not None and first.state is S.DELIVERY_FAILED
    assert "waits until a place that can be read back holds the new key" in (first.note or "")
    assert world.consumers.everyone() == {(world.old_id, world.old_secret)}  # every consumer on the old key
    world.clock.advance(hours=1)
    world.services.scheduled_rotations.advance()
    key_id, secret = world.one_new_key_everywhere()
    assert key_id != first.new_key_id  # the first new key is gone: exactly one new key
    assert_nowhere(secret, everywhere(world.services, world.slack, caplog.text, {"to GitHub": github.traffic()}))


# Crashes between creating the key and delivering it
def crash_before_the_rotation_is_stored(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    monkeypatch.setattr(delivered_rotations.DeliveredRotations, "begin", _crash)


def crash_before_any_place_is_written(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    real = delivered_rotations.write_all
    calls = [0]

    def write_all(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise Crash
        return real(*args)

    monkeypatch.setattr(delivered_rotations, "write_all", write_all)


def crash_after_ssm_was_written(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    faulty(monkeypatch, world.services, SECRETS, Crash())


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "crash", [crash_before_the_rotation_is_stored, crash_before_any_place_is_written, crash_after_ssm_was_written]
)
def test_a_crash_between_creating_the_key_and_delivering_it(
    world: World, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    crash: Callable[[pytest.MonkeyPatch, World], None],
) -> None:  # fmt: skip
    crash(monkeypatch, world)
    with pytest.raises(Crash):
        world.rotate()
    made = set(user_keys(world.iam)) - {world.old_id}
    assert len(made) == 1  # the key was made, then the process died
    monkeypatch.undo()  # the next process runs the real code
    world.recover()
    key_id, secret = world.one_new_key_everywhere()
    if crash is crash_after_ssm_was_written:
        assert {key_id} == made  # SSM held it: sent on from there, not made again
    else:
        assert key_id not in made  # nothing held it, nobody could have: deleted, and a fresh one delivered
    request = world.request(rotation_of(world.services).id)
    assert request.status is Status.SUCCEEDED and request.new_key_id == key_id
    assert_nowhere(secret, everywhere(world.services, world.slack, caplog.text, {"to GitHub": github.traffic()}))


# A crash between delivering the key and the cut-over
@pytest.mark.both_databases
def test_a_crash_after_delivery_and_one_while_switching_off_each_step_happens_once(
    world: World, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(LocationDelivery, "_finish", _crash)  # delivered, but the request never recorded it
    with pytest.raises(Crash):
        world.rotate()
    r = rotation_of(world.services)
    assert r is not None and r.state is S.DELIVERED
    monkeypatch.undo()
    world.recover()
    request = world.request(r.id)
    assert request.status is Status.SUCCEEDED and request.new_key_id == r.new_key_id
    key_id, secret = world.one_new_key_everywhere()

    # The consumer moves; the old key goes quiet; the process dies right after AWS switched the old key off.
    use(key_id, secret, world.clock.advance(hours=1))
    world.clock.advance(hours=25)
    monkeypatch.setattr(Cutovers, "_switched_off", _crash)
    with pytest.raises(Crash):
        world.services.scheduled_rotations.advance()
    assert user_keys(world.iam)[world.old_id] == "Inactive"
    assert world.services.rotations.get(r.id).state is S.SWITCHING_OFF
    monkeypatch.undo()
    world.recover()
    done = world.services.rotations.get(r.id)
    assert done.state is S.OLD_KEY_DEACTIVATED and done.delete_after is not None
    actions = [e.action for e in world.services.audit.all() if e.request_id == r.id]
    assert actions.count("rotation_deactivated") == 1 and actions.count("executed") == 1
    assert_nowhere(secret, everywhere(world.services, world.slack, caplog.text, {"to GitHub": github.traffic()}))


def _crash(*args: Any, **kwargs: Any) -> Any:
    raise Crash
