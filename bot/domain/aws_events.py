"""EventBridge events from the SQS queue, parsed into what Keywarden acts on. Pure.

Two kinds are known: AWS Health risk events about a key (`AWS_RISK_CREDENTIALS_EXPOSED`, `..._COMPROMISED`,
`..._EXPOSURE_SUSPECTED`, `..._COMPROMISE_SUSPECTED`, `AWS_RISK_IAM_QUARANTINE`) and CloudTrail
`CreateAccessKey` / `UpdateAccessKey` / `DeleteAccessKey` calls. Anything else is `UnknownEvent`; a body
that is not an EventBridge event at all is `MalformedEvent`. Their messages carry only the event's type
and id, never its body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from bot.domain.keys import AccessKey

EXPOSED_TYPE = "AWS_RISK_CREDENTIALS_EXPOSED"
COMPROMISED_TYPE = "AWS_RISK_CREDENTIALS_COMPROMISED"
EXPOSURE_SUSPECTED_TYPE = "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED"
COMPROMISE_SUSPECTED_TYPE = "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED"
QUARANTINE_TYPE = "AWS_RISK_IAM_QUARANTINE"
# AWS Health's risk events about access keys: each gets the exposure response (deploy/aws/events.yaml routes them).
HEALTH_RISK_TYPES = (
    EXPOSED_TYPE,
    COMPROMISED_TYPE,
    EXPOSURE_SUSPECTED_TYPE,
    COMPROMISE_SUSPECTED_TYPE,
    QUARANTINE_TYPE,
)
KEY_CALLS = frozenset({"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"})
_KEY_ID = re.compile(r"^(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_EVENT_ID = re.compile(r"^[\w:./-]{1,128}$")
_STATUSES = ("Active", "Inactive")
MAX_BODY = 256 * 1024  # SQS's own limit
CREATED_WITHIN = timedelta(minutes=5)  # a created key's CreateDate and its event's time agree this closely


class MalformedEvent(ValueError):
    """Not an EventBridge event: not JSON, or without an id and type."""

    def __init__(self, kind: str, event_id: str = "-") -> None:
        super().__init__(f"{kind} (id {event_id})")
        self.kind = kind
        self.event_id = event_id


class UnknownEvent(ValueError):
    """An EventBridge event of a type Keywarden does not act on, or missing what it needs."""

    def __init__(self, kind: str, event_id: str) -> None:
        super().__init__(f"{kind} (id {event_id})")
        self.kind = kind
        self.event_id = event_id


@dataclass(frozen=True)
class CredentialsExposed:
    """AWS Health: these keys of this account were exposed, abused, suspected so, or their user quarantined."""

    event_id: str
    aws_account_id: str  # the affected account (`detail.affectedAccount` in an organisational view)
    key_ids: tuple[str, ...]
    at: datetime | None  # Health's startTime (RFC 1123), else the event's time
    type_code: str = EXPOSED_TYPE  # one of HEALTH_RISK_TYPES


@dataclass(frozen=True)
class KeyChanged:
    """CloudTrail: a key was created, changed or deleted by `principal`."""

    event_id: str
    aws_account_id: str
    call: str  # CreateAccessKey | UpdateAccessKey | DeleteAccessKey
    user: str
    key_id: str
    status: str | None  # the status set (Update) or the new key's (Create)
    principal: str  # the caller's ARN
    caller: Principal | None
    source_ip: str
    at: datetime | None
    failed: bool  # the call itself failed (errorCode): nothing changed


AwsEvent = CredentialsExposed | KeyChanged


@dataclass(frozen=True)
class Principal:
    """Who called, reduced to what stays the same across sessions: (kind, account id, name)."""

    kind: str  # role | user | root
    account: str
    name: str


def principal_of(arn: str) -> Principal | None:
    """`arn:aws:iam::1:role/path/R`, `arn:aws:sts::1:assumed-role/R/session`, `arn:aws:iam::1:user/N`, root."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not _ACCOUNT_ID.match(parts[4]):
        return None
    account, resource = parts[4], parts[5]
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role" and rest:
        return Principal("role", account, rest.split("/")[0])
    if kind in ("role", "user") and rest:
        return Principal(kind, account, rest.rsplit("/", 1)[-1])
    if kind == "root":
        return Principal("root", account, "root")
    return None


def caller_of(identity: dict[str, Any]) -> tuple[str, Principal | None]:
    """The caller's ARN as CloudTrail names it, and its principal (the role for an assumed-role session)."""
    arn = _text(identity.get("arn"))
    issuer_arn = _text(_object(_object(identity.get("sessionContext")).get("sessionIssuer")).get("arn"))
    return arn or issuer_arn or _text(identity.get("type")) or "unknown", principal_of(issuer_arn or arn)


