"""`python -m bot findings` as an operator runs it: a real process, no settings needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.domain.findings import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AWS_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", "findings", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_findings_table(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CODE", "SEVERITY", "CONTROLS", "SETTING", "TITLE"]
    assert len(lines) == 2 + len(CATALOGUE)
    assert lines[2].startswith("aws-quarantine") or lines[2].startswith("root-key")  # critical first
    old = next(line for line in lines if line.startswith("key-too-old "))
    assert "MAX_KEY_AGE_DAYS=90" in old and "Security Hub IAM.3" in old and "high" in old


def test_findings_json(tmp_path: Path) -> None:
    result = _run(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {e["code"] for e in data} == set(CATALOGUE)
    unused = next(e for e in data if e["code"] == "key-unused")
    assert unused["setting"] == "UNUSED_DAYS" and unused["default"] == 45
    assert unused["severity"] == "medium" and unused["control"] == "IAM.22"
    assert all(e["title"] and e["rationale"] and e["remediation"] for e in data)
