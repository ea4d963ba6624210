"""The per-key scan of the common key-rotation scripts, as a yardstick for Keywarden's scan.

ListUsers (paginated), then ListAccessKeys for every user and GetAccessKeyLastUsed for every key,
one call after another with boto3's defaults. Judges the keys with Keywarden's thresholds (90 days
old, 80 days reminder, 45 days unused, two active keys, an inactive key) so the two scans can be
compared user for user. Prints one JSON object: calls per operation, seconds, users, keys,
users with findings.

    AWS_ENDPOINT_URL=http://127.0.0.1:5000 .venv/bin/python -m bench.naive_scan
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3

MAX_AGE, WARN_AGE, UNUSED = 90, 80, 45


def _judge(keys: list[dict[str, Any]], last_used: dict[str, datetime | None], now: datetime) -> bool:
    active = [k for k in keys if k["Status"] == "Active"]
    if len(active) >= 2 or len(active) < len(keys):
        return True
    for key in active:
        created = key["CreateDate"].astimezone(UTC)
        if (now - created).days > WARN_AGE:
            return True
        since = last_used.get(key["AccessKeyId"]) or created
        if (now - since).days >= UNUSED:
            return True
    return False


def main() -> int:
    calls: Counter[str] = Counter()
    iam = boto3.client("iam")

    def count(model: Any, **_: Any) -> None:
        calls[f"iam:{model.name}"] += 1

    iam.meta.events.register("before-call.iam", count)
    started = time.perf_counter()
    now = datetime.now(UTC)
    users = keys = flagged = 0
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            users += 1
            theirs: list[dict[str, Any]] = []
            for kpage in iam.get_paginator("list_access_keys").paginate(UserName=user["UserName"]):
                theirs += kpage["AccessKeyMetadata"]
            used: dict[str, datetime | None] = {}
            for key in theirs:
                reply = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
                date = reply.get("LastUsedDate")
                used[key["AccessKeyId"]] = date.astimezone(UTC) if date else None
            keys += len(theirs)
            flagged += _judge(theirs, used, now)
    seconds = time.perf_counter() - started
    json.dump(
        {
            "calls": dict(calls),
            "iam_calls": sum(calls.values()),
            "seconds": seconds,
            "users": users,
            "keys": keys,
            "users_with_findings": flagged,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
