"""Load generator for bench.ack_latency, run as its own process so its timing does not share a GIL
with the emulators: N client threads, each with its own keep-alive connection, send signed Slack
requests round-robin from a fixed list of kinds and time each one to its HTTP response (the ack).

Input: one JSON argument; output: one JSON object on stdout.
"""

from __future__ import annotations

import http.client
import itertools
import json
import sys
import threading
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier


def command_body(text: str, user_id: str, command: str, response_url: str) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "acme",
            "channel_id": "CWORK",
            "channel_name": "work",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": response_url,
            "trigger_id": "T-bench",
        }
    )


def click_body(action_id: str, value: str, user_id: str, response_url: str) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "T-bench",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "CAPPROVE"},
        "channel": {"id": "CAPPROVE", "name": "approvals"},
        "message": {"ts": "1700000000.000100", "text": "", "blocks": []},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "actions",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def run(cfg: dict[str, Any]) -> dict[str, Any]:
    verifier = SignatureVerifier(cfg["signing_secret"])
    kinds: list[dict[str, str]] = cfg["kinds"]
    total: int = cfg["requests"]
    clients: int = cfg["clients"]
    host, port = "127.0.0.1", int(cfg["port"])
    counter = itertools.count()
    lock = threading.Lock()
    results: list[tuple[str, float, int | str, float, str]] = []
    ready = threading.Barrier(clients + 1)
    deadline = [0.0]

    def build(i: int) -> tuple[str, str, str]:
        kind = kinds[i % len(kinds)]
        tag = f"{cfg['run_id']}-{i}"
        response_url = f"{cfg['response_base']}{tag}"
        if kind["type"] == "command":
            body = command_body(kind["text"], kind["user"], cfg["command"], response_url)
        else:
            body = click_body(kind["action_id"], kind["value"], kind["user"], response_url)
        return kind["name"], body, tag

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        ready.wait()
        while True:
            with lock:
                i = next(counter)
            if i >= total or time.monotonic() > deadline[0]:
                break
            name, body, tag = build(i)
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
            }
            sent_at = time.time()
            t0 = time.perf_counter()
            status: int | str
            try:
                conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as e:
                status = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            results.append((name, time.perf_counter() - t0, status, sent_at, tag))
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + cfg["time_limit"]
    started = time.perf_counter()
    ready.wait()
    for t in threads:
        t.join(cfg["time_limit"] + 60)
    elapsed = time.perf_counter() - started
    return {
        "elapsed": elapsed,
        "results": [list(r) for r in results],
        "stopped_by_time_limit": len(results) < total,
    }


if __name__ == "__main__":
    json.dump(run(json.loads(sys.argv[1])), sys.stdout)
