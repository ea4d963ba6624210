"""Block Kit as Slack checks it: the fake Slack refuses what slack_sdk's models refuse, with Slack's error codes.

chat.postMessage / chat.update / chat.postEphemeral / a response_url with bad `blocks` answer `invalid_blocks`;
views.open / update / push / publish with a bad view answer `invalid_arguments`; both name the problem in
`response_metadata.messages`, as Slack does.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"})
VIEW_METHODS = frozenset({"views.open", "views.update", "views.push", "views.publish"})
MAX_MESSAGE_BLOCKS = 50


def refusal(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's answer to a call whose Block Kit it would refuse; None when it would take it."""
    if method in MESSAGE_METHODS and "blocks" in params:
        problem = _blocks_problem(_decoded(params["blocks"]))
        return None if problem is None else _error("invalid_blocks", problem)
    if method in VIEW_METHODS:
        problem = _view_problem(_decoded(params.get("view")))
        return None if problem is None else _error("invalid_arguments", problem)
    return None


def _decoded(value: Any) -> Any:
    """Form-encoded calls send blocks and views as JSON strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _blocks_problem(blocks: Any) -> str | None:
    if not isinstance(blocks, list):
        return "blocks must be a list of blocks"
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        return f"no more than {MAX_MESSAGE_BLOCKS} blocks in a message ({len(blocks)} given)"
    for i, raw in enumerate(blocks):
        problem = _block_problem(raw)
        if problem:
            return f"blocks[{i}]: {problem}"
    return None


def _block_problem(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return "a block must be an object"
    try:
        block = Block.parse(raw)
        if block is None:
            return f"unknown block type {raw.get('type')!r}"
        block.to_dict()  # validates the block and, through to_dict, every element and text inside it
    except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as e:
        return str(e) or type(e).__name__
    return None


def _view_problem(view: Any) -> str | None:
    if not isinstance(view, dict):
        return "view must be an object"
    try:
        View(**view).to_dict()  # the view, its blocks and everything in them
    except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as e:
        return str(e) or type(e).__name__
    return None


def _error(code: str, problem: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "response_metadata": {"messages": [f"[ERROR] {problem}"]}}
