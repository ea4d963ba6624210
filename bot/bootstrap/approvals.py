"""The request services, built from the adapters and the key services: a request from filing to its outcome, and its
new key's delivery. SECRET_DELIVERY picks how new keys reach their requesters (and how their DMs say so) here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from bot.bootstrap import deliveries
from bot.bootstrap.factories import Adapters, KeyServices
from bot.services.approvals.decisions import Decisions
from bot.services.approvals.delivery import SecretDelivery
from bot.services.approvals.execution import Execution
from bot.services.approvals.filing import RequestFiling
from bot.services.approvals.recovery import Recovery
from bot.services.approvals.reminders import Reminders
from bot.services.approvals.reveal import RevealDelivery
from bot.services.approvals.secrets_manager import SecretsManagerDelivery, StoredSecretDm
from bot.services.approvals.slack_sync import RequestSync
from bot.services.scheduled_rotations import ScheduledRotations
from bot.slack.messages.requests import build_requester_dm


@dataclass(frozen=True)
class RequestServices:
    """A request from filing to its outcome, and its new key's delivery."""

    filing: RequestFiling
    decisions: Decisions
    delivery: SecretDelivery
    reminders: Reminders
    recovery: Recovery
    scheduled: ScheduledRotations  # rotate_every_days, and the delivered rotations' steps


def request_services(a: Adapters, k: KeyServices) -> RequestServices:
    s, clock, store = a.settings, a.clock, a.repos.requests
    # SECRET_DELIVERY picks how new keys reach their requesters, and how their DMs say so, here and nowhere else.
    stored = s.secret_delivery == "secretsmanager"
    sync = RequestSync(
        approval_channel=s.approval_channel,
        clock=clock,
        store=store,
        notifier=a.notifier,
        requester_dm=deliveries.requester_dm(
            s,
            k.delivered,
            StoredSecretDm(secret_prefix=s.secret_prefix, aws=a.aws, names=a.names)
            if stored
            else partial(build_requester_dm, names=a.names),
            a.names,
        ),
        on_change=k.home.refresh,
        reveal=not stored,
        names=a.names,
    )
    reveal_ttl = timedelta(hours=s.reveal_ttl_hours)
    configured: SecretDelivery = (
        SecretsManagerDelivery(
            secret_prefix=s.secret_prefix, clock=clock, store=store, aws=a.aws, sync=sync, rotations=k.rotations
        )
        if stored
        else RevealDelivery(
            reveal_ttl=reveal_ttl,
            clock=clock,
            store=store,
            aws=a.aws,
            notifier=a.notifier,
            sync=sync,
            rotations=k.rotations,
        )
    )
    # A machine user's rotation goes to its locations, every other new key as SECRET_DELIVERY says.
    delivery = deliveries.delivery(a.repos, a.aws, clock, a.directory, k.index, k.delivered, configured, sync)
    execution = Execution(store=store, aws=a.aws, sync=sync, delivery=delivery, rotations=k.rotations)
    return RequestServices(
        filing=RequestFiling(
            settings=s,
            clock=clock,
            store=store,
            inventory=k.inventory,
            aws=a.aws,
            access=k.access_rules,
            sync=sync,
            execution=execution,
            rotations=k.rotations,
            own=k.own,
        ),
        decisions=Decisions(
            reveal_ttl=reveal_ttl, clock=clock, store=store, access=k.access_rules, sync=sync, execution=execution
        ),
        delivery=delivery,
        reminders=Reminders(
            remind_after=s.remind_approvers_hours,
            escalate_after=s.escalate_after_hours,
            clock=clock,
            store=store,
            access=k.access_rules,
            notifier=a.notifier,
            sync=sync,
        ),
        recovery=Recovery(clock=clock, store=store, execution=execution, delivery=delivery, sync=sync),
        scheduled=deliveries.scheduled(
            s, a.repos, a.aws, clock, a.notifier, k.locations, k.inventory, k.access_rules, k.own, delivery, a.names
        ),
    )
