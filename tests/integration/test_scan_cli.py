"""`python -m bot scan` as an operator runs it: a real process, AWS through AWS_ENDPOINT_URL (moto's server).

The options are tried in this process, through the same `main()` the process runs (no start-up cost per run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import time_machine

from bot.entrypoints.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _run(endpoint: str, tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AWS_", "DATABASE_URL"))}
    env |= extra | {
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "scan", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def _run_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], endpoint: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`python -m bot scan ARGS` through `bot.entrypoints.cli.main`, with the environment `_run` gives a process."""
    for name in [k for k in os.environ if k.startswith(("SLACK_", "AWS_", "DATABASE_URL"))]:
        monkeypatch.delenv(name)
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    try:
        code = main(["scan", *args])
    except SystemExit as exit_:  # argparse and the one-line refusals end the process this way
        code = int(exit_.code or 0)
    said = capsys.readouterr()
    return subprocess.CompletedProcess(["scan", *args], code, said.out, said.err)


def test_exit_codes_table_and_json(
    moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    iam = boto3.client(
        "iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    # A key made with its user is a finding (initial-key-unused): the user was made a day earlier.
    with time_machine.travel(datetime.now(UTC) - timedelta(days=1), tick=False):
        iam.create_user(UserName="fresh", Tags=[{"Key": "owner", "Value": "a@example.com"}])
    iam.create_access_key(UserName="fresh")
    clean = _run(moto_url, tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert "No findings (default)." in clean.stdout
    assert "scanned 1/1 accounts" in clean.stderr

    iam.create_user(UserName="legacy", Tags=[{"Key": "owner", "Value": "b@example.com"}])
    with time_machine.travel(datetime.now(UTC) - timedelta(days=200), tick=False):
        old = iam.create_access_key(UserName="legacy")["AccessKey"]["AccessKeyId"]
    found = _run(moto_url, tmp_path)
    assert found.returncode == 1, found.stderr
    header = found.stdout.splitlines()[0]
    assert header.split() == [
        "ACCOUNT",
        "USER",
        "KEY",
        "STATUS",
        "AGE",
        "LAST",
        "USED",
        "SEVERITY",
        "CONTROL",
        "FINDING",
        "OWNER",
    ]
    assert old in found.stdout and "IAM.3" in found.stdout and "200d" in found.stdout
    assert "IAM API calls" in found.stdout

    as_json = _run_here(monkeypatch, capsys, moto_url, tmp_path, "--json")
    data = json.loads(as_json.stdout)
    assert {f["finding"] for f in data["findings"]} == {"key-too-old", "key-unused"}
    assert data["accounts"][0]["users"] == 2 and data["iam_calls"] >= 3


def test_error_exit_code(tmp_path: Path) -> None:
    # Nothing listens there. boto3's own AWS_MAX_ATTEMPTS is honoured: one attempt, not five with backoff.
    failed = _run("http://127.0.0.1:9", tmp_path, AWS_MAX_ATTEMPTS="1")
    assert failed.returncode == 2
    assert "keywarden: account default failed: Could not reach AWS" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_account_severity_and_fail_on(
    moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 200-day-old unused key: too old (high) and unused (medium)."""
    iam = boto3.client(
        "iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    iam.create_user(UserName="legacy", Tags=[{"Key": "owner", "Value": "b@example.com"}])
    with time_machine.travel(datetime.now(UTC) - timedelta(days=200), tick=False):
        iam.create_access_key(UserName="legacy")
    severities = lambda out: {line.split()[6] for line in out.splitlines()[2:] if line.startswith("default ")}  # noqa: E731

    everything = _run_here(monkeypatch, capsys, moto_url, tmp_path, "--account", "default")
    assert everything.returncode == 1, everything.stderr
    assert severities(everything.stdout) == {"high", "medium"}

    high = _run_here(monkeypatch, capsys, moto_url, tmp_path, "--severity", "high")
    assert high.returncode == 1
    assert severities(high.stdout) == {"high"}  # the medium one is not shown

    critical_only = _run_here(monkeypatch, capsys, moto_url, tmp_path, "--fail-on", "critical")
    assert critical_only.returncode == 0  # findings, none at or above critical
    assert severities(critical_only.stdout) == {"high", "medium"}
    none_shown = _run_here(monkeypatch, capsys, moto_url, tmp_path, "--severity", "critical", "--json")
    assert (none_shown.returncode, json.loads(none_shown.stdout)["findings"]) == (0, [])

    unknown = _run_here(monkeypatch, capsys, moto_url, tmp_path, "--account", "prod")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == ["keywarden: scan: no account prod (the accounts are: default)"]
