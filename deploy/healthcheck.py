"""The container's health check: exit 0 when the process answers GET /livez, 1 when it does not.

Standard library only; the image runs it as `python /app/healthcheck.py [port]`. The port is the argument,
else METRICS_PORT in Socket Mode (SLACK_APP_TOKEN set: nothing listens on PORT), else PORT (3000).
A version without /livez (404) is checked at /healthz instead.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3


def port(argv: list[str], env: dict[str, str]) -> str | None:
    if len(argv) > 1 and argv[1].strip():
        return argv[1].strip()
    if env.get("SLACK_APP_TOKEN", "").strip():
        return env.get("METRICS_PORT", "").strip() or None
    return env.get("PORT", "").strip() or "3000"


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def main(argv: list[str], env: dict[str, str]) -> int:
    where = port(argv, env)
    if where is None:
        print("healthy: Socket Mode without METRICS_PORT serves nothing to check (set METRICS_PORT)")
        return 0
    base = f"http://127.0.0.1:{where}"
    try:
        code = status(f"{base}/livez")
        path = "/livez"
        if code == 404:
            code, path = status(f"{base}/healthz"), "/healthz"
    except OSError as e:
        print(f"unhealthy: nothing answers on port {where} ({type(e).__name__})")
        return 1
    if code == 200:
        print(f"healthy: {path} answered 200")
        return 0
    print(f"unhealthy: {path} on port {where} answered {code}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv, dict(os.environ)))
