"""`python -m bot report`: the posture report as one HTML file (`--out`), and the chart with a summary in the alert
channel (`--post`). Exit 0 done, 2 refused (no ALERT_CHANNEL, Slack refused, the file cannot be written)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from bot.bootstrap import bootstrap
from bot.services.posture import Posted, PostureService
from bot.settings import Settings


def run_report(
    settings: Settings, *, out: str | None, days: int, post: bool, stdout: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
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
