"""The services built in groups, each from the adapters and the groups before it; `bootstrap` puts them together.

The order settles what refers to what: the App Home before the rotations that refresh it, the requester's DM
wording before the request messages that send it and the secret delivery that updates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot.access import Access
from bot.aws import AwsGateway, SessionFactory
from bot.bootstrap import deliveries
from bot.clock import Clock
from bot.domain.findings import Thresholds
from bot.locations import Locations
from bot.policy import load as load_policy
from bot.services.alerts import AlertService
from bot.services.approvals.filing import RequestFiling
from bot.services.audit_stream import AuditStream
from bot.services.delivered_rotations import DeliveredRotations
from bot.services.enforcement import EnforcementService
from bot.services.exposures import ExposureService
from bot.services.home import HomeService
from bot.services.inventory import InventoryService
from bot.services.key_events import KeyChangeService
from bot.services.own_identity import OwnIdentity
from bot.services.ownership import OwnershipIndex
from bot.services.permissions import Permissions
from bot.services.rotations import RotationService
from bot.services.scanner import Scanner
from bot.services.time_bound import TimeBoundService
from bot.services.under_way import WorkUnderWay
from bot.settings import Settings
from bot.slack.client import SlackDirectory, Sleep, make_web_client
from bot.slack.messages.common import AccountNames
from bot.slack.notifier import Notifier
from bot.store.audit import AuditLog
from bot.store.db import Database
from bot.store.repositories import Repositories
from bot.store.workloads import WORKLOAD_FRESH, KeyWorkloads


def thresholds_of(settings: Settings) -> Thresholds:
    return Thresholds(
        settings.max_key_age_days,
        settings.warn_key_age_days,
        settings.unused_days,
        strict_policy_findings=settings.strict_policy_findings,
    )


@dataclass(frozen=True)
class Adapters:
    """What the services are built on: the settings, time, the database and its repositories, AWS and Slack."""

    settings: Settings
    clock: Clock
    sleep: Sleep
    db: Database
    repos: Repositories
    audit: AuditLog
    aws: AwsGateway
    slack: WebClient
    directory: SlackDirectory
    notifier: Notifier
    names: AccountNames  # `ci`, or `prod:ci` where Keywarden watches several accounts (account_names)


@dataclass(frozen=True)
class KeyServices:
    """Who owns which keys and may act on them, the keys Keywarden knows, their rotations and the App Home."""

    index: OwnershipIndex
    inventory: InventoryService
    access_rules: Access
    permissions: Permissions
    own: OwnIdentity
    home: HomeService
    rotations: RotationService
    locations: Locations  # LOCATIONS_FILE's machine users and the places their keys are delivered to
    delivered: DeliveredRotations  # rotations whose new key Keywarden writes to those places itself


def adapters(
    settings: Settings,
    clock: Clock,
    sleep: Sleep,
    *,
    migrate: bool,
    session_factory: SessionFactory | None,
    aws: AwsGateway | None,
    notifier: Notifier | None,
    directory: SlackDirectory | None,
) -> Adapters:
    """The adapters from the settings; `aws`, `notifier` and `directory`, when given, are used instead."""
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    audit = AuditLog(db, clock, stream=settings.audit_webhook_url is not None)
    if aws is None:
        accounts, region = settings.accounts, settings.aws_region
        aws = AwsGateway(accounts, session_factory, organization=settings.organization, now=clock, region=region)
    slack = make_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url, sleep=sleep)
    return Adapters(
        settings=settings,
        clock=clock,
        sleep=sleep,
        db=db,
        repos=Repositories.over(db, clock, audit),
        audit=audit,
        aws=aws,
        slack=slack,
        directory=directory or SlackDirectory(slack),
        notifier=notifier or Notifier(slack, sleep=sleep),
        names=account_names(settings),
    )


def account_names(settings: Settings) -> AccountNames:
    """Users are named by account (`prod:ci`) only where Keywarden watches several: ACCOUNTS names more than one, or
    Organizations discovery is on."""
    return AccountNames(several=settings.organization is not None or len(settings.accounts) > 1)


def key_services(a: Adapters) -> KeyServices:
    s, repos, clock = a.settings, a.repos, a.clock
    index = OwnershipIndex(
        users=repos.iam_users,
        aws=a.aws,
        clock=clock,
        owner_tag=s.owner_tag,
        ttl=timedelta(minutes=s.ownership_ttl_minutes),
    )
    locations = Locations.from_settings(s, a.aws, index.accounts_with_user)
    inventory = InventoryService(
        aws=a.aws,
        index=index,
        memory=repos.key_memory,
        clock=clock,
        policy=thresholds_of(s),
        accounts=s.accounts,
        delivered_to=locations.delivered_to,
        names=a.names,
    )
    access_rules = Access(s, a.directory, load_policy(s.policy_file) if s.policy_file else None)
    permissions = Permissions(
        access=access_rules,
        aws=a.aws,
        index=index,
        inventory=inventory,
        audit_log=a.audit,
        owner_tag=s.owner_tag,
        list_visibility=s.list_visibility,
        under_way=under_way(a),
    )
    home = HomeService(
        repos.key_memory,
        repos.notices,
        repos.scan_runs,
        clock,
        index,
        repos.requests,
        repos.rotations,
        access_rules,
        a.directory,
        a.notifier,
        stored_under=s.stored_secret_prefix,
        inventory=inventory,  # the Home reads the person's keys from AWS after publishing what is known
        under_way=under_way(a),
        aliases=a.aws.list_aliases,
    )
    delivered = deliveries.delivered_rotations(s, repos, a.aws, clock, a.notifier, locations, home, a.names)
    rotations = RotationService(
        settings=s,
        clock=clock,
        rotations=repos.rotations,
        store=repos.requests,
        audit=a.audit,
        aws=a.aws,
        notifier=a.notifier,
        approves_for=permissions.approves_for,
        names=a.names,
        on_change=home.refresh,  # the owner's App Home shows the rotation's stage
        delivered_rollback=delivered.rollback,
    )
    own = OwnIdentity(aws=a.aws, inventory=inventory)  # the hub identity: its IAM user is never changed by Keywarden
    return KeyServices(
        index=index,
        inventory=inventory,
        access_rules=access_rules,
        permissions=permissions,
        own=own,
        home=home,
        rotations=rotations,
        locations=locations,
        delivered=delivered,
    )


def scanner(a: Adapters, k: KeyServices) -> Scanner:
    s, repos = a.settings, a.repos
    return Scanner(
        aws=a.aws,
        index=k.index,
        memory=repos.key_memory,
        changes=repos.key_changes,
        snoozes=repos.snoozes,
        audit=a.audit,
        clock=a.clock,
        policy=thresholds_of(s),
        owner_tag=s.owner_tag,
        exempt=s.exempt,
        concurrency=s.scan_concurrency,
        sleep=a.sleep,
        replaceable=KeyWorkloads(a.db, a.clock).replaceable_since(WORKLOAD_FRESH),
    )


def under_way(a: Adapters) -> WorkUnderWay:
    """Keywarden's own work on keys (rotations, new keys), which the alerts and the App Home do not nag about."""
    grace = timedelta(days=a.settings.rotation_grace_days)
    return WorkUnderWay(rotations=a.repos.rotations, requests=a.repos.requests, clock=a.clock, new_key_grace=grace)


