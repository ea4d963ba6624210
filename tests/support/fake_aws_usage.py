"""CloudTrail's LookupEvents and IAM Access Advisor on loopback, speaking their wire protocols.

moto implements neither. Point boto3 here with its service-specific variables:

- `AWS_ENDPOINT_URL_CLOUDTRAIL`: CloudTrail, JSON 1.1 (`X-Amz-Target: ...CloudTrail_20131101.LookupEvents`).
  Pages of at most 50 events, newest first; `NextToken`; 2 requests a second per caller and region
  enforced with a token bucket (a request over the limit gets `ThrottlingException`, as AWS answers).
- `AWS_ENDPOINT_URL_IAM`: IAM's Query/XML protocol. `GenerateServiceLastAccessedDetails` and
  `GetServiceLastAccessedDetails` are answered here (jobs that stay IN_PROGRESS for a while, fail, or
  never finish; several pages); every other IAM action is forwarded to `upstream` (moto's server).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
_IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
ACCOUNT = "123456789012"  # moto's default account
MAX_PAGE = 50


@dataclass
class Bucket:
    """AWS-style throttling: `rate` tokens a second, at most `capacity` saved up."""

    rate: float
    capacity: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class AdvisorJob:
    arn: str
    polls_left: int
    created: datetime


@dataclass
class Advisor:
    """How Access Advisor behaves: per user ARN the services its policies allow (with last use)."""

    services: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    in_progress_polls: int = 1  # answers of IN_PROGRESS before COMPLETED
    never_finishes: bool = False
    failure: str | None = None  # a job that ends FAILED with this message
    page_size: int = 1000


class FakeUsageAws:
    def __init__(
        self,
        upstream: str | None = None,
        *,
        rate: float = 2.0,
        capacity: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.rate = rate
        self.capacity = capacity
        self._monotonic = monotonic
        self.events: dict[str, list[dict[str, Any]]] = {}  # region -> events, as LookupEvents returns them
        self.denied_regions: set[str] = set()  # AccessDeniedException there ("*": everywhere)
        self.disabled_regions: set[str] = set()  # an opt-in region the account has not enabled
        self.advisor = Advisor()
        self.jobs: dict[str, AdvisorJob] = {}
        self.calls: Counter[str] = Counter()  # by "service:Action" (and "cloudtrail:LookupEvents@region")
        self.lookups: list[tuple[float, str]] = []  # (arrival, region) of every LookupEvents
        self.throttled = 0
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = fake._handle(self, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    # Set-up
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_event(
        self,
        region: str,
        key_id: str,
        at: datetime,
        name: str = "GetCallerIdentity",
        source: str = "sts.amazonaws.com",
        ip: str = "203.0.113.10",
        agent: str = "aws-cli/2.15.0",
        error: str | None = None,
        *,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
    ) -> None:
        """An event signed by `key_id` (an AKIA key, or an ASIA session's: CloudTrail records both alike)."""
        event_id = str(uuid.uuid4())
        detail = {
            "eventVersion": "1.08",
            "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": agent,
            "userIdentity": {
                "type": "IAMUser",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/someone",
                "accountId": ACCOUNT,
                "accessKeyId": key_id,
            },
            "recipientAccountId": ACCOUNT,
            "requestParameters": request,
            "responseElements": response,
            "eventID": event_id,
            **({"errorCode": error, "errorMessage": f"{error} happened"} if error else {}),
        }
        self.events.setdefault(region, []).append(
            {
                "EventId": event_id,
                "EventName": name,
                "ReadOnly": "true",
                "AccessKeyId": key_id,
                "EventTime": at.timestamp(),
                "EventSource": source,
                "Username": "someone",
                "Resources": [],
                "CloudTrailEvent": json.dumps(detail),
            }
        )

    def add_session(
        self,
        region: str,
        key_id: str,
        at: datetime,
        session_key: str,
        *,
        call: str = "GetSessionToken",
        seconds: int = 43_200,
        role_arn: str | None = None,
    ) -> None:
        """`key_id` mints temporary credentials `session_key` (ASIA…) at `at`, as CloudTrail records the call:
        the new key id and expiry in `responseElements.credentials` (its token shortened here; no secret)."""
        expires = datetime.fromtimestamp(at.timestamp() + seconds, UTC)
        request: dict[str, Any] = {"durationSeconds": seconds}
        if role_arn:
            request |= {"roleArn": role_arn, "roleSessionName": "s"}
        credentials = {
            "accessKeyId": session_key,
            "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
            # as CloudTrail writes it: "Dec 8, 2026, 5:00:00 AM"
            "expiration": expires.strftime("%b %-d, %Y, %-I:%M:%S %p"),
        }
        self.add_event(
            region, key_id, at, call, "sts.amazonaws.com", request=request, response={"credentials": credentials}
        )

    # Serving
    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        auth = handler.headers.get("Authorization", "")
        match = _CREDENTIAL.search(auth)
        caller, region, _service = match.groups() if match else ("-", "us-east-1", "-")
        target = handler.headers.get("X-Amz-Target", "")
        if target:
            return self._cloudtrail(caller, region, target.rsplit(".", 1)[-1], body)
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        action = form.get("Action", "")
        with self._lock:
            self.calls[f"iam:{action}"] += 1
        if action == "GenerateServiceLastAccessedDetails":
            return self._generate(form)
        if action == "GetServiceLastAccessedDetails":
            return self._get(form)
        return self._forward(handler, body)

    # CloudTrail (JSON 1.1)
    def _json(self, status: int, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(payload).encode()

    def _error(self, kind: str, message: str) -> tuple[int, dict[str, str], bytes]:
        return self._json(400, {"__type": kind, "message": message})

    def _cloudtrail(self, caller: str, region: str, action: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        now = self._monotonic()
        with self._lock:
            self.calls[f"cloudtrail:{action}"] += 1
            self.calls[f"cloudtrail:{action}@{region}"] += 1
            if action != "LookupEvents":
                return self._error("UnknownOperationException", f"{action} is not served here")
            self.lookups.append((now, region))
            bucket = self._buckets.setdefault((caller, region), Bucket(self.rate, self.capacity, self.capacity, now))
            if not bucket.take(now):
                self.throttled += 1
                return self._error("ThrottlingException", "Rate exceeded")
        if region in self.disabled_regions:
            return self._error("UnrecognizedClientException", "The security token included in the request is invalid.")
        if "*" in self.denied_regions or region in self.denied_regions:
            return self._error(
                "AccessDeniedException",
                f"User: arn:aws:iam::123456789012:user/keywarden is not authorized to perform: "
                f"cloudtrail:LookupEvents in {region}",
            )
        request = json.loads(body or b"{}")
        wanted = {(a["AttributeKey"], a["AttributeValue"]) for a in request.get("LookupAttributes", [])}
        limit = min(int(request.get("MaxResults") or MAX_PAGE), MAX_PAGE)
        start = float(request.get("StartTime", 0))
        end = float(request.get("EndTime", 1e12))
        token = request.get("NextToken")
        offset = 0
        if token:
            if not str(token).startswith("page-"):
                return self._error("InvalidNextTokenException", "bad token")
            offset = int(str(token)[5:])
        matching = [
            e
            for e in self.events.get(region, [])
            if start <= e["EventTime"] <= end and all(k != "AccessKeyId" or e["AccessKeyId"] == v for k, v in wanted)
        ]
        matching.sort(key=lambda e: -e["EventTime"])
        page = matching[offset : offset + limit]
        reply: dict[str, Any] = {"Events": page}
        if offset + limit < len(matching):
            reply["NextToken"] = f"page-{offset + limit}"
        return self._json(200, reply)

    # IAM Access Advisor (Query/XML)
    def _xml(self, action: str, result: str) -> tuple[int, dict[str, str], bytes]:
        text = (
            f'<{action}Response xmlns="{_IAM_NS}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
        )
        return 200, {"Content-Type": "text/xml"}, text.encode()

    def _iam_error(self, status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
        text = (
            f'<ErrorResponse xmlns="{_IAM_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        return status, {"Content-Type": "text/xml"}, text.encode()

    def _generate(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        arn = form.get("Arn", "")
        if not arn.startswith("arn:"):
            return self._iam_error(400, "InvalidInput", "ARN is not valid")
        job_id = str(uuid.uuid4())
        with self._lock:
            self.jobs[job_id] = AdvisorJob(arn, self.advisor.in_progress_polls, datetime.now(UTC))
        return self._xml("GenerateServiceLastAccessedDetails", f"<JobId>{job_id}</JobId>")

    def _get(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            job = self.jobs.get(form.get("JobId", ""))
            if job is None:
                return self._iam_error(404, "NoSuchEntity", "No job with that id")
            created = job.created.strftime("%Y-%m-%dT%H:%M:%SZ")
            head = f"<JobType>SERVICE_LEVEL</JobType><JobCreationDate>{created}</JobCreationDate>"
            if self.advisor.never_finishes or job.polls_left > 0:
                job.polls_left -= 1
                return self._xml("GetServiceLastAccessedDetails", f"<JobStatus>IN_PROGRESS</JobStatus>{head}")
            if self.advisor.failure:
                error = f"<Error><Message>{escape(self.advisor.failure)}</Message><Code>Failed</Code></Error>"
                return self._xml(
                    "GetServiceLastAccessedDetails",
                    f"<JobStatus>FAILED</JobStatus>{head}<JobCompletionDate>{created}</JobCompletionDate>{error}",
                )
            services = self.advisor.services.get(job.arn, [])
        size = min(int(form.get("MaxItems") or 100), self.advisor.page_size)
        offset = int(form.get("Marker", "0") or 0)
        page = services[offset : offset + size]
        members = "".join(_service_xml(s) for s in page)
        more = offset + size < len(services)
        tail = f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>" + (
            f"<Marker>{offset + size}</Marker>" if more else ""
        )
        return self._xml(
            "GetServiceLastAccessedDetails",
            f"<JobStatus>COMPLETED</JobStatus>{head}<ServicesLastAccessed>{members}</ServicesLastAccessed>"
            f"<JobCompletionDate>{created}</JobCompletionDate>{tail}",
        )

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.upstream is None:
            return self._iam_error(400, "InvalidAction", "this fake forwards nothing")
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in {"host", "content-length"}}
        request = urllib.request.Request(self.upstream + handler.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                status, payload, reply_headers = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, payload, reply_headers = e.code, e.read(), e.headers
        kept = {
            k: v
            for k, v in reply_headers.items()
            if k.lower() not in {"content-length", "transfer-encoding", "connection", "server", "date"}
        }
        return status, kept, payload


@contextmanager
def usage_endpoints(upstream: str, monkeypatch: Any) -> Iterator[FakeUsageAws]:
    """A FakeUsageAws that boto3 is pointed at for CloudTrail and IAM (every other IAM call goes on to `upstream`)."""
    server = FakeUsageAws(upstream)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", server.url)
    try:
        yield server
    finally:
        server.stop()


def service(name: str, namespace: str, last_used: datetime | None = None, region: str | None = None) -> dict:
    """One entry of ServicesLastAccessed."""
    return {"ServiceName": name, "ServiceNamespace": namespace, "LastAuthenticated": last_used, "Region": region}


def _service_xml(s: dict[str, Any]) -> str:
    parts = [
        f"<ServiceName>{escape(s['ServiceName'])}</ServiceName>",
        f"<ServiceNamespace>{escape(s['ServiceNamespace'])}</ServiceNamespace>",
        f"<TotalAuthenticatedEntities>{1 if s.get('LastAuthenticated') else 0}</TotalAuthenticatedEntities>",
    ]
    if s.get("LastAuthenticated"):
        parts.append(f"<LastAuthenticated>{s['LastAuthenticated'].strftime('%Y-%m-%dT%H:%M:%SZ')}</LastAuthenticated>")
        parts.append("<LastAuthenticatedEntity>arn:aws:iam::123456789012:user/x</LastAuthenticatedEntity>")
    if s.get("Region"):
        parts.append(f"<LastAuthenticatedRegion>{escape(s['Region'])}</LastAuthenticatedRegion>")
    return "<member>" + "".join(parts) + "</member>"
