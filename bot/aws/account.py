"""One account's AWS calls (IAM, STS, CloudTrail, Access Advisor, Secrets Manager), errors translated.

Retries resend a call whose answer was lost, so only idempotent calls are retried:
`CreateAccessKey` is sent once (a retry after a lost answer makes a second key). The other
writes are safe to resend: `UpdateAccessKey` sets a status, `DeleteAccessKey` of a deleted key
answers NoSuchEntity (read as done), and botocore gives `CreateSecret` / `PutSecretValue` a
`ClientRequestToken` that AWS uses to ignore a repeat.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from bot import metrics
from bot.aws.authorization import IamUser, users_of
from bot.aws.errors import (
    AwsError,
    AwsNotFound,
    translate,
)
from bot.domain.keys import AccessKey, LastUsed
from bot.logs import remember_secret

log = logging.getLogger(__name__)


# boto3's standard retries with 5 attempts, unless boto3's own AWS_MAX_ATTEMPTS says otherwise (it reads the
# variable itself only when the client's config leaves the number out).
RETRIES = Config(
    retries={"mode": "standard"} if "AWS_MAX_ATTEMPTS" in os.environ else {"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=20,
)
# GetAccountAuthorizationDetails: users with their groups and policies, the groups' policies, and the documents
# of customer-managed policies. AWS-managed policies are judged by name (bot.domain.privilege): asking for
# their documents too would add every version of each one attached (megabytes) and more pages.
AUTHORIZATION_FILTER = ["User", "Group", "LocalManagedPolicy"]
_ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=20)
# Only when no region is configured, which settings allow in the `aws` partition alone (elsewhere AWS_REGION is
# required: us-east-1 does not exist in GovCloud or China).
GLOBAL_REGION = "us-east-1"
# The AWS services Keywarden calls in an account (a misspelt one fails the type check, not a scan).
Service = Literal["cloudtrail", "iam", "organizations", "secretsmanager", "securityhub", "ssm", "sts"]


@dataclass(frozen=True)
class AccessReport:
    """An Access Advisor job: IN_PROGRESS, COMPLETED or FAILED, with the services once COMPLETED."""

    status: str
    services: list[dict[str, Any]]
    error: str | None = None


@dataclass(frozen=True)
class NewKey:
    """A freshly created key. The secret lives only in memory and never in repr()."""

    user: str
    key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"NewKey(user={self.user!r}, key_id={self.key_id!r}, secret=<hidden>)"

    __str__ = __repr__


def _not_applicable(value: str | None) -> str | None:
    return None if value in (None, "", "N/A") else value


class AccountClient:
    """IAM (and friends) for one account, errors translated."""

    def __init__(self, alias: str, session: boto3.Session) -> None:
        self.alias = alias
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # API operations made, by "service:Operation"

    @property
    def region(self) -> str:
        return self._session.region_name or GLOBAL_REGION

    def client(
        self, service: Service, region: str | None = None, *, once: bool = False, timeout: float | None = None
    ) -> Any:
        """The boto3 client of a service in this account (created once; boto3 clients are thread-safe).

        `region`: for regional services read in several regions (CloudTrail); default the session's region.
        `once`: a client that never retries, for calls that must not run twice. `timeout`: seconds to connect and
        to wait for an answer, instead of 5 and 20.
        """
        name = f"{service}@{region}" if region else service
        name += "/once" if once else ""
        name += f"/{timeout}s" if timeout else ""
        with self._lock:
            if name not in self._clients:
                config = _ONCE if once else RETRIES
                if timeout:
                    config = config.merge(Config(connect_timeout=timeout, read_timeout=timeout))
                client = self._session.client(service, region_name=region or self.region, config=config)
                client.meta.events.register(f"before-call.{client.meta.service_model.service_name}", self._count)
                if service == "iam":
                    client.meta.events.register("before-parse.iam.CreateAccessKey", _remember_new_secret)
                metrics.watch_aws(client)
                self._clients[name] = client
            return self._clients[name]

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def _call(self, service: Service, method: str, *, once: bool = False, **kwargs: Any) -> Any:
        try:
            return getattr(self.client(service, once=once), method)(**kwargs)
        except (ClientError, BotoCoreError) as e:
            raise translate(e, self.alias, service) from None

    def _pages(self, service: Service, method: str, key: str, **kwargs: Any) -> Iterator[Any]:
        try:
            for page in self.client(service).get_paginator(method).paginate(**kwargs):
                yield from page[key]
        except (ClientError, BotoCoreError) as e:
            raise translate(e, self.alias, service) from None

    # Reads
    def account_id(self) -> str:
        return self._call("sts", "get_caller_identity")["Account"]

    def caller_arn(self) -> str:
        """The ARN Keywarden itself acts as in this account (an IAM user's, or an assumed role's)."""
        return self._call("sts", "get_caller_identity")["Arn"]

    def user_details(self) -> Iterator[IamUser]:
        """Every IAM user with its tags and what its policies grant (GetAccountAuthorizationDetails).

        One paginated call sequence, 1,000 items a page (the most the API allows). Groups and policies may
        come on any page, so a user's access is worked out once every page has been read.
        """
        yield from users_of(self._authorization_pages())

    def _authorization_pages(self) -> Iterator[dict[str, Any]]:
        paginator = self.client("iam").get_paginator("get_account_authorization_details")
        try:
            yield from paginator.paginate(Filter=AUTHORIZATION_FILTER, PaginationConfig={"PageSize": 1000})
        except (ClientError, BotoCoreError) as e:
            raise translate(e, self.alias, "iam") from None

    def user_exists(self, user: str) -> bool:
        try:
            self._call("iam", "get_user", UserName=user)
        except AwsNotFound:
            return False
        return True

    def list_access_keys(self, user: str) -> list[AccessKey]:
        return [
            AccessKey(user, k["AccessKeyId"], k["Status"], utc(k["CreateDate"]))
            for k in self._pages("iam", "list_access_keys", "AccessKeyMetadata", UserName=user)
        ]

    def access_keys_and_time(self, user: str) -> tuple[list[AccessKey], datetime | None]:
        """A user's keys (at most two: one page) and AWS's own time of the answer (its Date header)."""
        reply = self._call("iam", "list_access_keys", UserName=user)
        keys = [
            AccessKey(user, k["AccessKeyId"], k["Status"], utc(k["CreateDate"])) for k in reply["AccessKeyMetadata"]
        ]
        date = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        try:
            return keys, utc(email.utils.parsedate_to_datetime(date)) if date else None
        except (TypeError, ValueError):
            return keys, None

    def key_last_used(self, key_id: str) -> LastUsed:
        reply = self._call("iam", "get_access_key_last_used", AccessKeyId=key_id)
        used = reply.get("AccessKeyLastUsed", {})
        date = used.get("LastUsedDate")
        return LastUsed(
            reply.get("UserName", ""),
            utc(date) if date else None,
            _not_applicable(used.get("ServiceName")),
            _not_applicable(used.get("Region")),
        )

    def key_owner_account(self, key_id: str) -> str:
        """The AWS account id that owns any access key id (sts:GetAccessKeyInfo)."""
        return self._call("sts", "get_access_key_info", AccessKeyId=key_id)["Account"]

    def has_console_password(self, user: str) -> bool:
        """Whether the user can sign in to the console (iam:GetLoginProfile)."""
        try:
            self._call("iam", "get_login_profile", UserName=user)
        except AwsNotFound:
            return False
        return True

    def user_tags(self, user: str) -> dict[str, str]:
        """The user's IAM tags as they are now (iam:GetUser)."""
        return {t["Key"]: t["Value"] for t in self._call("iam", "get_user", UserName=user)["User"].get("Tags", [])}

    def user_arn(self, user: str) -> str:
        return self._call("iam", "get_user", UserName=user)["User"]["Arn"]

    # CloudTrail
    def lookup_key_events(
        self, region: str, key_id: str, start: datetime, end: datetime, pace: Callable[[], None]
    ) -> Iterator[dict[str, Any]]:
        """CloudTrail events signed with an access key in one region, newest first, 50 a page (LookupEvents).

        `pace()` runs before each page: CloudTrail allows 2 LookupEvents a second per account and region.
        Stop iterating to stop asking for pages.
        """
        client = self.client("cloudtrail", region)
        params: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}],
            "StartTime": start,
            "EndTime": end,
            "MaxResults": 50,
        }
        while True:
            pace()
            try:
                reply = client.lookup_events(**params)
            except (ClientError, BotoCoreError) as e:
                raise translate(e, self.alias, "cloudtrail", region) from None
            yield from reply.get("Events", [])
            token = reply.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    # IAM Access Advisor
    def start_access_report(self, arn: str) -> str:
        """Start an Access Advisor job for a user, group or role (GenerateServiceLastAccessedDetails)."""
        reply = self._call("iam", "generate_service_last_accessed_details", Arn=arn, Granularity="SERVICE_LEVEL")
        return reply["JobId"]

    def access_report(self, job_id: str) -> AccessReport:
        """The job's status and, once COMPLETED, every service the entity's policies allow (all pages)."""
        services: list[dict[str, Any]] = []
        params: dict[str, Any] = {"JobId": job_id, "MaxItems": 1000}
        while True:
            reply = self._call("iam", "get_service_last_accessed_details", **params)
            status = reply.get("JobStatus", "")
            if status != "COMPLETED":
                return AccessReport(status, [], (reply.get("Error") or {}).get("Message"))
            services.extend(reply.get("ServicesLastAccessed", []))
            if not reply.get("IsTruncated"):
                return AccessReport(status, services, None)
            params["Marker"] = reply["Marker"]

    def account_summary(self) -> dict[str, int]:
        return self._call("iam", "get_account_summary")["SummaryMap"]

    def generate_credential_report(self) -> str:
        return self._call("iam", "generate_credential_report")["State"]

    def get_credential_report(self) -> tuple[bytes, datetime]:
        reply = self._call("iam", "get_credential_report")
        return reply["Content"], utc(reply["GeneratedTime"])

    # Writes
    def create_access_key(self, user: str) -> NewKey:
        """Sent once: AwsUnavailable means the key may or may not exist (the caller asks AWS)."""
        key = self._call("iam", "create_access_key", once=True, UserName=user)["AccessKey"]
        remember_secret(key["SecretAccessKey"])
        return NewKey(user, key["AccessKeyId"], key["SecretAccessKey"])

    def set_key_status(self, user: str, key_id: str, status: str) -> None:
        self._call("iam", "update_access_key", UserName=user, AccessKeyId=key_id, Status=status)

    def delete_access_key(self, user: str, key_id: str) -> None:
        self._call("iam", "delete_access_key", UserName=user, AccessKeyId=key_id)

    def store_secret(self, name: str, payload: str, description: str) -> str:
        """Create or update a Secrets Manager secret; returns its ARN."""
        try:
            return self._call(
                "secretsmanager", "create_secret", Name=name, SecretString=payload, Description=description
            )["ARN"]
        except AwsError as e:
            if "ResourceExistsException" not in e.message:
                raise
        return self._call("secretsmanager", "put_secret_value", SecretId=name, SecretString=payload)["ARN"]


_SECRET_IN_ANSWER = re.compile(rb"<SecretAccessKey>\s*([^<\s]+)\s*</SecretAccessKey>")


def _remember_new_secret(response_dict: dict[str, Any], **_: Any) -> None:
    """Before botocore parses (and, at DEBUG, logs) a CreateAccessKey answer, have the logs redact its secret."""
    body = response_dict.get("body")
    match = _SECRET_IN_ANSWER.search(body) if isinstance(body, bytes) else None
    if match:
        remember_secret(match.group(1).decode(errors="replace"))


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
