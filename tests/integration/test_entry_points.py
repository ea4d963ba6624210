"""`python -m bot` as a deployment runs it: a real process, real port, signed requests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.support.fake_slack import FakeSlack
from tests.support.processes import ROOT, env_without_bot_settings, run_bot


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_configuration_stops_with_one_line(tmp_path: Path) -> None:
    result = run_bot(cwd=tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", PORT="http")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "keywarden: configuration error: PORT is malformed: expected a port number from 1 to 65535"
    ]
    assert "Traceback" not in result.stderr


def test_python_m_bot_serves_healthz_and_signed_help(tmp_path: Path, slack: FakeSlack, moto_url: str) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env_without_bot_settings(
            PYTHONPATH=str(ROOT),
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_SIGNING_SECRET="shh",
            SLACK_API_URL=slack.api_url,
            PORT=str(port),
            SCHEDULER="off",
            APPROVER_IDS="UBOSS",
            AWS_ENDPOINT_URL=moto_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    assert r.status == 200 and b'"database": "ok"' in r.read()
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the bot did not start: " + (process.stdout.read().decode() if process.poll() else ""))
                time.sleep(0.2)
        body = urlencode(
            {"command": "/awskeys", "text": "help", "user_id": "UALICE", "response_url": slack.response_url()}
        )
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier("shh").generate_signature(timestamp=ts, body=body),
        }
        request = urllib.request.Request(base + "/slack/events", data=body.encode(), headers=headers)
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=10) as r:
            elapsed = time.monotonic() - started
            assert r.status == 200 and b"/awskeys check" in r.read()
        assert elapsed < 3
        assert (tmp_path / "keywarden.db").exists()  # SQLite by default, migrated at start
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_audit_csv_export(tmp_path: Path) -> None:
    from bot.bootstrap import bootstrap
    from bot.settings import Settings

    url = f"sqlite:///{tmp_path / 'kw.db'}"
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "DATABASE_URL": url}
    services = bootstrap(Settings.from_env(env))
    services.audit.write("UBOSS", "approved", request_id="R-ABCDEF", account="default", iam_user="ci")
    services.close()
    result = run_bot("audit", "--csv", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "at,actor,action,outcome,request_id,account,iam_user,key_id,detail"
    assert ",UBOSS,approved,ok,R-ABCDEF,default,ci,," in lines[1]


def test_procfile_web_line_and_python_m_bot_serve_with_the_same_threads() -> None:
    from bot.entrypoints.web import SERVER_THREADS

    (web,) = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")]
    assert f"--threads={SERVER_THREADS} " in web and "--call bot.entrypoints.web:create_wsgi_app" in web


def test_govcloud_accounts_without_aws_region_stop_with_one_line(tmp_path: Path) -> None:
    result = run_bot(
        cwd=tmp_path,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
        ACCOUNTS="gov=arn:aws-us-gov:iam::111111111111:role/keywarden|ext",
        AWS_REGION="",
        AWS_DEFAULT_REGION="",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "keywarden: configuration error: AWS_REGION is not set: the roles in ACCOUNTS are in partition "
        "aws-us-gov, which needs a region of its own such as us-gov-west-1"
    ]
