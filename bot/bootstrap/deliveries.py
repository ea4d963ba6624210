"""Delivered rotations wired (LOCATIONS_FILE): the rotations whose keys Keywarden writes to their locations itself,
their delivery in place of Reveal for machine users, the requester's DM that says where the key went, and the
scheduled run of `rotate_every_days`. Called by bot/bootstrap/factories.py while it builds its groups."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from bot.access import Access
from bot.aws import AwsGateway
from bot.clock import Clock
from bot.locations import Locations
from bot.services.approvals.delivery import SecretDelivery
from bot.services.approvals.located import DeliveredDm, LocationDelivery
from bot.services.approvals.slack_sync import RequesterDm, RequestSync
from bot.services.delivered_rotations import DeliveredRotations
from bot.services.home import HomeService
from bot.services.inventory import InventoryService
from bot.services.own_identity import OwnIdentity
from bot.services.ownership import OwnershipIndex, owner_slack_id
from bot.services.scheduled_rotations import ScheduledRotations
from bot.settings import Settings
from bot.slack.client import SlackDirectory
from bot.slack.messages.common import AccountNames
from bot.slack.notifier import Notifier
from bot.store.repositories import Repositories


def delivered_rotations(
    settings: Settings,
    repos: Repositories,
    aws: AwsGateway,
    clock: Clock,
    notifier: Notifier,
    locations: Locations,
    home: HomeService,
    names: AccountNames,
) -> DeliveredRotations:
    return DeliveredRotations(
        rotations=repos.rotations,
        deliveries=repos.deliveries,
        aws=aws,
        clock=clock,
        places=locations,
        notifier=notifier,
        alert_channel=settings.alert_channel,
        quiet=timedelta(hours=settings.cutover_quiet_hours),
        keep_switched_off=timedelta(days=settings.rotation_grace_days),
        claim_timeout=timedelta(minutes=settings.reconcile_after_minutes),
        stage_changed=home.refresh,  # the owner's App Home shows the rotation's stage
        names=names,
    )


def requester_dm(
    settings: Settings, delivered: DeliveredRotations, inner: RequesterDm, names: AccountNames
) -> RequesterDm:
    """The requester's DM: a machine user's rotation says where its key is delivered; any other, `inner`'s."""
    return DeliveredDm(
        inner=inner,
        delivered=delivered,
        quiet_hours=settings.cutover_quiet_hours,
        grace_days=settings.rotation_grace_days,
        names=names,
    )


def delivery(
    repos: Repositories,
    aws: AwsGateway,
    clock: Clock,
    directory: SlackDirectory,
    index: OwnershipIndex,
    delivered: DeliveredRotations,
    inner: SecretDelivery,
    sync: RequestSync,
) -> LocationDelivery:
    """A machine user's rotation delivered to its locations; every other new key by `inner` (SECRET_DELIVERY)."""
    return LocationDelivery(
        inner=inner,
        delivered=delivered,
        store=repos.requests,
        aws=aws,
        clock=clock,
        sync=sync,
        owner_of=partial(owner_slack_id, index, directory),  # (account, IAM user) -> its owner in Slack
    )


def scheduled(
    settings: Settings,
    repos: Repositories,
    aws: AwsGateway,
    clock: Clock,
    notifier: Notifier,
    locations: Locations,
    inventory: InventoryService,
    access: Access,
    own: OwnIdentity,
    delivery: LocationDelivery,
    names: AccountNames,
) -> ScheduledRotations:
    """`rotate_every_days`, and every delivered rotation's next step (nothing to do without LOCATIONS_FILE)."""
    return ScheduledRotations(
        places=locations,
        aws=aws,
        clock=clock,
        store=repos.requests,
        rotations=repos.rotations,
        inventory=inventory,
        access=access,
        own=own,
        delivery=delivery,
        delivered=delivery.delivered,
        notifier=notifier,
        alert_channel=settings.alert_channel,
        reconcile_after=timedelta(minutes=settings.reconcile_after_minutes),
        names=names,
    )
