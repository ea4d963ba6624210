"""Wire adapters into services, once, for every entry point."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient

from bot.aws import AwsGateway, SessionFactory
from bot.clock import Clock, system_clock
from bot.db import Database
from bot.domain.findings import Policy
from bot.logs import install_secret_redaction
from bot.services.approvals import ApprovalService
from bot.services.audit import AuditLog
from bot.services.inventory import InventoryService
from bot.services.notifier import Notifier
from bot.services.ownership import OwnershipIndex
from bot.services.request_store import RequestStore
from bot.settings import Settings
from bot.slack import SlackDirectory, make_web_client


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
    approvals: ApprovalService

    @property
    def policy(self) -> Policy:
        return Policy(self.settings.max_key_age_days, self.settings.warn_key_age_days, self.settings.unused_days)

    def close(self) -> None:
        self.db.dispose()


def bootstrap(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    session_factory: SessionFactory | None = None,
    migrate: bool = True,
) -> Services:
    install_secret_redaction()
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    aws = AwsGateway(settings.accounts, session_factory) if session_factory else AwsGateway(settings.accounts)
    slack = make_web_client(settings.slack_bot_token, settings.slack_api_url)
    directory = SlackDirectory(slack)
    audit = AuditLog(db, clock)
    policy = Policy(settings.max_key_age_days, settings.warn_key_age_days, settings.unused_days)
    index = OwnershipIndex(db, aws, clock, settings.owner_tag, settings.ownership_ttl_minutes)
    inventory = InventoryService(aws, index, db, clock, policy, settings.accounts)
    notifier = Notifier(slack)
    store = RequestStore(db, clock, audit)
    approvals = ApprovalService(settings, clock, store, inventory, aws, notifier, directory)
    return Services(settings, clock, db, aws, slack, directory, audit, index, inventory, notifier, approvals)
