"""The AWS adapter: the only module that talks to boto3.

One session per configured account (an assumed role, refreshed by botocore before it
expires), boto3's standard retries, and every AWS error turned into an `AwsError`
whose message a person can act on.

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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from bot import metrics
from bot.domain.privilege import AttachedPolicy, InlinePolicy, PolicyHolder, UserAccess, user_access
from bot.logs import remember_secret
from bot.settings import Account, Organization

log = logging.getLogger(__name__)

# boto3's standard retries with 5 attempts, unless boto3's own AWS_MAX_ATTEMPTS says otherwise (it reads the
# variable itself only when the client's config leaves the number out).
_RETRIES = Config(
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
_GLOBAL_REGION = "us-east-1"


class AwsError(Exception):
    """An AWS failure in words a person can act on."""

    code = "Error"

    def __init__(self, message: str, *, permission: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permission = permission


class AwsPermissionDenied(AwsError):
    code = "AccessDenied"


class AwsBadCredentials(AwsPermissionDenied):
    """AWS refused the credentials themselves (invalid, expired, another partition's): no permission is missing."""

    code = "InvalidCredentials"


class AwsNotFound(AwsError):
    code = "NoSuchEntity"


class AwsLimitExceeded(AwsError):
    code = "LimitExceeded"


class AwsThrottled(AwsError):
    code = "Throttling"


class AwsUnavailable(AwsError):
    code = "Unavailable"


class AwsReportNotReady(AwsError):
    code = "ReportNotReady"


class AwsRegionDisabled(AwsError):
    code = "RegionDisabled"


_THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
# (UnrecognizedClientException is left to _OPT_IN_REGION: it is what a region not enabled for the account answers.)
_BAD_CREDENTIALS = {"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"}
_NOT_FOUND = {"NoSuchEntity", "ResourceNotFoundException"}
_OPT_IN_REGION = {"UnrecognizedClientException", "OptInRequired"}
_REPORT_NOT_READY = {"ReportNotPresent", "ReportExpired", "ReportInProgress"}


def translate(error: Exception, account: str, service: str, region: str | None = None) -> AwsError:
    """Map a botocore exception to a domain error naming the action and what to do."""
    if region:
        account = f"{account}` (region `{region}"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        action = f"{service}:{error.operation_name}"
        if code in _BAD_CREDENTIALS:
            state = "expired" if code.startswith("Expired") else "invalid"
            return AwsBadCredentials(
                f"AWS rejected the credentials Keywarden uses for account `{account}` as {state} ({code} on "
                f"`{action}`); no permission is missing. Renew them or fix where they come from (role, profile, "
                "environment). Credentials of GovCloud or China also need AWS_REGION set to a region of their "
                "partition."
            )
        if code in _DENIED and action == "sts:AssumeRole":
            return AwsPermissionDenied(
                f"AWS refused to let Keywarden assume the role of account `{account}`: Keywarden's own identity needs "
                "`sts:AssumeRole` on that role (docs/iam/hub-policy.json), and the role's trust policy must trust that "
                "identity with the configured external id (docs/iam/member-trust-policy.json).",
                permission=action,
            )
        if code in _DENIED:
            return AwsPermissionDenied(
                f"AWS denied `{action}` in account `{account}`: Keywarden's role needs the "
                f"`{action}` permission (see docs/iam/member-policy.json).",
                permission=action,
            )
        if code in _OPT_IN_REGION:
            return AwsRegionDisabled(
                f"Account `{account}` cannot use this region (it is not enabled for the account, "
                f"or for Keywarden's credentials): {message or code}"
            )
        if code in _NOT_FOUND:
            return AwsNotFound(f"Not found in account `{account}`: {message}")
        if code == "LimitExceeded":
            return AwsLimitExceeded(f"AWS limit reached in account `{account}`: {message}")
        if code in _THROTTLING:
            return AwsThrottled(
                f"AWS is throttling `{action}` in account `{account}` even after retries: try again in a few minutes."
            )
        if code in _REPORT_NOT_READY:
            return AwsReportNotReady(f"{code}: {message}")
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            # A server error after the call reached AWS: whether it took effect is unknown.
            return AwsUnavailable(f"AWS answered {code or 'a server error'} on `{action}` in account `{account}`.")
        return AwsError(f"AWS error {code} on `{action}` in account `{account}`: {message}")
    if isinstance(error, NoCredentialsError):
        return AwsBadCredentials(
            f"No AWS credentials for account `{account}`: set them as boto3 expects (environment, profile or role)."
        )
    if isinstance(error, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)):
        return AwsUnavailable(f"Could not reach AWS for account `{account}` ({type(error).__name__}).")
    return AwsError(f"AWS call failed in account `{account}`: {error}")


