"""`python -m bot report`: the posture report as one HTML file (`--out`), and the chart with a summary in the alert
channel (`--post`). Exit 0 done, 2 refused (no ALERT_CHANNEL, Slack refused, the file cannot be written)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.services.posture import PostureService


def add_parser(sub: Any) -> None:
    """`report`'s arguments, beside the other commands' (bot/entrypoints/cli.py)."""
    report = sub.add_parser("report", help="the posture report: an HTML file with charts, or the chart in Slack")
    report.add_argument("--out", metavar="FILE.html", help="write the self-contained HTML report to this file")
    report.add_argument("--days", type=_days, default=90, help="the days the report looks back (default 90)")
    report.add_argument("--post", action="store_true", help="post the chart and a summary to ALERT_CHANNEL")


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not (args.out or args.post):
        parser.error("report: use --out FILE.html, --post, or both")


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 3650:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days from 1 to 3650")
    return int(value)


def run_report(
    settings: Settings,
    *,
    out: str | None,
    days: int,
    post: bool,
    stdout: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    stdout, err = stdout or sys.stdout, err or sys.stderr
    from bot.bootstrap import bootstrap

    services = bootstrap(settings)
    try:
        assert services.posture is not None  # bootstrap always builds it
        code = 0
        if out:
            code = max(code, _write(services.posture, Path(out), days, stdout, err))
        if post:
            code = max(code, _post(services.posture, days, stdout, err))
        return code
    finally:
        services.close()


def _write(posture: PostureService, path: Path, days: int, stdout: TextIO, err: TextIO) -> int:
    page = posture.write_html(days)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as e:
        print(f"keywarden: report: cannot write {path}: {e.strerror or type(e).__name__}", file=err)
        return 2
    print(f"wrote {path} ({len(page.encode()) // 1024} KiB, the last {days} days)", file=stdout)
    return 0


def _post(posture: PostureService, days: int, stdout: TextIO, err: TextIO) -> int:
    from bot.services.posture import Posted

    posted = posture.post_chart(days)
    if posted.outcome is Posted.NO_CHANNEL:
        print("keywarden: report --post: ALERT_CHANNEL is not set: set it to the channel id to post to", file=err)
        return 2
    if posted.outcome is Posted.FAILED:
        print("keywarden: report --post: Slack refused the upload (see the log line above)", file=err)
        return 2
    print("posted the chart to the alert channel:", file=stdout)
    for line in posted.lines:
        print(f"  {line}", file=stdout)
    return 0
