"""Slack's user and user group ids: one shape, read by the payload checks at the edge, the settings, the policy
file, owner tags and mentions.

Slack issues user ids as U (W on Enterprise Grid) and user group ids as S, followed by upper-case letters and
digits; they are 9 to 11 characters today. Slack has lengthened its ids before (U + 8 became U + 10), so 2 to 20
after the prefix are accepted: room for the next growth, while an id an attacker chose stays a short, inert word.
"""

from __future__ import annotations

import re

USER_ID = re.compile(r"\A[UW][A-Z0-9]{2,20}\Z")
GROUP_ID = re.compile(r"\AS[A-Z0-9]{2,20}\Z")


def is_user_id(value: str) -> bool:
    """A Slack user id (U…, W…), exactly as Slack writes it (upper case)."""
    return USER_ID.match(value) is not None


def is_group_id(value: str) -> bool:
    """A Slack user group id (S…), exactly as Slack writes it (upper case)."""
    return GROUP_ID.match(value) is not None
