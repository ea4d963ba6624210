"""The posture report: one HTML file that needs nothing else (charts inline as SVG, styles inline, no script, no
address to fetch), for a manager or an auditor to open anywhere."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from bot.domain.posture import SEVERITIES, WAY_DOWN, Trend, title_of
from bot.reports import charts

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #212529; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.8rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #dee2e6; }
.meta { color: #6c757d; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 0.8rem; margin: 1.2rem 0; }
.fact { border: 1px solid #dee2e6; border-radius: 8px; padding: 0.7rem 0.9rem; }
.fact b { display: block; font-size: 1.6rem; }
figure { margin: 1.2rem 0; } figcaption { color: #495057; font-size: 0.95rem; }
table { border-collapse: collapse; width: 100%; margin: 0.8rem 0; }
th, td { text-align: left; padding: 0.35rem 0.6rem; border-bottom: 1px solid #e9ecef; }
th { background: #f8f9fa; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
@media print { figure { break-inside: avoid; } }
"""

CAPTIONS = {
    "key-ages": "Active keys by age at the latest scan. Keys over 90 days old fail CIS 1.14 (Security Hub IAM.3).",
    "findings-by-severity": "Open findings at each scan of the window, by severity (exempt and snoozed ones included).",
    "rotations": "Guided rotations whose old key was switched off, per week.",
    "oldest-keys": "The oldest active keys at the latest scan, with the owner their IAM user's tag names.",
    "way-down": "Per calendar month (UTC, whole months): keys made by create requests, keys a retire switched off "
    "because the role that replaces them was in use and the key quiet, and retired keys deleted after the grace "
    "period. A rotation's new key replaces its old one and is not counted.",
}


def render(trend: Trend, days: int) -> str:
    latest = trend.latest
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Keywarden: access key posture, last {days} days</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Access key posture</h1>",
        f'<p class="meta">The last {days} days: {_day(trend.since)} to {_day(trend.until)} (UTC), '
        f"{len(trend.snapshots)} scan(s). Written by Keywarden {_time(trend.until)}.</p>",
        _facts(trend),
        *(_chart(name, trend) for name in charts.CHARTS),
        _way_down_table(trend),
        _oldest_table(latest or {}),
        _codes_table(latest or {}),
        _notes(latest or {}),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _facts(trend: Trend) -> str:
    latest = trend.latest
    if latest is None:
        return "<p><b>No scan was recorded in this window.</b> The report fills in from the next scan on.</p>"
    fixed, median = trend.fixed()
    severity = latest.get("findings_by_severity", {})
    facts = [
        ("Findings now", latest.get("findings", 0)),
        ("Critical and high", severity.get("critical", 0) + severity.get("high", 0)),
        ("Active keys", latest.get("active_keys", 0)),
        ("Keys without an owner", latest.get("unowned_keys", 0)),
        ("Rotations done", trend.rotations_done()),
        ("Findings fixed", fixed),
        ("Median days to fix", "-" if median is None else f"{median:g}"),
        ("Accounts", latest.get("accounts", 0)),
    ]
    cells = "".join(f'<div class="fact">{escape(label)}<b>{escape(str(value))}</b></div>' for label, value in facts)
    return f'<div class="facts">{cells}</div>'


def _chart(name: str, trend: Trend) -> str:
    title = charts.CHARTS[name][0]
    return (
        f'<h2>{escape(title)}</h2><figure data-chart="{name}">{charts.svg(name, trend)}'
        f"<figcaption>{escape(CAPTIONS[name])}</figcaption></figure>"
    )


def _way_down_table(trend: Trend) -> str:
    rows = "".join(
        f"<tr><td>{month:%B %Y}</td>" + "".join(f'<td class="n">{int(counts[c])}</td>' for c in WAY_DOWN) + "</tr>"
        for month, counts in trend.way_down_by_month()
    )
    head = "<tr><th>Month</th>" + "".join(f"<th>{escape(charts.WAY_DOWN_LABELS[c])}</th>" for c in WAY_DOWN) + "</tr>"
    return f'<h2>The way down to fewer keys</h2><table id="way-down">{head}{rows}</table>'


def _oldest_table(latest: dict[str, Any]) -> str:
    rows = "".join(
        "<tr>"
        + f"<td>{escape(str(k.get('account')))}</td><td>{escape(str(k.get('user')))}</td>"
        + f'<td>{escape(str(k.get("key_id") or "-"))}</td><td class="n">{int(k.get("age_days", 0))}</td>'
        + f"<td>{escape(str(k.get('owner') or 'no owner'))}</td></tr>"
        for k in latest.get("oldest", [])
    )
    if not rows:
        return ""
    head = "<tr><th>Account</th><th>User</th><th>Key</th><th>Age (days)</th><th>Owner</th></tr>"
    return f'<h2>The oldest keys and their owners</h2><table id="oldest-keys">{head}{rows}</table>'


def _codes_table(latest: dict[str, Any]) -> str:
    by_code = latest.get("findings_by_code", {})
    if not by_code:
        return ""
    rows = "".join(
        f'<tr><td>{escape(title_of(code))}</td><td><code>{escape(code)}</code></td><td class="n">{int(n)}</td></tr>'
        for code, n in sorted(by_code.items(), key=lambda item: -int(item[1]))
    )
    severity = latest.get("findings_by_severity", {})
    counts = ", ".join(f"{severity.get(s, 0)} {s}" for s in SEVERITIES)
    return (
        f"<h2>Findings at the latest scan</h2><p>{escape(counts)}.</p>"
        f'<table id="findings-by-code"><tr><th>Finding</th><th>Code</th><th>Count</th></tr>{rows}</table>'
    )


def _notes(latest: dict[str, Any]) -> str:
    failed = latest.get("failed_accounts") or []
    if not failed:
        return ""
    names = ", ".join(escape(str(a)) for a in failed)
    return f'<p class="meta">Accounts that could not be scanned at the latest scan (not counted): {names}.</p>'


def _day(at: datetime) -> str:
    return f"{at:%Y-%m-%d}"


def _time(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"
