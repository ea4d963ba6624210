"""A secret access key typed into Keywarden's own command or forms: refused before anything is stored, posted or
echoed, and answered as an exposure when a key id is beside it. Signed requests into the real app, moto, fake Slack."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select

from bot.slack import ids
from bot.store.models import AuditEvent, Base, Exposure, KeyRequest
from tests.support.flows import buttons, filed_id, request
from tests.support.harness import BotServer

OWNER, TYPIST, BOSS = "UALICE", "UDAVE", "UBOSS"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY+XAMPLEKEY"  # 40 characters, with "/" and "+"


def pieces(secret: str = SECRET) -> list[str]:
    """Every 8-character piece of the secret, as itself and as Slack's JSON writes it."""
    found = [secret[i : i + 8] for i in range(len(secret) - 7)]
    return found + [p.replace("/", "\\/") for p in found if "/" in p]


def dump_tables(bot: BotServer) -> str:
    with bot.services.db.session() as session:
        return "\n".join(
            repr(row) for table in Base.metadata.sorted_tables for row in session.execute(select(table)).all()
        )


def assert_no_piece_anywhere(bot: BotServer, caplog: pytest.LogCaptureFixture, *answers: str) -> None:
    places = {"slack calls": bot.slack.all_text(), "tables": dump_tables(bot), "logs": caplog.text}
    places |= {f"answer {n}": a for n, a in enumerate(answers)}
    for where, text in places.items():
        for piece in pieces():
            assert piece not in text, f"{piece!r} of the secret leaked into {where}"


def count(bot: BotServer, model) -> int:
    with bot.services.db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def exposures(bot: BotServer) -> list[Exposure]:
    with bot.services.db.session() as session:
        return list(session.scalars(select(Exposure).order_by(Exposure.id)))


def audited(bot: BotServer, action: str) -> list[AuditEvent]:
    with bot.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def ci_key(bot: BotServer, ci_user: str) -> str:
    """Alice's `ci` key (tests/support/flows.py), and Dave in the workspace."""
    bot.slack.add_user(TYPIST, email="dave@example.com")
    return ci_user


def assert_exposure_response(bot: BotServer, key_id: str, typist: str, place: str) -> None:
    """The alert and the owner's DM with Deactivate now and Rotate, one exposure row and its audit event."""
    alert = bot.slack.wait_posts("CALERTS")[0]
    bot.work.idle()
    assert f"`{key_id}` of *ci*" in alert.raw and "default:" not in alert.raw  # one account: no prefix
    assert "Critical" in alert.raw and typist in alert.raw
    assert buttons(alert) == [
        (ids.EXPOSURE_DEACTIVATE, f"default|{key_id}"),
        (ids.EXPOSURE_ROTATE, f"default|{key_id}"),
    ]
    [owner_dm] = bot.slack.posts_to(OWNER)
    assert buttons(owner_dm) == buttons(alert) and "typed with its secret into" in owner_dm.raw
    [row] = exposures(bot)
    assert (row.key_id, row.source, row.poster, row.owner) == (key_id, "typed", typist, OWNER)
    assert row.origin.startswith(f"typed/{place}/") and row.done_at is not None
    [event] = audited(bot, "exposed")
    assert (event.actor, event.key_id, event.detail) == (typist, key_id, f"source typed, into {place}, by {typist}")
    assert bot.slack.posts_to("CWORK", in_thread=True) == []  # no Slack message to reply under


