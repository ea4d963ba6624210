"""The posture over time: a summary kept after every full scan, the trend of a window of days, the HTML report, and
the chart with three lines of summary in the alert channel (on demand, and once a week with the scheduled digest)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from bot.clock import Clock
from bot.domain.posture import Trend, month_start, summarize
from bot.domain.scan import ScanReport
from bot.reports import charts, html_report
from bot.slack.messages.posture import chart_comment, chart_title, summary_lines
from bot.slack.notifier import Notifier
from bot.store.posture import PostureStore

log = logging.getLogger(__name__)

WEEK = timedelta(days=7)
# A daily scan runs a few seconds later or earlier each day: the weekly chart goes with the first digest 7 days on.
WEEK_SLACK = timedelta(hours=1)
DEFAULT_DAYS = 90


class Posted(Enum):
    POSTED = "posted"
    NO_CHANNEL = "no_channel"  # ALERT_CHANNEL is not set
    FAILED = "failed"  # Slack refused the upload (logged)


@dataclass(frozen=True)
class ChartPost:
    outcome: Posted
    lines: list[str]


@dataclass(kw_only=True, eq=False)
class PostureService:
    store: PostureStore
    clock: Clock
    notifier: Notifier
    alert_channel: str | None

    def record(self, report: ScanReport, trigger: str) -> int | None:
        """Keep a full scan's summary; None when no account could be scanned (nothing true to keep)."""
        if report.accounts and all(a.error for a in report.accounts):
            return None
        now = self.clock()
        last = self.store.last_taken()
        summary = summarize(
            report,
            now,
            rotations_done=self.store.rotations_done_between(last, now),
            fixed=self.store.fixed_between(last, now),
        )
        return self.store.record(now, trigger, summary)

    def trend(self, days: int = DEFAULT_DAYS) -> Trend:
        until = self.clock()
        since = until - timedelta(days=days)
        fixed = self.store.fixed_between(since, until)
        return Trend(
            since,
            until,
            self.store.between(since, until),
            [d.total_seconds() / 86400 for d in fixed],
            self.store.key_changes_between(month_start(since), until),  # whole months, for the per-month counts
        )

    def write_html(self, days: int = DEFAULT_DAYS) -> str:
        """The self-contained HTML report of the last `days` days."""
        return html_report.render(self.trend(days), days)

    def post_chart(self, days: int = DEFAULT_DAYS, *, weekly: bool = False) -> ChartPost:
        """The chart (PNG) and three lines of summary, to the alert channel."""
        trend = self.trend(days)
        lines = summary_lines(trend, days)
        if not self.alert_channel:
            return ChartPost(Posted.NO_CHANNEL, lines)
        png = charts.slack_png(trend, chart_title(days))
        name = f"keywarden-posture-{trend.until:%Y%m%d}.png"
        ok = self.notifier.post_file(
            self.alert_channel, name, png, chart_title(days), chart_comment(lines, weekly=weekly)
        )
        return ChartPost(Posted.POSTED if ok else Posted.FAILED, lines)

    def weekly(self, snapshot_id: int | None) -> ChartPost | None:
        """After a scheduled scan's digest: the chart, when the last weekly one is a week old (None: not due)."""
        if snapshot_id is None or not self.alert_channel:
            return None
        last = self.store.last_chart_posted()
        now = self.clock()
        if last is not None and now - last < WEEK - WEEK_SLACK:
            return None
        posted = self.post_chart(weekly=True)
        if posted.outcome is Posted.POSTED:
            self.store.chart_posted(snapshot_id, now)
        else:
            log.warning(
                "the weekly posture chart was not posted (%s); the next scheduled scan tries again",
                posted.outcome.value,
            )
        return posted
