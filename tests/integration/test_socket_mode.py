"""Socket Mode end to end: `python -m bot` with SLACK_APP_TOKEN, no public URL, against a local Socket Mode.

The fake Slack's `apps.connections.open` hands out a `ws://127.0.0.1` URL; a small WebSocket server there
sends a slash command and a button click as Slack does, and checks the acknowledgements.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from bot.slack import ids
from tests.support.fake_slack import FakeSlack
from tests.support.processes import clean_env
from tests.support.socket_mode import SocketModeServer


@pytest.fixture
def socket_mode(slack: FakeSlack) -> Iterator[SocketModeServer]:
    server = SocketModeServer().start()
    slack.socket_mode_url = server.url
    yield server
    server.stop()


def _command(envelope_id: str, text: str, user_id: str, slack: FakeSlack) -> dict:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "acme",
            "channel_id": "CWORK",
            "channel_name": "work",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/awskeys",
            "text": text,
            "api_app_id": "A1",
            "response_url": slack.response_url(f"sm-{user_id}"),
            "trigger_id": "T-sm",
        },
    }


def _click(envelope_id: str, action_id: str, value: str, user_id: str, slack: FakeSlack) -> dict:
    return {
        "envelope_id": envelope_id,
        "type": "interactive",
        "accepts_response_payload": False,
        "payload": {
            "type": "block_actions",
            "team": {"id": "T1", "domain": "acme"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": "T-sm-click",
            "container": {"type": "message", "message_ts": "1700000001.000100", "channel_id": "CAPPROVE"},
            "channel": {"id": "CAPPROVE", "name": "approvals"},
            "message": {"ts": "1700000001.000100", "text": "", "blocks": []},
            "response_url": slack.response_url(f"sm-click-{user_id}"),
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": "actions", "value": value, "action_ts": "1"}
            ],
        },
    }


def test_commands_and_buttons_work_over_socket_mode(
    tmp_path: Path, slack: FakeSlack, socket_mode: SocketModeServer, moto_url: str
) -> None:
    iam = boto3.client(
        "iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    key_id = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    slack.add_user("UALICE", email="alice@example.com")
    env = clean_env(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="unused-in-socket-mode",
        SLACK_APP_TOKEN="xapp-1-A1-test",
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'keywarden.db'}",
        APPROVAL_CHANNEL="CAPPROVE",
        ALERT_CHANNEL="CALERTS",
        APPROVER_IDS="UBOSS",
        SCHEDULER="off",
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    log = (tmp_path / "bot.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        socket_mode.wait_connected()
        assert slack.calls_to("apps.connections.open")[0].headers.get("Authorization") == "Bearer xapp-1-A1-test"

        # A slash command answered in the ack itself
        socket_mode.send(_command("env-help", "help", "UALICE", slack))
        ack = socket_mode.wait_ack("env-help")
        assert "/awskeys check" in str(ack["payload"])

        # A slash command whose work runs after the ack: a request in the approval channel
        socket_mode.send(_command("env-file", f"deactivate {key_id} leaving the team", "UALICE", slack))
        assert "payload" not in socket_mode.wait_ack("env-file") or not socket_mode.acks["env-file"]["payload"]
        post = slack.wait_posts("CAPPROVE", timeout=30)[0]
        request_id = re.search(r"R-[A-Z0-9]{6}", post.raw).group(0)

        # A button: Approve, acknowledged at once, then the key is deactivated in AWS
        socket_mode.send(_click("env-approve", ids.APPROVE, request_id, "UBOSS", slack))
        socket_mode.wait_ack("env-approve")
        deadline = time.monotonic() + 30
        while iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] != "Inactive":
            assert time.monotonic() < deadline, (tmp_path / "bot.log").read_text()[-3000:]
            time.sleep(0.1)
        assert slack.wait_for(lambda calls: [c for c in calls if c.method == "chat.update" and "Done" in c.raw])
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    assert "Traceback" not in (tmp_path / "bot.log").read_text()
