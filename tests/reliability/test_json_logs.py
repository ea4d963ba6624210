"""LOG_FORMAT=json in a real web process at DEBUG: one JSON object per line, request ids at the ack and
after the work, and no secret after a Reveal."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.harness import RemoteBot
from tests.support.remote import Requests, bot_env, file_request


def _entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]  # every line is JSON


def _wait_entries(log: Path, predicate, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in _entries(log) if predicate(e)]
        if found:
            return found
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


def test_json_logs_after_a_reveal_hold_request_ids_and_no_secret(
    slack, proxy, remote_iam, start_web, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'keywarden.db'}"
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])  # one approval suffices
    env = bot_env(slack, db_url, proxy.url, LOG_LEVEL="DEBUG", LOG_FORMAT="json")
    web = RemoteBot(start_web(env).url, slack)
    db = Requests(db_url)
    rid = file_request(web, "create ci")
    web.click(ids.APPROVE, rid, "UBOSS")
    db.wait(rid, lambda r: r.status is Status.APPROVED)
    web.click(ids.REVEAL, rid, "UALICE")
    db.wait(rid, lambda r: r.status is Status.SUCCEEDED and r.notified_status == "succeeded")
    modal = json.loads(slack.wait_calls("views.update")[0].raw)["view"]["blocks"][1]["text"]["text"]
    secret = re.search(r"`([A-Za-z0-9/+]{40})`", modal).group(1)
    db.db.dispose()

    log = tmp_path / "web.log"

    def of_the_reveal(entry: dict[str, Any]) -> bool:
        return entry.get("keywarden_request_id") == rid and entry.get("slack_user_id") == "UALICE"

    # Reveal's work runs in two steps (open the window, then create the key and fill it in): each logs its end.
    _wait_entries(log, lambda e: of_the_reveal(e) and "work after the ack done (finish_reveal, ok)" in e["message"])
    acks = [e for e in _entries(log) if of_the_reveal(e) and ": ack action" in e["message"]]
    done = [e for e in _entries(log) if of_the_reveal(e) and "work after the ack done" in e["message"]]
    assert len(acks) == 1 and acks[0]["request_id"] in acks[0]["message"]
    assert [e["request_id"] for e in done] == [acks[0]["request_id"]] * 2
    assert {re.search(r"done \((\w+), ok\)", e["message"]).group(1) for e in done} == {"open_reveal", "finish_reveal"}
    entries = _entries(log)
    assert {e["level"] for e in entries} >= {"DEBUG", "INFO"}
    assert all({"timestamp", "level", "logger", "message"} <= set(e) for e in entries)
    assert secret not in log.read_text()
