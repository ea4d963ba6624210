"""The posture in words: three lines of summary for the alert channel (with the chart), and the chart's title."""

from __future__ import annotations

from typing import Any

from bot.domain.posture import CREATED, REPLACED_BY_ROLE, RETIRED, Trend
from bot.slack.messages.common import escape, plural


def chart_title(days: int) -> str:
    return f"Access key posture, last {days} days"


def summary_lines(trend: Trend, days: int) -> list[str]:
    """Where things stand, how they moved in the window, and the oldest key."""
    latest, first = trend.latest, trend.first
    if latest is None or first is None:
        return [
            f"No scan was recorded in the last {days} days.",
            "Run `python -m bot scan`, or wait for the scheduled scan.",
            "The chart fills in from the next scan on.",
        ]
    severity = latest.get("findings_by_severity", {})
    worst = ", ".join(f"{severity[s]} {s}" for s in ("critical", "high") if severity.get(s))
    over = sum(
        n for label, n in latest.get("key_ages", {}).items() if label in ("91-180 days", "181-365 days", "over a year")
    )
    now_line = (
        f"Now: {plural(latest.get('findings', 0), 'finding')}"
        + (f" ({worst})" if worst else "")
        + f" on {plural(latest.get('active_keys', 0), 'active key')}; "
        + f"{over} older than 90 days, {latest.get('unowned_keys', 0)} without an owner."
    )
    fixed, median = trend.fixed()
    change = latest.get("findings", 0) - first.get("findings", 0)
    moved = f"{first.get('findings', 0)} → {latest.get('findings', 0)} findings ({change:+d})"
    trend_line = (
        f"Last {days} days: {moved}; {plural(trend.rotations_done(), 'rotation')} done; "
        + f"{plural(fixed, 'finding')} fixed"
        + (f", in {median:g} days (median)" if median is not None else "")
        + _way_down(trend)
        + "."
    )
    return [now_line, trend_line, _oldest_line(latest.get("oldest", []))]


def _way_down(trend: Trend) -> str:
    """The keys created, replaced by roles and retired in the window; nothing when none was."""
    way = trend.way_down()
    if not any(way.values()):
        return ""
    return (
        f"; {plural(way[CREATED], 'key')} created, {way[REPLACED_BY_ROLE]} replaced by a role, "
        + f"{way[RETIRED]} retired"
    )


def _oldest_line(oldest: list[dict[str, Any]]) -> str:
    if not oldest:
        return "No active keys."
    key = oldest[0]
    who = escape(str(key.get("owner") or "no owner"))
    name = escape(f"{key.get('account')}:{key.get('user')}")
    key_id = f" (`{key['key_id']}`)" if key.get("key_id") else ""
    return f"Oldest active key: {name}{key_id}, {key.get('age_days')} days old, {who}."


def chart_comment(lines: list[str], *, weekly: bool) -> str:
    """The file's message: a heading and the three lines."""
    heading = "*Weekly access key posture*" if weekly else "*Access key posture*"
    return "\n".join([heading, *lines])
