"""Wire adapters into services, once, for every entry point."""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import SecretStr
from slack_sdk import WebClient

from bot import metrics
from bot.access import Access
from bot.aws import AwsError, AwsGateway, EventQueue, SessionFactory
from bot.clock import Clock, system_clock
from bot.domain.findings import Policy
from bot.domain.scan import Delivery, ScanReport
from bot.logs import install_secret_redaction
from bot.policy import load as load_policy
from bot.services.alerts import AlertService
from bot.services.approvals.decisions import Decisions
from bot.services.approvals.delivery import SecretDelivery
from bot.services.approvals.execution import Execution
from bot.services.approvals.filing import RequestFiling
from bot.services.approvals.recovery import Recovery
from bot.services.approvals.reminders import Reminders
from bot.services.approvals.reveal import RevealDelivery
from bot.services.approvals.secrets_manager import SecretsManagerDelivery
from bot.services.approvals.slack_sync import RequestSync
from bot.services.audit_stream import AuditStream
from bot.services.enforcement import EnforcementService
from bot.services.exposure_notes import ExposureNotes
from bot.services.exposures import ExposureService
from bot.services.home import HomeService
from bot.services.inventory import InventoryService
from bot.services.key_events import KeyChangeService
from bot.services.own_identity import OwnIdentity
from bot.services.ownership import OwnershipIndex
from bot.services.permissions import Permissions
from bot.services.rotations import RotationService
from bot.services.scanner import Progress, Scanner
from bot.services.usage import AccessAdvisorService, ActivityService
from bot.settings import Settings
from bot.slack.client import SlackDirectory, Sleep, make_web_client
from bot.slack.messages.enforcement import digest_lines as enforcement_lines
from bot.slack.notifier import Notifier
from bot.store.audit import AuditLog
from bot.store.aws_events import EventIds
from bot.store.db import Database
from bot.store.repositories import Repositories

log = logging.getLogger(__name__)

SETTLED_ACCOUNTS = 20


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    aws: AwsGateway
    slack: WebClient
    directory: SlackDirectory
    audit: AuditLog
    index: OwnershipIndex
    inventory: InventoryService
    notifier: Notifier
    rules: Access  # who may approve, deny and break glass
    filing: RequestFiling
    decisions: Decisions
    secret_delivery: SecretDelivery
    reminders: Reminders
    recovery: Recovery
    scanner: Scanner
    alerts: AlertService
    rotations: RotationService
    activity: ActivityService
    access: AccessAdvisorService
    exposures: ExposureService
    exposure_notes: ExposureNotes
    key_changes: KeyChangeService
    permissions: Permissions  # who may see or act on an IAM user (bot/access.py decides)
    sleep: Sleep = time.sleep  # how Slack retries wait (Retry-After); tests make it instant
    audit_stream: AuditStream | None = None
    enforcement: EnforcementService | None = None
    home: HomeService | None = None
    _events_dlq: EventQueue | None = field(default=None, repr=False)

    def scan(
        self,
        *,
        post: bool,
        trigger: str = "schedule",
        progress: Progress | None = None,
        accounts: list[str] | None = None,
    ) -> tuple[ScanReport, Delivery | None]:
        """Scan every account (or only `accounts`); with `post`, deliver the alerts. Returns (report, delivery)."""
        report = self.scanner.scan(accounts, progress=progress)
        if post and self.enforcement is not None:
            # Before the digest, so that it says what was deactivated (or would be, in a dry run).
            run = self.enforcement.run(report)
            report.notes += enforcement_lines(run, self.settings.enforce_max_per_scan)
        metrics.scan_finished(report)
        return report, (self.alerts.deliver(report, trigger) if post else None)

    def event_intake(self, wait_seconds: int = 20):  # -> EventIntake | None
        """The reader of EVENTS_QUEUE_URL (None when unset); long polls of `wait_seconds`."""
        if not self.settings.events_queue_url:
            return None
        from bot.services.event_intake import EventIntake

        queue = self.aws.queue(self.settings.events_queue_url, wait_seconds)
        return EventIntake(queue, EventIds(self.db), self.clock, self.exposures, self.key_changes)

    def events_dlq_depth(self) -> int | None:
        """Messages waiting in EVENTS_DLQ_URL, the events that were never handled; None when unset or unreadable."""
        if not self.settings.events_dlq_url:
            return None
        if self._events_dlq is None:
            self._events_dlq = self.aws.queue(self.settings.events_dlq_url, 0)
        try:
            return self._events_dlq.depth()
        except AwsError as e:
            log.warning("events dead-letter queue: %s", e.message)
            return None

    def warm_up(self) -> None:
        """Ready a long-running process: create the AWS clients, then freeze the heap built so far.

        Python's full collections walk every tracked object, and boto3's service models alone are
        hundreds of thousands of them: tens of milliseconds per pause, felt as ack latency under load.
        Frozen objects are never walked again (see the ack benchmark in docs/benchmarks.md).
        """
        for warning in self.aws.check_organization():
            log.warning("%s", warning)
        for alias in self.aws.aliases[:SETTLED_ACCOUNTS]:  # an organisation's hundreds are built on demand
            self.aws.account(alias).client("iam")
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        self.db.dispose()


