"""Slack text as a reader sees it when Slack cannot format dates: each `<!date^…|fallback>` as its fallback."""

from __future__ import annotations

import json
import re
from typing import Any

SLACK_DATE = re.compile(r"<!date\^(\d+)\^([^|>]+)\|([^>]*)>")


def fallback_text(text: str) -> str:
    """`text` with each Slack date token replaced by its fallback (the UTC time), as older clients show it."""
    return SLACK_DATE.sub(lambda m: m.group(3), text)


def slack_dates(text: str) -> list[tuple[int, str, str]]:
    """Every Slack date token in `text`: (Unix time, format, fallback)."""
    return [(int(m.group(1)), m.group(2), m.group(3)) for m in SLACK_DATE.finditer(text)]


def texts_in(node: object, *, json_strings: bool = False) -> list[str]:
    """Every `text` string under `node` (a message, its blocks or a view), in order; with `json_strings`, strings
    holding JSON are read too (blocks and views travel as JSON strings)."""
    texts: list[str] = []

    def walk(node: object) -> None:
        if json_strings and isinstance(node, str) and node[:1] in "[{":
            walk(json.loads(node))
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    texts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(node)
    return texts


def message_text(message: dict[str, Any]) -> str:
    """Every text a message or view asks Slack to show: its fallback and its blocks' (or view's) texts."""
    texts = [message.get("text") if isinstance(message.get("text"), str) else ""]
    texts += texts_in(message.get("blocks") or [], json_strings=True)
    texts += texts_in(message.get("view") or {}, json_strings=True)
    return "\n".join(t for t in texts if t)