@dataclass(frozen=True)
class AccessKey:
    user: str
    key_id: str
    status: str
    created: datetime


@dataclass(frozen=True)
class LastUsed:
    user: str
    date: datetime | None
    service: str | None
    region: str | None


@dataclass(frozen=True)
class IamUser:
    name: str
    arn: str
    tags: dict[str, str]
    access: UserAccess | None = None  # policies and groups; None when not read


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
        return self._session.region_name or _GLOBAL_REGION

    def client(self, service: str, region: str | None = None, *, once: bool = False) -> Any:
        """The boto3 client of a service in this account (created once; boto3 clients are thread-safe).

        `region`: for regional services read in several regions (CloudTrail); default the session's region.
        `once`: a client that never retries, for calls that must not run twice.
        """
        name = f"{service}@{region}" if region else service
        name += "/once" if once else ""
        with self._lock:
            if name not in self._clients:
                client = self._session.client(
                    service, region_name=region or self.region, config=_ONCE if once else _RETRIES
                )
                client.meta.events.register(f"before-call.{client.meta.service_model.service_name}", self._count)
                if service == "iam":
                    client.meta.events.register("before-parse.iam.CreateAccessKey", _remember_new_secret)
                metrics.watch_aws(client)
                self._clients[name] = client
            return self._clients[name]

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def _call(self, service: str, method: str, *, once: bool = False, **kwargs: Any) -> Any:
        try:
            return getattr(self.client(service, once=once), method)(**kwargs)
        except (ClientError, BotoCoreError) as e:
            raise translate(e, self.alias, service) from None

    def _pages(self, service: str, method: str, key: str, **kwargs: Any) -> Iterator[Any]:
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
        users: list[dict[str, Any]] = []
        groups: dict[str, PolicyHolder] = {}
        managed: dict[str, tuple[str, Any]] = {}
        try:
            pages = (
                self.client("iam")
                .get_paginator("get_account_authorization_details")
                .paginate(Filter=AUTHORIZATION_FILTER, PaginationConfig={"PageSize": 1000})
            )
            for page in pages:
                users.extend(page.get("UserDetailList", []))
                for group in page.get("GroupDetailList", []):
                    groups[group["GroupName"]] = _holder(group["GroupName"], group, "GroupPolicyList")
                for policy in page.get("Policies", []):
                    managed[policy["Arn"]] = _default_version(policy)
        except (ClientError, BotoCoreError) as e:
            raise translate(e, self.alias, "iam") from None
        for user in users:
            tags = {t["Key"]: t["Value"] for t in user.get("Tags", [])}
            holder = _holder(user["UserName"], user, "UserPolicyList")
            created = _utc(user["CreateDate"]) if user.get("CreateDate") else None
            access = user_access(holder, created, user.get("GroupList", []), groups, managed)
            yield IamUser(user["UserName"], user["Arn"], tags, access)

    def user_exists(self, user: str) -> bool:
        try:
            self._call("iam", "get_user", UserName=user)
        except AwsNotFound:
            return False
        return True

    def list_access_keys(self, user: str) -> list[AccessKey]:
        return [
            AccessKey(user, k["AccessKeyId"], k["Status"], _utc(k["CreateDate"]))
            for k in self._pages("iam", "list_access_keys", "AccessKeyMetadata", UserName=user)
        ]

    def access_keys_and_time(self, user: str) -> tuple[list[AccessKey], datetime | None]:
        """A user's keys (at most two: one page) and AWS's own time of the answer (its Date header)."""
        reply = self._call("iam", "list_access_keys", UserName=user)
        keys = [
            AccessKey(user, k["AccessKeyId"], k["Status"], _utc(k["CreateDate"])) for k in reply["AccessKeyMetadata"]
        ]
        date = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        try:
            return keys, _utc(email.utils.parsedate_to_datetime(date)) if date else None
        except (TypeError, ValueError):
            return keys, None

    def key_last_used(self, key_id: str) -> LastUsed:
        reply = self._call("iam", "get_access_key_last_used", AccessKeyId=key_id)
        used = reply.get("AccessKeyLastUsed", {})
        date = used.get("LastUsedDate")
        return LastUsed(
            reply.get("UserName", ""),
            _utc(date) if date else None,
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
        return reply["Content"], _utc(reply["GeneratedTime"])

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


def _holder(name: str, detail: dict[str, Any], inline_key: str) -> PolicyHolder:
    return PolicyHolder(
        name,
        tuple(AttachedPolicy(p["PolicyName"], p["PolicyArn"]) for p in detail.get("AttachedManagedPolicies", [])),
        tuple(InlinePolicy(p["PolicyName"], p.get("PolicyDocument")) for p in detail.get(inline_key, [])),
    )


def _default_version(policy: dict[str, Any]) -> tuple[str, Any]:
    """(version id, document) of a managed policy's default version."""
    for version in policy.get("PolicyVersionList", []):
        if version.get("IsDefaultVersion"):
            return version.get("VersionId", ""), version.get("Document")
    return policy.get("DefaultVersionId", ""), None


_SECRET_IN_ANSWER = re.compile(rb"<SecretAccessKey>\s*([^<\s]+)\s*</SecretAccessKey>")


def _remember_new_secret(response_dict: dict[str, Any], **_: Any) -> None:
    """Before botocore parses (and, at DEBUG, logs) a CreateAccessKey answer, have the logs redact its secret."""
    body = response_dict.get("body")
    match = _SECRET_IN_ANSWER.search(body) if isinstance(body, bytes) else None
    if match:
        remember_secret(match.group(1).decode(errors="replace"))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SessionFactory = Callable[[], boto3.Session]


ACCOUNTS_REFRESH = timedelta(hours=1)


@dataclass(frozen=True)
class OrgAccount:
    id: str
    name: str
    status: str


@dataclass
class AccountChanges:
    """What the last refresh of the account set found: accounts that appeared or left, and why it failed."""

    added: list[str] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)  # alias -> why it is no longer scanned
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def digest_lines(self) -> list[str]:
        lines = [f"account `{alias}` is no longer scanned: {why}" for alias, why in self.removed.items()]
        if self.added:
            lines.append("new account(s) found in the organisation: " + ", ".join(f"`{a}`" for a in self.added))
        if self.error:
            lines.append(
                f"the organisation's account list could not be read (the last known one was used): {self.error}"
            )
        return lines + self.warnings


