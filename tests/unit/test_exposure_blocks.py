"""Exposure messages: masked in public, buttons only where Keywarden can act."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.slack import ids
from bot.slack.messages.exposures import (
    ExposedKey,
    ExposureFacts,
    build_exposure_alert,
    build_owner_dm,
    build_poster_dm,
    build_thread_reply,
)
from bot.slack.messages.key_changes import ChangeFacts, build_key_changed

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OURS = ExposedKey("AKIAZ2N6KQXJ7PLMWXYZ", "prod", "ci", "111111111111", "UALICE")
THEIRS = ExposedKey("AKIAQQQQQQQQQQQQABCD", aws_account_id="999999999999")
TEMPORARY = ExposedKey("ASIAZ2N6KQXJ7PLMWXYZ", "prod", None, "111111111111")


def facts(*keys: ExposedKey, deleted: bool = False) -> ExposureFacts:
    return ExposureFacts(
        "slack", list(keys), NOW, "CWORK", "UDAVE", "https://acme.slack.com/archives/CWORK/p1", deleted
    )


def action_ids(blocks: list) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_public_places_show_the_key_masked() -> None:
    for text, blocks in (build_thread_reply(facts(OURS)), build_poster_dm(facts(OURS))):
        dumped = text + json.dumps(blocks, ensure_ascii=False)
        assert "AKIA…WXYZ" in dumped and OURS.key_id not in dumped and "prod:ci" in dumped
    assert "Delete this message" in build_thread_reply(facts(OURS))[0]
    assert "I deleted it" in build_thread_reply(facts(OURS, deleted=True))[0]


def test_buttons_only_for_keys_keywarden_manages() -> None:
    _, blocks = build_exposure_alert(facts(OURS, THEIRS, TEMPORARY))
    assert action_ids(blocks) == [ids.EXPOSURE_DEACTIVATE, ids.EXPOSURE_ROTATE]
    dumped = json.dumps(blocks)
    assert "999999999999" in dumped and "not managed by Keywarden" in dumped and "temporary" in dumped
    assert action_ids(build_owner_dm(facts(OURS), [OURS])[1]) == [ids.EXPOSURE_DEACTIVATE, ids.EXPOSURE_ROTATE]
    deactivate = next(e for b in blocks if b["type"] == "actions" for e in b["elements"])
    assert (
        deactivate["text"]["text"] == "Deactivate now"
        and "confirm" in deactivate
        and deactivate["value"] == "prod|" + OURS.key_id
    )


def test_key_changed_outside() -> None:
    change = ChangeFacts(
        "UpdateAccessKey",
        OURS.key_id,
        "prod",
        "111111111111",
        "ci",
        "Inactive",
        "arn:aws:iam::111111111111:user/bob",
        "203.0.113.7",
        NOW,
        "UALICE",
        "Rotation R-ABCDEF moved on: grace → old_key_deactivated.",
    )
    text, blocks = build_key_changed(change)
    assert text == f"Key `{OURS.key_id}` of *prod:ci* was deactivated outside Keywarden"
    assert "user/bob" in blocks[0]["text"]["text"] and "R-ABCDEF" in blocks[0]["text"]["text"]
