"""Fixtures for the service tests: the real services with in-memory AWS and Slack, on a SQLite database."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.fake_iam import FakeAwsGateway
from tests.support.flows import BOSS, CARL, REQUESTER
from tests.support.harness import TestClock
from tests.support.service_world import ServiceWorld, build_world


@pytest.fixture
def make_world(sqlite_url: str, clock: TestClock) -> Iterator[Callable[..., ServiceWorld]]:
    """Build the services with extra settings (`SECRET_DELIVERY="secretsmanager"`), or with another world's
    AWS (`aws=world.aws`); all share one database and one clock."""
    made: list[ServiceWorld] = []

    def make(aws: FakeAwsGateway | None = None, **env: str) -> ServiceWorld:
        made.append(build_world(sqlite_url, clock, aws, **env))
        return made[-1]

    yield make
    for world in made:
        world.close()


@pytest.fixture
def world(make_world: Callable[..., ServiceWorld]) -> ServiceWorld:
    """The default settings; the requester, Alice, owns IAM user `ci`, who has no keys yet."""
    made = make_world()
    made.directory.add_person(REQUESTER, email="alice@example.com")
    for approver in (BOSS, CARL):
        made.directory.add_person(approver, email=f"{approver.lower()}@example.com")
    made.iam.add_user("ci", owner="alice@example.com")
    return made
