"""Every mutating path, tried by someone who may not take it: refused with a message, nothing changed but
one `refused` audit event naming who tried what."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.domain.requests import Status
from bot.slack import ids
from bot.store.models import Base
from tests.support.flows import filed_id, make_key, tagged, wait_status
from tests.support.harness import BotServer
from tests.support.processes import ROOT, env_without_bot_settings

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

    def snapshot(self) -> tuple[dict[str, list[str]], str]:
        self.bot.work.idle()
        with self.bot.services.db.session() as s:
            rows = {t.name: sorted(map(repr, s.execute(select(t)).all())) for t in Base.metadata.sorted_tables}
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


@dataclass(frozen=True)
class Case:
    act: Callable[[World], object]
    who: str
    words: str  # in the refusal the person is told
    attempted: str  # what the `refused` audit event says was tried
    target: Callable[[World], str | None] = lambda w: None  # the request or key it names


BOB_REQUEST, ALICE_REQUEST, ALICE_KEY = (lambda w: w.bob_request), (lambda w: w.alice_request), (lambda w: w.alice_key)

CASES: dict[str, Case] = {
    "approve by a non-approver": Case(
        lambda w: w.bot.click(ids.APPROVE, w.bob_request, MALLORY), MALLORY, "Only approvers", "approve", BOB_REQUEST
    ),
    "approve own request": Case(
        lambda w: w.bot.click(ids.APPROVE, w.bob_request, BOB), BOB, "cannot approve your own", "approve", BOB_REQUEST
    ),
    "deny by a non-approver": Case(
        lambda w: w.bot.click(ids.DENY, w.bob_request, MALLORY), MALLORY, "Only approvers", "deny", BOB_REQUEST
    ),
    "deny own request": Case(
        lambda w: w.bot.click(ids.DENY, w.bob_request, BOB), BOB, "cannot decide your own", "deny", BOB_REQUEST
    ),
    "deny form by a non-approver": Case(
        lambda w: _deny_modal(w, MALLORY), MALLORY, "Only approvers", "deny", BOB_REQUEST
    ),
    "deny form on own request": Case(lambda w: _deny_modal(w, BOB), BOB, "cannot decide your own", "deny", BOB_REQUEST),
    "reveal by a stranger": Case(
        lambda w: w.bot.click(ids.REVEAL, w.alice_request, MALLORY),
        MALLORY,
        "Only the requester",
        "reveal",
        ALICE_REQUEST,
    ),
    "reveal of another's request": Case(
        lambda w: w.bot.click(ids.REVEAL, w.alice_request, BOB), BOB, "Only the requester", "reveal", ALICE_REQUEST
    ),
    "reveal button with another request's id": Case(
        lambda w: w.bot.click(ids.REVEAL, w.bob_request, ALICE), ALICE, "Only the requester", "reveal", BOB_REQUEST
    ),
    "cancel another's request": Case(
        lambda w: w.bot.command(f"cancel {w.bob_request}", ALICE), ALICE, "You have no request", "cancel", BOB_REQUEST
    ),
    "deactivate --now by a stranger": Case(
        lambda w: w.bot.command(f"deactivate {w.alice_key} --now", MALLORY),
        MALLORY,
        "Only the key's owner or an approver",
        "deactivate --now",
        ALICE_KEY,
    ),
    "snooze another's key": Case(
        lambda w: w.bot.click(ids.ALERT_SNOOZE, f"default|{w.alice_key}", MALLORY),
        MALLORY,
        "Only the key's owner or an approver",
        "snooze",
        ALICE_KEY,
    ),
    "rotate from an exposure alert by a stranger": Case(
        lambda w: w.bot.click(ids.EXPOSURE_ROTATE, f"default|{w.alice_key}", MALLORY, channel="CALERTS"),
        MALLORY,
        "Only the key's owner or an approver",
        "rotate",
        ALICE_KEY,
    ),
    "rotate from an owner's alert by a stranger": Case(
        lambda w: w.bot.click(ids.ALERT_ROTATE, f"default|{w.alice_key}", MALLORY, channel="CALERTS"),
        MALLORY,
        "Only the key's owner or an approver",
        "rotate",
        ALICE_KEY,
    ),
    "deactivate from an alert by a stranger": Case(
        lambda w: w.bot.click(ids.ALERT_DEACTIVATE, f"default|{w.alice_key}", MALLORY, channel="CALERTS"),
        MALLORY,
        "Only the key's owner or an approver",
        "deactivate",
        ALICE_KEY,
    ),
    "reactivate from an enforcement notice by a stranger": Case(
        lambda w: w.bot.click(ids.ENFORCE_REACTIVATE, f"default|{w.alice_key}", MALLORY, channel="CALERTS"),
        MALLORY,
        "Only the key's owner or an approver",
        "reactivate",
        ALICE_KEY,
    ),
    "audit by a non-approver": Case(lambda w: w.bot.command("audit", MALLORY), MALLORY, "Only approvers", "audit"),
    "scan by a non-approver": Case(
        lambda w: w.bot.command("scan", MALLORY), MALLORY, "Only approvers can run a scan", "scan"
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_and_nothing_changed_but_the_audit(bot: BotServer, iam, case: str) -> None:
    world = World(bot, iam)
    c = CASES[case]
    rows, keys = world.snapshot()
    c.act(world)
    world.bot.work.idle()
    told = [call.raw for call in bot.slack.calls if call.path.endswith(c.who) or call.params.get("channel") == c.who]
    assert any(c.words in t for t in told), told
    after, keys_after = world.snapshot()
    assert keys_after == keys
    assert {t: r for t, r in after.items() if t != "audit_events"} == {
        t: r for t, r in rows.items() if t != "audit_events"
    }
    added = bot.services.audit.all()[len(rows["audit_events"]) :]  # the only change: one `refused` event
    assert [(e.actor, e.action, e.outcome) for e in added] == [(c.who, "refused", "refused")]
    assert added[0].detail.startswith(f"{c.attempted}: ")
    assert c.target(world) in (added[0].request_id, added[0].key_id)


def test_refusals_are_in_the_audit_csv(bot: BotServer, iam, database_url: str) -> None:
    """`python -m bot audit --csv`, as an auditor runs it, lists who tried what and was refused."""
    world = World(bot, iam)
    bot.click(ids.APPROVE, world.bob_request, MALLORY)
    bot.command("scan", MALLORY)
    bot.work.idle()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--csv"],
        cwd=ROOT,
        env=env_without_bot_settings(
            PYTHONPATH=str(ROOT),
            SLACK_BOT_TOKEN="xoxb-1",
            SLACK_SIGNING_SECRET="s",
            DATABASE_URL=database_url,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    refused = [row for row in csv.DictReader(io.StringIO(result.stdout)) if row["action"] == "refused"]
    assert sorted((r["actor"], r["outcome"], r["detail"], r["request_id"]) for r in refused) == [
        (MALLORY, "refused", "approve: not an approver", world.bob_request),
        (MALLORY, "refused", "scan: not an approver", ""),
    ]