@pytest.mark.parametrize(
    "reason",
    [
        f"aws_secret_access_key={SECRET}",
        f"AWS_SECRET_ACCESS_KEY: {SECRET}",
        f"leaked, the secret was {SECRET}",  # bare, next to the key id
    ],
)
def test_a_secret_in_a_command_reason_files_nothing_and_is_an_exposure(
    bot: BotServer, ci_key: str, iam, caplog, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = bot.command(f"deactivate {ci_key} --now {reason}", user_id=TYPIST)
    answer = reply.json()["text"]
    assert "looks like an AWS secret access key, so nothing was done" in answer
    assert f"`{ci_key}` is treated as exposed" in answer and "Never paste a secret" in answer
    assert_exposure_response(bot, ci_key, TYPIST, "command")
    assert iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Active"  # --now did not run
    assert count(bot, KeyRequest) == 0 and bot.slack.posts_to("CAPPROVE") == []
    assert bot.slack.calls_to("response_url") == []  # the ack said it all
    assert_no_piece_anywhere(bot, caplog, reply.body)


def test_check_with_the_secret_never_echoes_it_and_is_an_exposure(bot: BotServer, ci_key: str, caplog) -> None:
    """It used to answer "Problems with how `<key id> <first 19 characters of the secret>` is written"."""
    caplog.set_level(logging.DEBUG)
    reply = bot.command(f"check {ci_key} {SECRET}", user_id=OWNER)
    assert "nothing was done and none of it was kept" in reply.json()["text"]
    alert = bot.slack.wait_posts("CALERTS")[0]
    assert ci_key in alert.raw
    bot.work.idle()
    assert [r.source for r in exposures(bot)] == ["typed"]
    assert_no_piece_anywhere(bot, caplog, reply.body)


def test_a_secret_without_a_key_id_is_refused_and_audited_with_no_alert(bot: BotServer, ci_key: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    reply = bot.command(f"create ci for the deploy, old one was {SECRET}", user_id=TYPIST)
    answer = reply.json()["text"]
    assert "nothing was done" in answer and "Treat its key as exposed" in answer
    bot.work.idle()
    assert count(bot, KeyRequest) == 0 and exposures(bot) == [] and bot.slack.calls_to("chat.postMessage") == []
    [refused] = audited(bot, "refused")
    assert (refused.actor, refused.detail) == (
        TYPIST,
        "typed into command: what looks like a secret access key; none of it was kept",
    )
    assert_no_piece_anywhere(bot, caplog, reply.body)


@pytest.mark.parametrize("command", [f"cancel {SECRET}", SECRET, f"list {SECRET}", f"frobnicate {SECRET}"])
def test_a_secret_anywhere_in_the_command_is_never_echoed(bot: BotServer, ci_key: str, caplog, command: str) -> None:
    caplog.set_level(logging.DEBUG)
    reply = bot.command(command, user_id=TYPIST)
    assert "looks like an AWS secret access key" in reply.json()["text"]
    bot.work.idle()
    assert_no_piece_anywhere(bot, caplog, reply.body)


def _form(target: str, reason: str) -> dict:
    return {
        ids.BLOCK_OPERATION: {ids.INPUT: {"type": "static_select", "selected_option": {"value": "deactivate"}}},
        ids.BLOCK_TARGET: {ids.INPUT: {"type": "plain_text_input", "value": target}},
        ids.BLOCK_REASON: {ids.INPUT: {"type": "plain_text_input", "value": reason}},
    }


def test_a_secret_in_the_request_form_is_an_inline_error_and_an_exposure(bot: BotServer, ci_key: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    reply = bot.submit_view(ids.REQUEST_MODAL, _form(ci_key, f"aws_secret_access_key = {SECRET}"), TYPIST)
    errors = reply.json()["errors"]
    assert list(errors) == [ids.BLOCK_REASON] and "nothing was saved" in errors[ids.BLOCK_REASON]
    assert_exposure_response(bot, ci_key, TYPIST, "request-form")
    assert count(bot, KeyRequest) == 0 and bot.slack.posts_to("CAPPROVE") == [] and bot.slack.posts_to(TYPIST) == []
    assert_no_piece_anywhere(bot, caplog, reply.body)


@pytest.mark.parametrize("with_key_id", [False, True])
def test_a_secret_in_a_deny_reason_denies_nothing_and_keeps_nothing(
    bot: BotServer, ci_key: str, caplog, with_key_id: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    bot.command(f"deactivate {ci_key} rotating soon", user_id=OWNER)
    rid = filed_id(bot)
    reason = f"use {ci_key} {SECRET} instead" if with_key_id else f"no: the secret is {SECRET}"
    values = {ids.BLOCK_REASON: {ids.INPUT: {"type": "plain_text_input", "value": reason}}}
    reply = bot.submit_view(ids.DENY_MODAL, values, BOSS, private_metadata=json.dumps({"request_id": rid}))
    assert "nothing was saved" in reply.json()["errors"][ids.BLOCK_REASON]
    bot.work.idle()
    assert request(bot, rid).status.value == "pending"
    if with_key_id:
        assert_exposure_response(bot, ci_key, BOSS, "deny-form")
    else:
        assert exposures(bot) == [] and bot.slack.posts_to("CALERTS") == []
        [refused] = audited(bot, "refused")
        assert (refused.actor, refused.detail.split(":")[0]) == (BOSS, "typed into deny-form")
    assert_no_piece_anywhere(bot, caplog, reply.body)
