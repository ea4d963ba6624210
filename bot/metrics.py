"""Prometheus metrics: every metric Keywarden exports, and the small hooks the rest of the code calls.

Counters and histograms are process-wide (prometheus-client's default registry, with its process
metrics). State read from the database (pending requests, rotations by stage, the last successful
scan) and scheduler leadership come from an `Exporter`, one per serving process, at scrape time.

No label ever carries a key id, an IAM user name, a Slack user id or a secret: labels are kinds,
methods, actions, outcomes, finding codes, account aliases and states, all from small fixed sets.
"""

from __future__ import annotations

import threading
from collections import Counter as Counter_
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from prometheus_client import Counter, Gauge, Histogram
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

if TYPE_CHECKING:
    from bot.domain.scan import ScanReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

SLACK_REQUESTS = Counter(
    "keywarden_slack_requests", "Requests from Slack (HTTP or Socket Mode), by kind and outcome", ["kind", "outcome"]
)
ACK_SECONDS = Histogram(
    "keywarden_ack_seconds",
    "Time from a Slack request reaching the app to its acknowledgement (Slack allows 3 s)",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
)
WORK_SECONDS = Histogram(
    "keywarden_work_after_ack_seconds",
    "Time from the acknowledgement to the end of the work done after it (queueing included)",
    ["kind", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
AWS_CALLS = Counter(
    "keywarden_aws_calls",
    "AWS API calls (after boto3's retries), by service, action and outcome",
    ["service", "action", "outcome"],
)
SLACK_CALLS = Counter("keywarden_slack_api_calls", "Slack Web API calls, by method and outcome", ["method", "outcome"])
SLACK_RETRIES = Counter(
    "keywarden_slack_api_retries",
    "Slack Web API retries (and response_url posts), by method and reason",
    ["method", "reason"],
)
SCANS = Counter("keywarden_scans", "Scans, by outcome (ok, partial: some accounts failed, failed)", ["outcome"])
SCAN_ACCOUNTS = Counter("keywarden_scan_accounts", "Accounts scanned, by account and outcome", ["account", "outcome"])
SCAN_SECONDS = Histogram(
    "keywarden_scan_duration_seconds",
    "How long a scan of every account took",
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
SCAN_FINDINGS = Gauge(
    "keywarden_scan_findings",
    "Findings of the last scan this process ran, by account and finding code",
    ["account", "code"],
)
AWS_EVENTS = Counter(
    "keywarden_aws_events",
    "Events read from the events queue, by kind (health, cloudtrail) and outcome (told, not_confirmed, unverified,"
    " ignored, dropped)",
    ["kind", "outcome"],
)
KEYS = Counter(
    "keywarden_keys",
    "The way down to fewer keys: access keys created and deleted (any route), and keys switched off because the role "
    "that replaces them took over (`retire`), by change",
    ["change"],
)
_KEY_CHANGES = {"CreateAccessKey": "created", "DeleteAccessKey": "retired"}
_findings_lock = threading.Lock()
_codes_shown: dict[str, set[str]] = {}  # account -> finding codes its gauge shows


# Hooks


def slack_request(kind: str, outcome: str, ack_seconds: float) -> None:
    SLACK_REQUESTS.labels(kind, outcome).inc()
    ACK_SECONDS.labels(kind).observe(ack_seconds)


def work_done(kind: str, outcome: str, seconds: float) -> None:
    WORK_SECONDS.labels(kind, outcome).observe(seconds)


def watch_aws(client: Any) -> Any:
    """Count every call a boto3 client makes, once per call whatever the retries, with its outcome."""
    service = client.meta.service_model.service_name

    def after(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        status = getattr(http_response, "status_code", 200)
        outcome = "ok" if status < 300 else str(parsed.get("Error", {}).get("Code") or f"http_{status}")
        AWS_CALLS.labels(service, model.name, outcome).inc()
        if service == "iam" and outcome == "ok" and model.name in _KEY_CHANGES:
            KEYS.labels(_KEY_CHANGES[model.name]).inc()

    def failed(exception: Exception, event_name: str = "", **_: Any) -> None:  # connection errors and the like
        AWS_CALLS.labels(service, event_name.rsplit(".", 1)[-1], type(exception).__name__).inc()

    client.meta.events.register(f"after-call.{service}", after)
    client.meta.events.register(f"after-call-error.{service}", failed)
    return client


def key_replaced_by_role() -> None:
    KEYS.labels("replaced_by_role").inc()


def aws_event(kind: str, outcome: str) -> None:
    AWS_EVENTS.labels(kind, outcome).inc()


def scan_finished(report: ScanReport) -> None:
    seconds = max(0.0, (report.finished_at - report.started_at).total_seconds())
    SCAN_SECONDS.observe(seconds)
    failed = {a.account for a in report.failed}
    SCANS.labels("ok" if not failed else "failed" if len(failed) == len(report.accounts) else "partial").inc()
    with _findings_lock:
        for account in report.accounts:
            SCAN_ACCOUNTS.labels(account.account, "failed" if account.error else "ok").inc()
            if account.error:
                continue  # keep what the last good scan of this account found
            counts = Counter_(f.code for f in account.findings)
            for code in _codes_shown.get(account.account, set()) - set(counts):
                SCAN_FINDINGS.remove(account.account, code)
            for code, count in counts.items():
                SCAN_FINDINGS.labels(account.account, code).set(count)
            _codes_shown[account.account] = set(counts)


class MeteredWebClient(WebClient):
    """slack_sdk's WebClient, counting every call by method and outcome."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as e:
            SLACK_CALLS.labels(api_method, str(e.response.get("error") or "error")).inc()
            raise
        except Exception as e:
            SLACK_CALLS.labels(api_method, type(e).__name__).inc()
            raise
        SLACK_CALLS.labels(api_method, "ok").inc()
        return response


def count_slack_retry(url: str, reason: str) -> None:
    """A retry of a Slack Web API call (or of a response_url post), by method and reason."""
    SLACK_RETRIES.labels(_slack_method(url), reason).inc()


def _slack_method(url: str) -> str:
    """The Web API method of a request URL; any other URL (a response_url, which holds a token) is named so."""
    path = urlparse(url).path
    return path.rsplit("/api/", 1)[1] if "/api/" in path else "response_url"


# State read at scrape time
