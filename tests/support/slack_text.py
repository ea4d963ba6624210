"""Slack text as a reader sees it when Slack cannot format dates: each `<!date^…|fallback>` as its fallback."""

from __future__ import annotations

import re

SLACK_DATE = re.compile(r"<!date\^(\d+)\^([^|>]+)\|([^>]*)>")


def fallback_text(text: str) -> str:
    """`text` with each Slack date token replaced by its fallback (the UTC time), as older clients show it."""
    return SLACK_DATE.sub(lambda m: m.group(3), text)


def slack_dates(text: str) -> list[tuple[int, str, str]]:
    """Every Slack date token in `text`: (Unix time, format, fallback)."""
    return [(int(m.group(1)), m.group(2), m.group(3)) for m in SLACK_DATE.finditer(text)]