def slug(name: str) -> str:
    """An account name as an alias: lower case letters, digits and dashes, at most 63 characters."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:63].rstrip("-")


def org_aliases(accounts: list[OrgAccount], taken: set[str]) -> dict[str, OrgAccount]:
    """Aliases for discovered accounts: the slug of the name; the id appended on a collision (with another
    discovered account or an ACCOUNTS alias), for every account that shares the name, so none depends on order."""
    slugs = [(slug(a.name) or "account", a) for a in accounts]
    counts = Counter(s for s, _ in slugs)
    result: dict[str, OrgAccount] = {}
    for name, account in slugs:
        alias = name if counts[name] == 1 and name not in taken else f"{name[: 62 - len(account.id)]}-{account.id}"
        result[alias] = account
    return result


def _partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[1] else "aws"


class AwsGateway:
    """Sessions for every account, created lazily and cached.

    The accounts are ACCOUNTS plus, with Organizations discovery, every ACTIVE account of the organisation
    (refreshed at every scan, and in the background when the list is more than an hour old).
    """

    def __init__(
        self,
        accounts: tuple[Account, ...],
        session_factory: SessionFactory = boto3.Session,
        *,
        organization: Organization | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_every: timedelta = ACCOUNTS_REFRESH,
        region: str | None = None,
    ) -> None:
        self._configured = tuple(accounts)
        self._accounts = {a.alias: a for a in accounts}
        self._session_factory = session_factory
        self._org = organization
        self._now = now
        self._refresh_every = refresh_every
        self._listed_at: datetime | None = None
        self._refreshing = False
        self._refresh_lock = threading.Lock()
        self._region = region  # AWS_REGION: boto3 itself reads only AWS_DEFAULT_REGION
        self._base: boto3.Session | None = None
        self._clients: dict[str, AccountClient] = {}
        self._credentials: dict[Account, DeferredRefreshableCredentials] = {}
        self._sts: Any = None
        self._partition: str | None = None
        self._spent: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._lock = threading.Lock()
        self.last_changes = AccountChanges()

    @property
    def aliases(self) -> list[str]:
        if self._org is not None:
            if self._listed_at is None:
                self.refresh_accounts()
            elif self._now() - self._listed_at >= self._refresh_every:
                self._refresh_in_background()
        with self._lock:
            return list(self._accounts)

    def accounts(self) -> list[Account]:
        self.aliases  # noqa: B018 (loads the list the first time)
        with self._lock:
            return list(self._accounts.values())

    def call_counts(self) -> Counter[str]:
        """API operations made so far in every account, by "service:Operation"."""
        with self._lock:
            clients = list(self._clients.values())
            spent = list(self._spent.values())
        return sum((c.calls for c in clients), sum(spent, Counter()))

    def account(self, alias: str) -> AccountClient:
        with self._lock:
            if alias not in self._clients:
                if alias not in self._accounts:
                    raise AwsNotFound(f"No account `{alias}` is configured or found in the organisation.")
                self._clients[alias] = AccountClient(alias, self._session_for(self._accounts[alias]))
            return self._clients[alias]

    def _base_session(self) -> boto3.Session:
        if self._base is None:
            self._base = _with_fast_timestamps(self._session_factory())
            if self._region:
                self._base._session.set_config_variable("region", self._region)
        return self._base

    def _session_for(self, account: Account) -> boto3.Session:
        base = self._base_session()
        if account.role_arn is None:
            return base
        credentials = self._credentials.get(account)
        if credentials is None:
            credentials = self._credentials[account] = _assumed_role_credentials(self._sts_client(), account)
        return _session_with(base, credentials)

    def _sts_client(self) -> Any:
        """One STS client assumes every account's role (a client per account costs ~130 KB at 200 accounts)."""
        if self._sts is None:
            base = self._base_session()
            self._sts = base.client("sts", region_name=base.region_name or _GLOBAL_REGION, config=_RETRIES)
            metrics.watch_aws(self._sts)
        return self._sts

    def release(self, alias: str) -> None:
        """Forget an account's clients (its credentials are kept): a scan of hundreds of accounts holds only those
        it is working on. The next `account(alias)` builds them again (about 15 ms of CPU)."""
        with self._lock:
            client = self._clients.pop(alias, None)
            if client is not None:
                self._spent[alias] += client.calls

    def calls_of(self, alias: str) -> Counter[str]:
        """API operations made in one account so far, by "service:Operation" (released clients included)."""
        with self._lock:
            client = self._clients.get(alias)
            return self._spent[alias] + (client.calls if client else Counter())

    # Organizations discovery
    def refresh_accounts(self) -> AccountChanges:
        """List the organisation again (no-op without discovery). On failure the last known list stays."""
        if self._org is None:
            return AccountChanges()
        with self._refresh_lock:
            changes = self._refresh(self._org)
            self.last_changes = changes
            return changes

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def run() -> None:
            try:
                self.refresh_accounts()
            finally:
                self._refreshing = False

        threading.Thread(target=run, name="keywarden-accounts", daemon=True).start()

    def _refresh(self, org: Organization) -> AccountChanges:
        changes = AccountChanges()
        try:
            listed = self.list_organization(org)
            partition = self.hub_partition()
        except AwsError as e:
            log.warning("could not list the organisation's accounts: %s", e.message)
            changes.error = e.message
            if self._listed_at is None:
                self._listed_at = self._now()  # retried at the next scan, or an hour from now
            return changes
        configured_ids = {_role_account_id(a.role_arn) for a in self._configured} - {None}
        statuses = {a.id: a.status for a in listed}
        active = [
            a
            for a in listed
            if a.status == "ACTIVE" and a.id not in org.exclude_accounts and a.id not in configured_ids
        ]
        found = org_aliases(active, taken={a.alias for a in self._configured})
        accounts = {a.alias: a for a in self._configured}
        for alias, acct in found.items():
            arn = f"arn:{partition}:iam::{acct.id}:role/{org.role_name}"
            accounts[alias] = Account(alias, arn, org.external_id)
        with self._lock:
            before = self._accounts
            first = self._listed_at is None
            self._accounts = accounts
            self._listed_at = self._now()
            for alias in set(before) - set(accounts):
                self._clients.pop(alias, None)
            for alias, acct in accounts.items():
                if alias in self._clients and before.get(alias) != acct:
                    self._clients.pop(alias)
        if not first:
            changes.added = [a for a in accounts if a not in before]
        for alias in before:
            if alias in accounts:
                continue
            account_id = _role_account_id(before[alias].role_arn)
            status = statuses.get(account_id or "")
            if status is None:
                why = f"account {account_id} has left the organisation or was filtered out"
            elif status != "ACTIVE":
                why = f"account {account_id} is {status.lower().replace('_', ' ')} in AWS Organizations"
            else:
                why = f"account {account_id} is excluded by ORG_INCLUDE_OUS / ORG_EXCLUDE_ACCOUNTS"
            changes.removed[alias] = why
        if not active and not self._configured:
            changes.warnings.append(
                "the organisation has no ACTIVE account to scan"
                + (" in ORG_INCLUDE_OUS" if org.include_ous else "")
                + (" outside ORG_EXCLUDE_ACCOUNTS" if org.exclude_accounts else "")
            )
        return changes

    def _org_client(self, org: Organization) -> AccountClient:
        base = self._base_session()
        if org.management_role_arn is None:
            return AccountClient("organization", base)
        management_id = _role_account_id(org.management_role_arn)
        management = Account(f"management account {management_id}", org.management_role_arn, org.external_id)
        credentials = _assumed_role_credentials(self._sts_client(), management)
        return AccountClient(management.alias, _session_with(base, credentials))

    def hub_partition(self) -> str:
        """The partition (aws, aws-us-gov, aws-cn) of the identity Keywarden runs as."""
        if self._partition is None:
            self._partition = _partition(self.caller_arn())
        return self._partition

    def list_organization(self, org: Organization) -> list[OrgAccount]:
        """Every account of the organisation (or of the ORG_INCLUDE_OUS subtrees), whatever its status."""
        client = self._org_client(org)
        try:
            if not org.include_ous:
                return [_org_account(a) for a in client._pages("organizations", "list_accounts", "Accounts")]
            accounts: dict[str, OrgAccount] = {}
            pending = [ou for ou in sorted(org.include_ous) if self._ou_exists(client, ou)]
            while pending:
                parent = pending.pop()
                for a in client._pages("organizations", "list_accounts_for_parent", "Accounts", ParentId=parent):
                    accounts[a["Id"]] = _org_account(a)
                pending += [
                    ou["Id"]
                    for ou in client._pages(
                        "organizations", "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
                    )
                ]
            return list(accounts.values())
        except AwsPermissionDenied as e:
            if e.permission == "sts:AssumeRole":
                raise
            raise AwsPermissionDenied(_org_denied(e, self._identity(org)), permission=e.permission) from None

    def _identity(self, org: Organization) -> str:
        """Who asked Organizations, for an error message: the management role, or the hub's own identity."""
        if org.management_role_arn:
            account_id = _role_account_id(org.management_role_arn)
            return f"`{org.management_role_arn}` (ORG_MANAGEMENT_ROLE_ARN) in account {account_id}"
        try:
            identity = AccountClient("hub", self._base_session())._call("sts", "get_caller_identity")
        except AwsError:
            return "Keywarden's own identity"
        return f"`{identity['Arn']}` in account {identity['Account']}"

    def _ou_exists(self, client: AccountClient, ou: str) -> bool:
        return ou in self.organization_units(client)

    def organization_units(self, client: AccountClient | None = None) -> list[str]:
        """Every root and OU id of the organisation (for checking ORG_INCLUDE_OUS)."""
        if client is None:
            assert self._org is not None
            client = self._org_client(self._org)
        found: list[str] = []
        pending = [r["Id"] for r in client._pages("organizations", "list_roots", "Roots")]
        while pending:
            parent = pending.pop(0)
            found.append(parent)
            pending += [
                ou["Id"]
                for ou in client._pages(
                    "organizations", "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
                )
            ]
        return found

    def check_organization(self) -> list[str]:
        """Start-up warnings about the discovery settings (an ORG_INCLUDE_OUS id that names no OU)."""
        if self._org is None or not self._org.include_ous:
            return []
        try:
            units = self.organization_units()
        except AwsError as e:
            return [f"could not check ORG_INCLUDE_OUS: {e.message}"]
        missing = sorted(self._org.include_ous - set(units))
        if not missing:
            return []
        return [
            f"ORG_INCLUDE_OUS names {', '.join(missing)}, which the organisation does not have; "
            f"its root and OU ids are: {', '.join(units)}"
        ]

    def caller_arn(self) -> str:
        """The ARN of Keywarden's own identity (the credentials boto3 found)."""
        with self._lock:
            if self._base is None:
                self._base = _with_fast_timestamps(self._session_factory())
            base = self._base
        sts = base.client("sts", region_name=base.region_name or _GLOBAL_REGION, config=_RETRIES)
        try:
            return sts.get_caller_identity()["Arn"]
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "hub", "sts") from None

    def queue(self, url: str, wait_seconds: int = 20) -> EventQueue:
        """The SQS queue of EventBridge events, read with Keywarden's own identity."""
        with self._lock:
            if self._base is None:
                self._base = _with_fast_timestamps(self._session_factory())
            base = self._base
        return EventQueue(base, url, wait_seconds)


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt: str
    body: str
    receive_count: int


