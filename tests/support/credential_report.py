"""GetCredentialReport as AWS answers it, at the edge of a real boto3 client.

moto builds a fresh report on every call and dates it 2015. AWS makes one report per 4 hours at most
and answers with that report (and its GeneratedTime) until then, so a scan can read a report that
contradicts changes made since. `AwsLikeReports` registers botocore event handlers on the bot's own
IAM client (the AWS edge; none of the bot's functions is touched): the first report is kept, dated by
the test clock, and served again while it is under 4 hours old. `edit` may rewrite the CSV first, for
rows moto cannot make (the root user's keys).
"""

from __future__ import annotations

import copy
import csv
import io
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse

REUSE_FOR = timedelta(hours=4)


class AwsLikeReports:
    def __init__(
        self, iam_client: Any, clock: Callable[[], datetime], edit: Callable[[str], str] | None = None
    ) -> None:
        self._clock = clock
        self._edit = edit
        self._lock = threading.Lock()
        self._kept: dict[str, Any] | None = None
        self._serving = threading.local()
        self.served_again = 0
        iam_client.meta.events.register("before-call.iam.GetCredentialReport", self._before)
        iam_client.meta.events.register("after-call.iam.GetCredentialReport", self._after)

    @property
    def content(self) -> str:
        """The CSV of the report being served."""
        assert self._kept is not None, "no report was made yet"
        return self._kept["Content"].decode()

    def _before(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        with self._lock:
            if self._kept is None or self._clock() - self._kept["GeneratedTime"] >= REUSE_FOR:
                return None
            self.served_again += 1
            self._serving.active = True
            return AWSResponse("https://iam.amazonaws.com/", 200, {}, None), copy.deepcopy(self._kept)

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        if getattr(self._serving, "active", False):
            self._serving.active = False
            return
        if "Content" not in parsed:
            return  # an error answer
        if self._edit is not None:
            parsed["Content"] = self._edit(parsed["Content"].decode()).encode()
        parsed["GeneratedTime"] = self._clock()
        with self._lock:
            self._kept = copy.deepcopy(parsed)


def with_root_keys(*keys: dict[str, str]) -> Callable[[str], str]:
    """An `edit` that adds the `<root_account>` row (first, as AWS puts it) with up to two keys.

    Each key: {"active": "true"|"false", "last_rotated": ISO time, "last_used_date": ISO time or "N/A"}.
    """

    def edit(content: str) -> str:
        reader = csv.DictReader(io.StringIO(content))
        fields = list(reader.fieldnames or [])
        rows = list(reader)
        root = {name: "N/A" for name in fields}
        root |= {
            "user": "<root_account>",
            "arn": "arn:aws:iam::123456789012:root",
            "user_creation_time": "2019-03-01T10:00:00+00:00",
            "password_enabled": "not_supported",
            "mfa_active": "true",
        }
        for slot in (1, 2):
            key = keys[slot - 1] if slot <= len(keys) else {"active": "false"}
            for column, value in key.items():
                root[f"access_key_{slot}_{column}"] = value
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows([root, *rows])
        return out.getvalue()

    return edit
