"""The posture charts, drawn with matplotlib's Agg (PNG) and SVG backends: no display, no pyplot, no global state.

matplotlib is imported when a chart is drawn, never when Keywarden starts (it costs about a second the first time).
Every chart has a title and labelled axes, in type large enough to read in Slack's preview.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bot.domain.posture import AGE_BUCKETS, CREATED, REPLACED_BY_ROLE, RETIRED, WAY_DOWN, Trend

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SEVERITY_COLOURS = {
    "critical": "#8f1d21",
    "high": "#e8590c",
    "medium": "#f59f00",
    "low": "#74b816",
    "info": "#868e96",
}
AGE_COLOURS = ["#2b8a3e", "#5c940d", "#e67700", "#d9480f", "#c92a2a", "#862e9c"]
BLUE = "#1c7ed6"
WAY_DOWN_LABELS = {CREATED: "Created", REPLACED_BY_ROLE: "Replaced by a role", RETIRED: "Retired (deleted)"}
WAY_DOWN_COLOURS = {CREATED: "#e8590c", REPLACED_BY_ROLE: "#2b8a3e", RETIRED: "#1c7ed6"}
STYLE: dict[Any, Any] = {  # matplotlib rc settings
    "font.size": 13,
    "axes.titlesize": 17,
    "axes.titleweight": "bold",
    "axes.labelsize": 14,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # text stays text: smaller, searchable, selectable
    "svg.hashsalt": "keywarden",  # the same chart gives the same file
}
SLACK_SIZE = (12.0, 6.0)  # inches at 100 dpi: 1200 x 600 pixels
SLACK_DPI = 100
NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}  # SVG: no RDF block, no URLs


@contextmanager
def _style() -> Iterator[None]:
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # not its font cache's INFO lines in ours
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=SLACK_DPI, layout="constrained")


def key_ages(ax: Axes, trend: Trend) -> None:
    latest = trend.latest or {}
    labels = [label for label, _, _ in AGE_BUCKETS]
    counts = [int(latest.get("key_ages", {}).get(label, 0)) for label in labels]
    bars = ax.bar(labels, counts, color=AGE_COLOURS[: len(labels)])
    ax.bar_label(bars, padding=2)
    ax.set_title("Active keys by age")
    ax.set_xlabel("Age of the key")
    ax.set_ylabel("Active keys")
    _whole_numbers(ax.yaxis)
    ax.tick_params(axis="x", rotation=20)
    _no_data(ax, latest == {})


def findings_over_time(ax: Axes, trend: Trend) -> None:
    from matplotlib.dates import date2num

    times = [float(date2num(t)) for t in trend.times()]
    for severity, values in trend.severity_series().items():
        if any(values):
            ax.plot(times, values, marker="o", linewidth=2.2, label=severity, color=SEVERITY_COLOURS[severity])
    ax.set_title("Findings by severity over time")
    ax.set_xlabel("Scan date (UTC)")
    ax.set_ylabel("Findings")
    ax.set_ylim(bottom=0)
    _whole_numbers(ax.yaxis)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="Severity", loc="best", framealpha=0.9)
    _dates(ax)
    _no_data(ax, not times)


def rotations(ax: Axes, trend: Trend) -> None:
    from matplotlib.dates import date2num

    weeks = trend.rotations_by_week()
    bars = ax.bar([float(date2num(w)) for w, _ in weeks], [n for _, n in weeks], width=5, color=BLUE)
    ax.bar_label(bars, padding=2)
    ax.set_title("Rotations done per week")
    ax.set_xlabel("Week starting (UTC)")
    ax.set_ylabel("Rotations (old key switched off)")
    _whole_numbers(ax.yaxis)
    _dates(ax)
    _no_data(ax, not trend.snapshots)


def oldest_keys(ax: Axes, trend: Trend) -> None:
    oldest = list(reversed((trend.latest or {}).get("oldest", [])))
    labels = [f"{k['account']}:{k['user']} ({k.get('owner') or 'no owner'})" for k in oldest]
    ages = [int(k.get("age_days", 0)) for k in oldest]
    bars = ax.barh(labels, ages, color=["#c92a2a" if a > 90 else "#5c940d" for a in ages])
    ax.bar_label(bars, padding=3)
    ax.set_title("Oldest active keys and their owners")
    ax.set_xlabel("Age (days)")
    ax.set_ylabel("Key (account:user, owner)")
    _no_data(ax, not oldest)


def way_down(ax: Axes, trend: Trend) -> None:
    """Per calendar month, keys created beside keys replaced by roles and retired: the way down to fewer keys."""
    by_month = trend.way_down_by_month()
    width = 0.8 / len(WAY_DOWN)
    for n, change in enumerate(WAY_DOWN):
        places = [i + (n - (len(WAY_DOWN) - 1) / 2) * width for i in range(len(by_month))]
        counts = [c[change] for _, c in by_month]
        bars = ax.bar(places, counts, width, label=WAY_DOWN_LABELS[change], color=WAY_DOWN_COLOURS[change])
        ax.bar_label(bars, padding=2)
    ax.set_xticks(range(len(by_month)), [f"{month:%b %Y}" for month, _ in by_month])
    ax.set_title("Keys created, replaced by roles and retired")
    ax.set_xlabel("Month (UTC)")
    ax.set_ylabel("Keys")
    _whole_numbers(ax.yaxis)
    peak = max((n for _, c in by_month for n in c.values()), default=0)
    ax.set_ylim(0, max(1, peak) * 1.35)  # room for the legend above the bars
    ax.legend(loc="upper center", ncols=len(WAY_DOWN), framealpha=0.9)
    if not peak:
        ax.text(
            0.5, 0.5, "No key created or retired", transform=ax.transAxes, ha="center", va="center", color="#868e96"
        )


CHARTS: dict[str, tuple[str, Callable[[Axes, Trend], None], tuple[float, float]]] = {
    "key-ages": ("Active keys by age", key_ages, (9.0, 5.0)),
    "findings-by-severity": ("Findings by severity over time", findings_over_time, (9.0, 5.0)),
    "rotations": ("Rotations done per week", rotations, (9.0, 4.5)),
    "oldest-keys": ("Oldest active keys and their owners", oldest_keys, (10.0, 5.5)),
    "way-down": ("Keys created, replaced by roles and retired per month", way_down, (9.0, 4.5)),
}


def svg(name: str, trend: Trend) -> str:
    """One chart as inline SVG for an HTML page: no XML prolog, no DOCTYPE, no namespace or metadata URLs."""
    title, draw, (width, height) = CHARTS[name]
    with _style():
        fig = _figure(width, height)
        draw(fig.add_subplot(), trend)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata=NO_METADATA)
    return _inline(out.getvalue(), title)


def slack_png(trend: Trend, title: str) -> bytes:
    """The chart for Slack: findings by severity over time beside the active keys by age, 1200 x 600 pixels."""
    with _style():
        fig = _figure(*SLACK_SIZE)
        fig.suptitle(title, fontsize=19, fontweight="bold")
        left, right = fig.subplots(1, 2, width_ratios=[3, 2])
        findings_over_time(left, trend)
        key_ages(right, trend)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=SLACK_DPI, facecolor="white", metadata={"Software": None})
    return out.getvalue()


def _dates(ax: Axes) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _whole_numbers(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _no_data(ax: Axes, empty: bool) -> None:
    if empty:
        ax.text(0.5, 0.5, "No scan in this window", transform=ax.transAxes, ha="center", va="center", color="#868e96")


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:xlink)?="[^"]*"')
_SIZE = re.compile(r'(<svg\b[^>]*?)\s+width="[^"]*"\s+height="[^"]*"')


def _inline(document: str, label: str) -> str:
    """matplotlib's SVG document as an element of an HTML page (HTML parsers give inline SVG its namespace)."""
    body = _PROLOG.sub("", document, count=1)
    body = _NAMESPACES.sub("", body)
    body = _SIZE.sub(rf'\1 width="100%" role="img" aria-label="{label}"', body, count=1)
    return body.strip()
