"""matplotlib (and numpy under it) is imported when a chart is drawn, never when Keywarden starts: importing it costs
about a second the first time, which every `python -m bot` would pay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_starting_keywarden_imports_no_chart_library() -> None:
    code = (
        "import sys\n"
        "import bot.entrypoints.cli, bot.entrypoints.app, bot.entrypoints.scheduler, bot.bootstrap\n"
        "import bot.services.posture, bot.reports.html_report, bot.entrypoints.cli_report\n"
        "print(sorted(m for m in ('matplotlib', 'numpy', 'PIL') if m in sys.modules))\n"
    )
    # A fresh interpreter: this test process may have drawn a chart already.
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
