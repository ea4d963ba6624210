"""Every mutating path, tried by someone who may not take it: refused with a message, nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot import ids
from bot.db import Base
from bot.domain.requests import Status
from tests.integration.test_approvals import filed_id, wait_status
from tests.integration.test_scan import make_key, tagged
from tests.support.harness import BotServer

ALICE, BOB, BOSS, MALLORY = "UALICE", "UBOB", "UBOSS", "UMALLORY"


class World:
    def __init__(self, bot: BotServer, iam) -> None:
        self.bot, self.iam = bot, iam
        bot.slack.add_user(ALICE, email="alice@example.com")
        bot.slack.add_user(BOB, email="bob@example.com")
        bot.slack.add_user(MALLORY, email="mallory@example.com")
        tagged(iam, "alice-ci", owner="alice@example.com")
        tagged(iam, "bob-ci", owner="bob@example.com")
        now = bot.services.clock()
        self.alice_key = make_key(iam, "alice-ci", 100, now)
        self.bob_key = make_key(iam, "bob-ci", 10, now)
        bot.command("create alice-ci", user_id=ALICE)
        self.alice_request = filed_id(bot, 1)
        bot.click(ids.APPROVE, self.alice_request, BOSS)
        wait_status(bot, self.alice_request, Status.APPROVED)
        bot.command(f"deactivate {self.bob_key}", user_id=BOB)
        self.bob_request = filed_id(bot, 2)
        bot.services.scan(post=False)

    def snapshot(self) -> tuple[str, str]:
        self.bot.work.idle()
        with self.bot.services.db.session() as s:
            rows = "\n".join(repr(sorted(map(repr, s.execute(select(t)).all()))) for t in Base.metadata.sorted_tables)
        keys = json.dumps(
            [self.iam.list_access_keys(UserName=u)["AccessKeyMetadata"] for u in ("alice-ci", "bob-ci")], default=str
        )
        return rows, keys


def _deny_modal(w: World, user: str) -> None:
    w.bot.submit_view(
        ids.DENY_MODAL,
        {ids.BLOCK_REASON: {ids.INPUT: {"value": "no"}}},
        user,
        json.dumps({"request_id": w.bob_request}),
    )


CASES: dict[str, tuple[Callable[[World], object], str, str]] = {
    "approve by a non-approver": (
        lambda w: w.bot.click(ids.APPROVE, w.bob_request, MALLORY),
        MALLORY,
        "Only approvers",
    ),
    "approve own request": (lambda w: w.bot.click(ids.APPROVE, w.bob_request, BOB), BOB, "cannot approve your own"),
    "deny by a non-approver": (lambda w: w.bot.click(ids.DENY, w.bob_request, MALLORY), MALLORY, "Only approvers"),
    "deny own request": (lambda w: w.bot.click(ids.DENY, w.bob_request, BOB), BOB, "cannot decide your own"),
    "deny form by a non-approver": (lambda w: _deny_modal(w, MALLORY), MALLORY, "Only approvers"),
    "deny form on own request": (lambda w: _deny_modal(w, BOB), BOB, "cannot decide your own"),
    "reveal by a stranger": (
        lambda w: w.bot.click(ids.REVEAL, w.alice_request, MALLORY),
        MALLORY,
        "Only the requester",
    ),
    "reveal of another's request": (lambda w: w.bot.click(ids.REVEAL, w.alice_request, BOB), BOB, "Only the requester"),
    "reveal button with another request's id": (
        lambda w: w.bot.click(ids.REVEAL, w.bob_request, ALICE),
        ALICE,
        "Only the requester",
    ),
    "cancel another's request": (
        lambda w: w.bot.command(f"cancel {w.bob_request}", ALICE),
        ALICE,
        "You have no request",
    ),
    "deactivate --now by a stranger": (
        lambda w: w.bot.command(f"deactivate {w.alice_key} --now", MALLORY),
        MALLORY,
        "Only the key's owner or an approver",
    ),
    "snooze another's key": (
        lambda w: w.bot.click(ids.ALERT_SNOOZE, f"default|{w.alice_key}", MALLORY),
        MALLORY,
        "Only the key's owner or an approver",
    ),
    "audit by a non-approver": (lambda w: w.bot.command("audit", MALLORY), MALLORY, "Only approvers"),
    "scan by a non-approver": (lambda w: w.bot.command("scan", MALLORY), MALLORY, "Only approvers can run a scan"),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_and_nothing_changed(bot: BotServer, iam, case: str) -> None:
    world = World(bot, iam)
    act, who, words = CASES[case]
    before = world.snapshot()
    act(world)
    world.bot.work.idle()
    told = [c.raw for c in bot.slack.calls if c.path.endswith(who) or c.params.get("channel") == who]
    assert any(words in t for t in told), told
    assert world.snapshot() == before