def _revealed(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None


def policy_of(settings: Settings) -> Policy:
    return Policy(
        settings.max_key_age_days,
        settings.warn_key_age_days,
        settings.unused_days,
        strict_policy_findings=settings.strict_policy_findings,
    )


def bootstrap(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    session_factory: SessionFactory | None = None,
    migrate: bool = True,
    sleep: Sleep = time.sleep,
    aws: AwsGateway | None = None,
    notifier: Notifier | None = None,
    directory: SlackDirectory | None = None,
) -> Services:
    """Every service, wired once. `clock` and `sleep` are injected so tests move time instead of waiting.

    `aws`, `notifier` and `directory` replace the AWS gateway and the bot token's Slack notifier and directory
    (the service tests pass in-memory fakes); left out, they are built from the settings, as in production."""
    install_secret_redaction()
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    if aws is None:
        aws = AwsGateway(
            settings.accounts,
            session_factory,
            organization=settings.organization,
            now=clock,
            region=settings.aws_region,
        )
    slack = make_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url, sleep=sleep)
    directory = directory or SlackDirectory(slack)
    audit = AuditLog(db, clock, stream=settings.audit_webhook_url is not None)
    repos = Repositories.over(db, clock, audit)
    stream = (
        AuditStream(repos.outbox, clock, settings.audit_webhook_url, _revealed(settings.audit_webhook_secret))
        if settings.audit_webhook_url
        else None
    )
    policy = policy_of(settings)
    index = OwnershipIndex(repos.iam_users, aws, clock, settings.owner_tag, settings.ownership_ttl_minutes)
    memory, store, notices, runs = repos.key_memory, repos.requests, repos.notices, repos.scan_runs
    inventory = InventoryService(aws, index, memory, clock, policy, settings.accounts)
    notifier = notifier or Notifier(slack, sleep=sleep)
    rules = Access(settings, directory, load_policy(settings.policy_file) if settings.policy_file else None)
    permissions = Permissions(
        rules, aws, index, inventory, audit, owner_tag=settings.owner_tag, list_visibility=settings.list_visibility
    )
    rotations = RotationService(
        settings, clock, repos.rotations, store, audit, aws, notifier, approves_for=permissions.approves_for
    )
    home = HomeService(
        memory,
        notices,
        runs,
        clock,
        index,
        store,
        rotations,
        rules,
        directory,
        notifier,
        stored_under=settings.stored_secret_prefix,
    )
    rotations.on_change = home.refresh
    # Each refers to the other: the delivery words the requester's DM; it updates the request's messages.
    sync = RequestSync(
        settings.approval_channel,
        clock,
        store,
        notifier,
        requester_dm=lambda request, secret: delivery.requester_dm(request, secret),
        on_change=home.refresh,
        reveal=settings.stored_secret_prefix is None,
    )
    reveal_ttl = timedelta(hours=settings.reveal_ttl_hours)
    # SECRET_DELIVERY picks how new keys reach their requesters, here and nowhere else.
    delivery: SecretDelivery = (
        SecretsManagerDelivery(settings.secret_prefix, clock, store, aws, sync, rotations)
        if settings.secret_delivery == "secretsmanager"
        else RevealDelivery(reveal_ttl, clock, store, aws, notifier, sync, rotations)
    )
    execution = Execution(store, aws, sync, delivery, rotations)
    own = OwnIdentity(aws, inventory)  # the hub identity: its IAM user is never changed by Keywarden
    filing = RequestFiling(settings, clock, store, inventory, aws, rules, sync, execution, rotations, own)
    scanner = Scanner(
        aws,
        index,
        memory,
        repos.key_changes,
        repos.snoozes,
        audit,
        clock,
        policy,
        owner_tag=settings.owner_tag,
        exempt=settings.exempt,
        concurrency=settings.scan_concurrency,
        sleep=sleep,
    )
    alerts = AlertService(
        notices,
        runs,
        repos.snoozes,
        clock,
        notifier,
        directory,
        index,
        alert_channel=settings.alert_channel,
        remind_every=timedelta(days=settings.remind_every_days),
        command=settings.slash_command,
    )
    activity = ActivityService(
        aws,
        inventory,
        permissions,
        notifier,
        clock,
        regions=settings.activity_regions,
        max_events=settings.activity_max_events,
    )
    access = AccessAdvisorService(aws, inventory, permissions, clock, cache_hours=settings.access_cache_hours)
    admin_token, api_url = settings.slack_admin_token, settings.slack_api_url
    admin = (
        Notifier(make_web_client(admin_token.get_secret_value(), api_url, sleep=sleep), sleep=sleep)
        if admin_token
        else None
    )
    exposures = ExposureService(
        repos.exposures,
        clock,
        audit,
        inventory,
        index,
        directory,
        notifier,
        alert_channel=settings.alert_channel,
        admin=admin,
    )
    key_changes = KeyChangeService(settings, aws, audit, inventory, index, directory, memory, notifier, rotations)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        aws=aws,
        slack=slack,
        directory=directory,
        audit=audit,
        index=index,
        inventory=inventory,
        notifier=notifier,
        rules=rules,
        filing=filing,
        decisions=Decisions(reveal_ttl, clock, store, rules, sync, execution),
        secret_delivery=delivery,
        reminders=Reminders(settings, clock, store, rules, notifier, sync),
        recovery=Recovery(clock, store, execution, delivery, sync),
        scanner=scanner,
        alerts=alerts,
        rotations=rotations,
        activity=activity,
        access=access,
        exposures=exposures,
        exposure_notes=ExposureNotes(repos.exposures, notices),
        key_changes=key_changes,
        permissions=permissions,
        sleep=sleep,
        audit_stream=stream,
        enforcement=EnforcementService(
            repos.enforcements,
            notices,
            clock,
            filing,
            notifier,
            directory,
            own,
            rules=dict(settings.enforce),
            max_per_scan=settings.enforce_max_per_scan,
            dry_run=settings.enforce_dry_run,
            alert_channel=settings.alert_channel,
        )
        if settings.enforce
        else None,
        home=home,
    )