_SQS_HOST = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")


class EventQueue:
    """Long polling of one SQS queue: receive up to 10 messages, delete each once handled."""

    def __init__(self, session: boto3.Session, url: str, wait_seconds: int = 20) -> None:
        self.url = url
        self.wait_seconds = wait_seconds
        match = _SQS_HOST.match(url)
        region = match.group(1) if match else (session.region_name or _GLOBAL_REGION)
        # A long poll holds the connection for wait_seconds: the read timeout must outlast it.
        config = _RETRIES.merge(Config(read_timeout=wait_seconds + 15))
        self._sqs = session.client("sqs", region_name=region, config=config)

    def receive(self, max_messages: int = 10) -> list[QueueMessage]:
        try:
            reply = self._sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "events queue", "sqs") from None
        return [
            QueueMessage(
                m["MessageId"],
                m["ReceiptHandle"],
                m.get("Body", ""),
                int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1") or 1),
            )
            for m in reply.get("Messages", [])
        ]

    def delete(self, message: QueueMessage) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt)
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "events queue", "sqs") from None

    def retry_later(self, message: QueueMessage, seconds: int) -> None:
        """Show the message again after `seconds` (a handling failure backs off instead of spinning)."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=message.receipt, VisibilityTimeout=max(0, min(seconds, 43_200))
            )
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "events queue", "sqs") from None


def _org_account(a: dict[str, Any]) -> OrgAccount:
    return OrgAccount(a["Id"], a.get("Name") or a["Id"], a.get("State") or a.get("Status") or "ACTIVE")


def _org_denied(error: AwsPermissionDenied, who: str) -> str:
    return (
        f"AWS denied `{error.permission}` to {who}: Organizations discovery needs `organizations:ListAccounts` "
        "(and, with ORG_INCLUDE_OUS, `organizations:ListRoots`, `organizations:ListOrganizationalUnitsForParent` "
        "and `organizations:ListAccountsForParent`) in the management account or a delegated administrator "
        "(set ORG_MANAGEMENT_ROLE_ARN to a role there)."
    )


_ROLE_ACCOUNT_ID = re.compile(r"^arn:[\w-]+:iam::(\d{12}):role/")


def _role_account_id(arn: str | None) -> str | None:
    match = _ROLE_ACCOUNT_ID.match(arn or "")
    return match.group(1) if match else None


def _assumed_role_credentials(sts: Any, account: Account) -> DeferredRefreshableCredentials:
    """Credentials from sts:AssumeRole, asked for on first use and refreshed before they expire."""

    def refresh() -> dict[str, str]:
        params: dict[str, Any] = {"RoleArn": account.role_arn, "RoleSessionName": "keywarden"}
        if account.external_id:
            params["ExternalId"] = account.external_id
        try:
            creds = sts.assume_role(**params)["Credentials"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _DENIED:
                raise AwsPermissionDenied(_assume_denied(account, e), permission="sts:AssumeRole") from None
            raise translate(e, account.alias, "sts") from None
        except BotoCoreError as e:
            raise translate(e, account.alias, "sts") from None
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": _utc(creds["Expiration"]).isoformat(),
        }

    return DeferredRefreshableCredentials(refresh_using=refresh, method="sts-assume-role")


def _session_with(base: boto3.Session, credentials: DeferredRefreshableCredentials) -> boto3.Session:
    core = botocore.session.get_session()
    core._credentials = credentials
    # Share the parsed service models: loading them again costs ~200 ms of CPU and memory per account.
    core.register_component("data_loader", base._session.get_component("data_loader"))
    return _with_fast_timestamps(boto3.Session(botocore_session=core, region_name=base.region_name))


def _assume_denied(account: Account, error: ClientError) -> str:
    said = error.response.get("Error", {}).get("Message", "")
    return (
        f"Keywarden could not assume `{account.role_arn}` for account `{account.alias}`"
        + (f" (AWS denied `sts:AssumeRole`: {said})" if said else " (AWS denied `sts:AssumeRole`)")
        + ": the role is missing in that account, or its trust policy does not trust Keywarden's identity"
        + (", or the external id differs" if account.external_id else "")
        + "."
    )


def _with_fast_timestamps(session: boto3.Session) -> boto3.Session:
    """Parse response timestamps with `datetime.fromisoformat`: dateutil's parser, botocore's default, costs
    about 0.1 ms per value, a third of the client's CPU when reading 5,000 users' details."""
    factory = session._session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=_parse_timestamp)
    return session


def _parse_timestamp(value: Any) -> datetime:
    """AWS's ISO 8601 timestamps as aware datetimes; anything else (epoch seconds, odd forms) as botocore does."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return botocore.utils.parse_timestamp(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