def alerts(a: Adapters, k: KeyServices) -> AlertService:
    s, repos = a.settings, a.repos
    return AlertService(
        under_way=under_way(a),
        aliases=a.aws.list_aliases,
        notices=repos.notices,
        runs=repos.scan_runs,
        snoozes=repos.snoozes,
        clock=a.clock,
        notifier=a.notifier,
        directory=a.directory,
        index=k.index,
        alert_channel=s.alert_channel,
        remind_every=timedelta(days=s.remind_every_days),
        command=s.slash_command,
        timezone=ZoneInfo(s.scan_timezone),
    )


def enforcement(a: Adapters, k: KeyServices, filing: RequestFiling) -> EnforcementService | None:
    """ENFORCE's deactivations after each scan; None when ENFORCE is unset."""
    s = a.settings
    if not s.enforce:
        return None
    return EnforcementService(
        enforcements=a.repos.enforcements,
        notices=a.repos.notices,
        clock=a.clock,
        filing=filing,
        notifier=a.notifier,
        directory=a.directory,
        own=k.own,
        rules=dict(s.enforce),
        max_per_scan=s.enforce_max_per_scan,
        dry_run=s.enforce_dry_run,
        alert_channel=s.alert_channel,
        names=a.names,
    )


def exposures(a: Adapters, k: KeyServices) -> ExposureService:
    """Exposed keys; with SLACK_ADMIN_TOKEN, a workspace admin's token deletes the message a key was pasted in."""
    s, token = a.settings, a.settings.slack_admin_token
    admin = make_web_client(token.get_secret_value(), s.slack_api_url, sleep=a.sleep) if token else None
    return ExposureService(
        exposures=a.repos.exposures,
        clock=a.clock,
        audit=a.audit,
        inventory=k.inventory,
        index=k.index,
        directory=a.directory,
        notifier=a.notifier,
        alert_channel=s.alert_channel,
        names=a.names,
        admin=Notifier(admin, sleep=a.sleep) if admin else None,
    )


def key_changes(a: Adapters, k: KeyServices) -> KeyChangeService:
    """Key changes made outside Keywarden (CloudTrail through the events queue), checked against IAM."""
    return KeyChangeService(
        settings=a.settings,
        aws=a.aws,
        audit=a.audit,
        inventory=k.inventory,
        index=k.index,
        directory=a.directory,
        memory=a.repos.key_memory,
        notifier=a.notifier,
        rotations=k.rotations,
        names=a.names,
    )


def audit_stream(a: Adapters) -> AuditStream | None:
    """The audit trail sent to AUDIT_WEBHOOK_URL, signed with AUDIT_WEBHOOK_SECRET; None when no URL is set."""
    s, secret = a.settings, a.settings.audit_webhook_secret
    if not s.audit_webhook_url:
        return None
    return AuditStream(a.repos.outbox, a.clock, s.audit_webhook_url, secret.get_secret_value() if secret else None)


def time_bound(a: Adapters, k: KeyServices) -> TimeBoundService:
    """Time-bound keys after their creation; a claim left this long was interrupted (as for requests)."""
    return TimeBoundService(
        clock=a.clock,
        keys=a.repos.time_bound,
        aws=a.aws,
        notifier=a.notifier,
        claim_timeout=timedelta(minutes=a.settings.reconcile_after_minutes),
        on_change=k.home.refresh,
        names=a.names,
    )
