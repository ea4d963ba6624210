"""Wire adapters into services, once, for every entry point: `bootstrap` builds `Services` from the groups
in `factories`."""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field

from slack_sdk import WebClient

from bot import metrics
from bot.access import Access
from bot.aws import AwsError, AwsGateway, EventQueue, SessionFactory
from bot.bootstrap import approvals, exports, factories, roles
from bot.clock import Clock, system_clock
from bot.domain.scan import Delivery, ScanReport
from bot.locations import Locations
from bot.logs import install_secret_redaction
from bot.services.alerts import AlertService
from bot.services.approvals.decisions import Decisions
from bot.services.approvals.delivery import SecretDelivery
from bot.services.approvals.filing import RequestFiling
from bot.services.approvals.recovery import Recovery
from bot.services.approvals.reminders import Reminders
from bot.services.audit_stream import AuditStream
from bot.services.enforcement import EnforcementService
from bot.services.exposure_notes import ExposureNotes
from bot.services.exposures import ExposureService
from bot.services.home import HomeService
from bot.services.inventory import InventoryService
from bot.services.key_events import KeyChangeService
from bot.services.ownership import OwnershipIndex
from bot.services.permissions import Permissions
from bot.services.posture import PostureService
from bot.services.retirements import RetirementService
from bot.services.rotations import RotationService
from bot.services.scanner import Progress, Scanner
from bot.services.scheduled_rotations import ScheduledRotations
from bot.services.security_hub import SecurityHubExport
from bot.services.time_bound import TimeBoundService
from bot.services.usage import AccessAdvisorService, ActivityService
from bot.services.workloads import WorkloadService
from bot.settings import Settings
from bot.slack.client import SlackDirectory, Sleep
from bot.slack.messages.common import AccountNames
from bot.slack.messages.enforcement import digest_lines as enforcement_lines
from bot.slack.messages.security_hub import export_lines
from bot.slack.notifier import Notifier
from bot.store.audit import AuditLog
from bot.store.aws_events import EventIds
from bot.store.db import Database

log = logging.getLogger(__name__)

SETTLED_ACCOUNTS = 20


