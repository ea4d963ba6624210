"""What a Slack guest is told: guests get `help` and nothing else (bot/access.py)."""

from __future__ import annotations

from typing import Any

GUEST_ONLY = "Slack guests can only use `{command} help`. Ask a full member of the workspace for anything else."
UNKNOWN = "Slack did not say who you are just now, so nothing was done. Try again in a moment."


def refusal(guest: bool | None, command: str) -> str:
    """The one line for a guest (True), or for someone Slack did not describe just now (None)."""
    return GUEST_ONLY.format(command=command) if guest else UNKNOWN


def guest_home(text: str) -> dict[str, Any]:
    """The App Home a guest sees."""
    return {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
