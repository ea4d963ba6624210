"""The fake Slack refuses Block Kit as Slack does (slack_sdk's models decide), with Slack's error codes."""

from __future__ import annotations

import pytest

from tests.support.block_kit import refusal

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "fine"}}
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Request"}, "blocks": [SECTION]}


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "text attribute cannot exceed"),
        ([{"type": "bogus"}], "unknown block type"),
        ([SECTION] * 51, "no more than 50 blocks"),
        ('[{"type": "section"', "a list of blocks"),
        (
            [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}]}],
            "cannot exceed 75 characters",
        ),
    ],
)
def test_messages_with_blocks_slack_refuses_are_refused(blocks: object, problem: str) -> None:
    answer = refusal("chat.postMessage", {"channel": "C1", "blocks": blocks})
    assert answer is not None and answer["ok"] is False and answer["error"] == "invalid_blocks"
    assert problem in answer["response_metadata"]["messages"][0]


def test_good_blocks_and_views_pass_in_json_or_as_form_strings() -> None:
    assert refusal("chat.postMessage", {"blocks": [SECTION]}) is None
    assert refusal("chat.update", {"blocks": '[{"type": "divider"}]'}) is None
    assert refusal("views.publish", {"view": {"type": "home", "blocks": [SECTION]}}) is None
    assert (
        refusal(
            "views.open",
            {
                "view": '{"type": "modal", "title": {"type": "plain_text", "text": "x"}, '
                '"blocks": [{"type": "divider"}]}'
            },
        )
        is None
    )
    assert refusal("chat.postMessage", {"text": "no blocks at all"}) is None


def test_views_slack_refuses_are_refused() -> None:
    too_long_title = MODAL | {"title": {"type": "plain_text", "text": "x" * 25}}
    bad_block = MODAL | {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}
    for view in (too_long_title, bad_block, MODAL | {"blocks": []}):
        answer = refusal("views.open", {"view": view})
        assert answer is not None and answer["error"] == "invalid_arguments", view