@dataclass
class Services:
    settings: Settings
    names: AccountNames  # how Slack names users: `ci`, or `prod:ci` where Keywarden watches several accounts
    clock: Clock
    db: Database
    aws: AwsGateway
    slack: WebClient
    directory: SlackDirectory
    audit: AuditLog
    index: OwnershipIndex
    inventory: InventoryService
    notifier: Notifier
    access_rules: Access  # who may approve, deny and break glass (bot/access.py)
    filing: RequestFiling
    decisions: Decisions
    secret_delivery: SecretDelivery
    reminders: Reminders
    recovery: Recovery
    scheduled_rotations: ScheduledRotations  # rotate_every_days, and the delivered rotations' steps (LOCATIONS_FILE)
    scanner: Scanner
    alerts: AlertService
    rotations: RotationService
    activity: ActivityService
    access_advisor: AccessAdvisorService  # what a user needs: IAM Access Advisor
    exposures: ExposureService
    exposure_notes: ExposureNotes
    key_changes: KeyChangeService
    locations: Locations  # LOCATIONS_FILE: machine users and where their keys are delivered (bot/locations)
    permissions: Permissions  # who may see or act on an IAM user (bot/access.py decides)
    time_bound: TimeBoundService  # time-bound keys (`create --for`): switched off at their end, deleted a day later
    workloads: WorkloadService  # keys' workloads: `replace`, the weekly sample behind replaceable-by-role
    retirements: RetirementService  # approved `retire`s: switched off once the role is in use and the key quiet
    sleep: Sleep = time.sleep  # how Slack retries wait (Retry-After); tests make it instant
    audit_stream: AuditStream | None = None
    security_hub: SecurityHubExport | None = None  # SECURITY_HUB=on
    posture: PostureService | None = None  # each full scan's summary, the report and its chart
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
        weekly_chart: bool = False,
        force: bool = False,
    ) -> tuple[ScanReport, Delivery | None]:
        """Scan every account (or only `accounts`); with `post`, deliver the alerts (the same digest once a day,
        unless `force`). Returns (report, delivery).

        `weekly_chart` (the scheduled scan): the posture chart goes with the digest when the last one is a week old."""
        report = self.scanner.scan(accounts, progress=progress)
        if post and self.enforcement is not None:
            # Before the digest, so that it says what was deactivated (or would be, in a dry run).
            run = self.enforcement.run(report)
            report.notes += enforcement_lines(run, self.settings.enforce_max_per_scan)
        if self.security_hub is not None:  # before the digest too, which says what Security Hub took
            report.notes += export_lines(self.security_hub.export(report))
        metrics.scan_finished(report)
        delivery = self.alerts.deliver(report, trigger, force=force) if post else None
        if self.posture is not None and accounts is None:  # after delivery: it counts the findings resolved
            snapshot = self.posture.record(report, trigger)
            if post and weekly_chart:
                self.posture.weekly(snapshot)  # the scheduled digest carries the chart once a week
        return report, delivery

    def event_intake(self, wait_seconds: int = 20):  # -> EventIntake | None
        """The reader of EVENTS_QUEUE_URL (None when unset); long polls of `wait_seconds`."""
        if not self.settings.events_queue_url:
            return None
        from bot.services.event_intake import EventIntake

        queue = self.aws.queue(self.settings.events_queue_url, wait_seconds)
        return EventIntake(
            queue=queue,
            events=EventIds(self.db),
            clock=self.clock,
            exposures=self.exposures,
            key_changes=self.key_changes,
        )

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
        for alias in self.aws.list_aliases()[:SETTLED_ACCOUNTS]:  # an organisation's hundreds are built on demand
            self.aws.account(alias).client("iam")
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        self.db.dispose()


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
    a = factories.adapters(
        settings,
        clock,
        sleep,
        migrate=migrate,
        session_factory=session_factory,
        aws=aws,
        notifier=notifier,
        directory=directory,
    )
    k = factories.key_services(a)
    r = approvals.request_services(a, k)
    usage = roles.usage(a, k)  # CloudTrail's pace and Access Advisor, shared by `activity`, `access` and `replace`
    return Services(
        settings=settings,
        names=a.names,
        clock=clock,
        sleep=sleep,
        db=a.db,
        aws=a.aws,
        slack=a.slack,
        directory=a.directory,
        audit=a.audit,
        notifier=a.notifier,
        index=k.index,
        inventory=k.inventory,
        access_rules=k.access_rules,
        permissions=k.permissions,
        locations=k.locations,
        home=k.home,
        rotations=k.rotations,
        filing=r.filing,
        decisions=r.decisions,
        secret_delivery=r.delivery,
        reminders=r.reminders,
        recovery=r.recovery,
        scheduled_rotations=r.scheduled,
        scanner=factories.scanner(a, k),
        alerts=factories.alerts(a, k),
        enforcement=factories.enforcement(a, k, r.filing),
        activity=ActivityService(
            aws=a.aws,
            inventory=k.inventory,
            viewers=k.permissions,
            notifier=a.notifier,
            clock=clock,
            regions=settings.activity_regions,
            max_events=settings.activity_max_events,
            pacer=usage.pacer,
            rotations=a.repos.rotations,
        ),
        access_advisor=usage.advisor,
        exposures=factories.exposures(a, k),
        exposure_notes=ExposureNotes(exposures=a.repos.exposures, notices=a.repos.notices, names=a.names),
        key_changes=factories.key_changes(a, k),
        audit_stream=factories.audit_stream(a),
        security_hub=exports.security_hub(a),
        posture=exports.posture(a),
        time_bound=factories.time_bound(a, k),
        workloads=roles.workloads(a, k, usage),
        retirements=roles.retirements(a, k),
    )