def parse_event(body: str | bytes) -> AwsEvent:
    """One SQS message body: an EventBridge event of a known kind, or MalformedEvent / UnknownEvent."""
    if len(body) > MAX_BODY:
        raise MalformedEvent("oversized body")
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedEvent("not JSON") from None
    if not isinstance(event, dict):
        raise MalformedEvent("not a JSON object")
    event_id = _text(event.get("id"))
    kind = _text(event.get("detail-type"))
    if not _EVENT_ID.match(event_id) or not kind:
        raise MalformedEvent("not an EventBridge event", _safe_id(event_id))
    detail = event.get("detail")
    account = _text(event.get("account"))
    if not isinstance(detail, dict) or not _ACCOUNT_ID.match(account):
        raise UnknownEvent(_safe_kind(kind), event_id)
    source = _text(event.get("source"))
    if source == "aws.health" and _text(detail.get("eventTypeCode")) in HEALTH_RISK_TYPES:
        affected = _text(detail.get("affectedAccount"))  # Health's organisational view: the member account
        return _exposed(event, detail, event_id, affected if _ACCOUNT_ID.match(affected) else account)
    if kind == "AWS API Call via CloudTrail" and _text(detail.get("eventName")) in KEY_CALLS:
        return _key_changed(event, detail, event_id, account)
    code = _text(detail.get("eventTypeCode")) or _text(detail.get("eventName"))
    raise UnknownEvent(_safe_kind(f"{kind}/{code}" if code else kind), event_id)


def _exposed(event: dict[str, Any], detail: dict[str, Any], event_id: str, account: str) -> CredentialsExposed:
    found: list[str] = []
    values = [e.get("entityValue") for e in _array(detail.get("affectedEntities")) if isinstance(e, dict)]
    resources = _array(event.get("resources"))
    for value in [*values, *resources]:
        text = _text(value).strip()
        if _KEY_ID.match(text) and text not in found:
            found.append(text)
    code = _text(detail.get("eventTypeCode"))
    if not found:
        raise UnknownEvent(f"AWS Health Event/{code} without a key id", event_id)
    at = health_time(detail.get("startTime")) or _time(event.get("time"))
    return CredentialsExposed(event_id, account, tuple(found[:10]), at, code)


def health_time(value: Any) -> datetime | None:
    """AWS Health's startTime: RFC 1123 (`Sat, 05 Jun 2016 15:10:09 GMT`), or ISO 8601 as some tools write it."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return _time(value)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _key_changed(event: dict[str, Any], detail: dict[str, Any], event_id: str, account: str) -> KeyChanged:
    call = _text(detail.get("eventName"))
    params = _object(detail.get("requestParameters"))
    created = _object(_object(detail.get("responseElements")).get("accessKey"))
    identity = _object(detail.get("userIdentity"))
    key_id = _text(params.get("accessKeyId") or created.get("accessKeyId"))
    # Without userName the caller acted on their own user.
    user = _text(params.get("userName") or created.get("userName") or identity.get("userName"))
    failed = bool(detail.get("errorCode"))
    if not failed and (not _KEY_ID.match(key_id) or not _USER_NAME.match(user)):
        raise UnknownEvent(f"AWS API Call via CloudTrail/{call} without a key id or user", event_id)
    principal, caller = caller_of(identity)
    recipient = _text(detail.get("recipientAccountId"))  # the account whose key it is (an organisation's trail)
    return KeyChanged(
        event_id=event_id,
        aws_account_id=recipient if _ACCOUNT_ID.match(recipient) else account,
        call=call,
        user=user if _USER_NAME.match(user) else "",
        key_id=key_id if _KEY_ID.match(key_id) else "",
        status=status if (status := _text(params.get("status") or created.get("status"))) in _STATUSES else None,
        principal=principal[:300],
        caller=caller,
        source_ip=_text(detail.get("sourceIPAddress"))[:64],
        at=_time(detail.get("eventTime")) or _time(event.get("time")),
        failed=failed,
    )


def is_keywarden(caller: Principal | None, ours: frozenset[Principal]) -> bool:
    return caller is not None and caller in ours


def contradiction(change: KeyChanged, live: AccessKey | None) -> str | None:
    """What IAM's live state says against a CloudTrail claim (`live`: the key among the user's keys now, or
    None), or None when IAM bears the claim out. The event is only a claim: anyone who may send to the queue
    can write one."""
    if change.call == "DeleteAccessKey":
        return f"IAM still lists the key ({live.status})" if live is not None else None
    if live is None:
        return "IAM lists no such key for this user"
    if change.call == "CreateAccessKey":
        if change.at is None or abs(live.created - change.at) > CREATED_WITHIN:
            return f"IAM shows the key created {live.created:%Y-%m-%d %H:%M} UTC, not at the event's time"
        return None
    if change.status != live.status:
        return f"IAM shows the key {live.status}, not {change.status or 'changed'}"
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the event, or an empty one where the event has anything else."""
    return value if isinstance(value, dict) else {}


def _array(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _safe_id(value: str) -> str:
    return value if _EVENT_ID.match(value) else "-"


def _safe_kind(value: str) -> str:
    """An event type for a log line: printable, short."""
    return "".join(c if c.isprintable() else "?" for c in value)[:120]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
