"""Sessions for every account (assumed roles refreshed by botocore), and Organizations discovery."""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from bot import metrics
from bot.aws.account import _ONCE, GLOBAL_REGION, RETRIES, AccountClient, utc
from bot.aws.errors import (
    _DENIED,
    AwsError,
    AwsNotFound,
    AwsPermissionDenied,
    translate,
)
from bot.aws.organizations import (
    AccountChanges,
    OrgAccount,
    diff_accounts,
    list_accounts,
    org_denied,
    organization_units,
    role_account_id,
)
from bot.aws.queue import EventQueue
from bot.aws.sessions import assume_denied, session_with, with_fast_timestamps
from bot.settings.accounts import Account, Organization

log = logging.getLogger(__name__)


SessionFactory = Callable[[], boto3.Session]


ACCOUNTS_REFRESH = timedelta(hours=1)


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
        session_factory: SessionFactory | None = None,
        *,
        organization: Organization | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_every: timedelta = ACCOUNTS_REFRESH,
        region: str | None = None,
    ) -> None:
        self._configured = tuple(accounts)
        self._accounts = {a.alias: a for a in accounts}
        self._session_factory = session_factory or boto3.Session
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
        """The accounts known now: ACCOUNTS and the organisation's as last listed (no AWS call)."""
        with self._lock:
            return list(self._accounts)

    def list_aliases(self) -> list[str]:
        """The accounts to work on: with discovery, the organisation is listed the first time, and again in the
        background once the list is more than an hour old."""
        self._keep_listed()
        return self.aliases

    def accounts(self) -> list[Account]:
        self._keep_listed()
        with self._lock:
            return list(self._accounts.values())

    def _keep_listed(self) -> None:
        if self._org is None:
            return
        if self._listed_at is None:
            self.refresh_accounts()
        elif self._now() - self._listed_at >= self._refresh_every:
            self._refresh_in_background()

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
                    raise AwsNotFound(
                        f"No account `{alias}` is configured or found in the organisation.", for_people=True
                    )
                self._clients[alias] = AccountClient(alias, self._session_for(self._accounts[alias]))
            return self._clients[alias]

    def _base_session(self) -> boto3.Session:
        """Keywarden's own session, made on first use, in AWS_REGION when it is set."""
        if self._base is None:
            self._base = with_fast_timestamps(self._session_factory())
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
        return session_with(base, credentials)

    def _sts_client(self) -> Any:
        """One STS client assumes every account's role (a client per account costs ~130 KB at 200 accounts)."""
        if self._sts is None:
            base = self._base_session()
            self._sts = base.client("sts", region_name=base.region_name or GLOBAL_REGION, config=RETRIES)
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
        try:
            listed = self.list_organization(org)
            partition = self.hub_partition()
        except AwsError as e:
            log.warning("could not list the organisation's accounts: %s", e.message)
            if self._listed_at is None:
                self._listed_at = self._now()  # retried at the next scan, or an hour from now
            return AccountChanges(error=e.message)
        with self._lock:
            before = self._accounts
            accounts, changes = diff_accounts(
                self._configured, before, listed, org, partition, first=self._listed_at is None
            )
            self._accounts = accounts
            self._listed_at = self._now()
            for alias in list(self._clients):
                if alias not in accounts or before.get(alias) != accounts[alias]:  # gone, or reached another way
                    self._clients.pop(alias)
        return changes

    def _org_client(self, org: Organization) -> AccountClient:
        base = self._base_session()
        if org.management_role_arn is None:
            return AccountClient("organization", base)
        management_id = role_account_id(org.management_role_arn)
        management = Account(f"management account {management_id}", org.management_role_arn, org.external_id)
        credentials = _assumed_role_credentials(self._sts_client(), management)
        return AccountClient(management.alias, session_with(base, credentials))

    def hub_partition(self) -> str:
        """The partition (aws, aws-us-gov, aws-cn) of the identity Keywarden runs as."""
        if self._partition is None:
            self._partition = _partition(self.caller_arn())
        return self._partition

    def list_organization(self, org: Organization) -> list[OrgAccount]:
        """Every account of the organisation (or of the ORG_INCLUDE_OUS subtrees), whatever its status."""
        client = self._org_client(org)
        try:
            return list_accounts(client, org.include_ous)
        except AwsPermissionDenied as e:
            if e.permission == "sts:AssumeRole":
                raise
            raise AwsPermissionDenied(org_denied(e, self._identity(org)), permission=e.permission) from None

    def _identity(self, org: Organization) -> str:
        """Who asked Organizations, for an error message: the management role, or the hub's own identity."""
        if org.management_role_arn:
            account_id = role_account_id(org.management_role_arn)
            return f"`{org.management_role_arn}` (ORG_MANAGEMENT_ROLE_ARN) in account {account_id}"
        try:
            identity = AccountClient("hub", self._base_session())._call("sts", "get_caller_identity")
        except AwsError:
            return "Keywarden's own identity"
        return f"`{identity['Arn']}` in account {identity['Account']}"

    def check_organization(self) -> list[str]:
        """Start-up warnings about the discovery settings (an ORG_INCLUDE_OUS id that names no OU)."""
        if self._org is None or not self._org.include_ous:
            return []
        try:
            units = organization_units(self._org_client(self._org))
        except AwsError as e:
            return [f"could not check ORG_INCLUDE_OUS: {e.message}"]
        missing = sorted(self._org.include_ous - set(units))
        if not missing:
            return []
        return [
            f"ORG_INCLUDE_OUS names {', '.join(missing)}, which the organisation does not have; "
            f"its root and OU ids are: {', '.join(units)}"
        ]

    def caller_arn(self, *, once: bool = False) -> str:
        """The ARN of Keywarden's own identity (the credentials boto3 found).

        `once`: a single attempt (start-up checks and /healthz pace their own retries)."""
        with self._lock:
            base = self._base_session()
        sts = base.client("sts", region_name=base.region_name or GLOBAL_REGION, config=_ONCE if once else RETRIES)
        try:
            return sts.get_caller_identity()["Arn"]
        except (ClientError, BotoCoreError) as e:
            raise translate(e, "hub", "sts") from None

    def queue(self, url: str, wait_seconds: int = 20) -> EventQueue:
        """The SQS queue of EventBridge events, read with Keywarden's own identity."""
        with self._lock:
            base = self._base_session()
        return EventQueue(base, url, wait_seconds)


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
                raise AwsPermissionDenied(assume_denied(account, e), permission="sts:AssumeRole") from None
            raise translate(e, account.alias, "sts") from None
        except BotoCoreError as e:
            raise translate(e, account.alias, "sts") from None
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": utc(creds["Expiration"]).isoformat(),
        }

    return DeferredRefreshableCredentials(refresh_using=refresh, method="sts-assume-role")
