"""Keys created, changed or deleted outside Keywarden, as CloudTrail reports them through the events queue.

An event is a claim, not a fact: anyone who may send to the queue can write one. Each claim is checked
against IAM (the user's keys as ListAccessKeys shows them now) before anything is changed or said; what is
told is the key as IAM shows it, and the caller only as "CloudTrail reports". A claim IAM contradicts is
not believed (logged, counted, audited without the caller's name); when IAM cannot be read, or the change
is too recent for IAM to show it yet, nothing is done and the event is tried again later.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.aws import AwsError, AwsGateway, AwsNotFound
from bot.domain.aws_events import KeyChanged, Principal, contradiction, is_keywarden, principal_of
from bot.domain.keys import AccessKey
from bot.domain.rotation import FINAL
from bot.services.inventory import InventoryService
from bot.services.ownership import OwnershipIndex, owner_slack_id
from bot.services.rotations import RotationService
from bot.settings import Settings
from bot.slack.client import SlackDirectory
from bot.slack.messages.common import AccountNames
from bot.slack.messages.key_changes import ChangeFacts, build_key_changed
from bot.slack.messages.rotations import stage_name
from bot.slack.notifier import Notifier
from bot.store.audit import AuditLog
from bot.store.key_memory import KeyMemory

log = logging.getLogger(__name__)
SETTLE = timedelta(minutes=1)  # IAM is eventually consistent: a change this recent (by IAM's clock) may not show yet


class NotYetVerified(Exception):
    """IAM cannot bear out or refute the claim now (unreadable, or the change too recent): try it again later."""

    def __init__(self, reason: str, *, iam_down: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.iam_down = iam_down  # the queue's reader pauses: every receive counts towards the dead-letter queue


@dataclass(frozen=True)
class ChangeOutcome:
    result: str  # told | not_confirmed | ignored | dropped
    note: str


@dataclass(kw_only=True, eq=False)
class KeyChangeService:
    settings: Settings
    aws: AwsGateway
    audit: AuditLog
    inventory: InventoryService
    index: OwnershipIndex
    directory: SlackDirectory
    memory: KeyMemory
    notifier: Notifier
    rotations: RotationService
    names: AccountNames  # `ci`, or `prod:ci` where Keywarden watches several accounts
    _ours: frozenset[Principal] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def keywarden_principals(self) -> frozenset[Principal]:
        """Keywarden's own identities: the roles it assumes and the identity its credentials belong to."""
        # The roles are read every time: with Organizations discovery, accounts come and go.
        ours = {p for a in self.aws.accounts() if a.role_arn and (p := principal_of(a.role_arn))}
        with self._lock:
            if self._ours is not None:
                return self._ours | ours
        try:
            own = principal_of(self.aws.caller_arn())
        except AwsError as e:
            log.warning("could not read Keywarden's own identity: %s", e.message)
            return frozenset(ours)  # not cached: asked again next time
        with self._lock:
            self._ours = frozenset({own} if own is not None else set())  # Keywarden's own identity, read once
            return self._ours | ours

    def served_alias(self, aws_account_id: str) -> str | None:
        """The configured account with this AWS account id; None when Keywarden does not serve it. Raises
        NotYetVerified when the ids of the configured accounts cannot all be read (it might be one of them)."""
        alias = self.inventory.alias_for(aws_account_id)
        if alias is None and any(self.inventory.account_id_of(a.alias) is None for a in self.aws.accounts()):
            raise NotYetVerified("the AWS account ids of the configured accounts could not be read", iam_down=True)
        return alias

    def handle(self, change: KeyChanged) -> ChangeOutcome:
        """Check a change Keywarden did not make against IAM, then tell the alert channel and the owner."""
        if change.failed:
            return ChangeOutcome("dropped", "a failed call: nothing changed")
        if is_keywarden(change.caller, self.keywarden_principals()):
            return ChangeOutcome("dropped", "made by Keywarden")
        alias = self.served_alias(change.aws_account_id)
        if alias is None:
            log.warning(
                "CloudTrail event %s is about AWS account %s, which Keywarden does not serve: ignored",
                change.event_id,
                change.aws_account_id,
            )
            return ChangeOutcome("ignored", f"AWS account {change.aws_account_id} is not served")
        live, iam_now = self._live_key(alias, change)
        doubt = self._known_elsewhere(alias, change) or contradiction(change, live)
        if doubt:
            return self._not_confirmed(alias, change, doubt, iam_now)
        owner = owner_slack_id(self.index, self.directory, alias, change.user)
        if change.call == "DeleteAccessKey":
            self.memory.note_gone(change.key_id)
        elif live is not None:
            self.memory.note_created(alias, change.user, change.key_id, live.created)
        facts = ChangeFacts(
            call=change.call,
            key_id=change.key_id,
            account=alias,
            aws_account_id=change.aws_account_id,
            user=change.user,
            status=live.status if live is not None else None,  # as IAM shows it, not as the event says
            principal=change.principal,
            source_ip=change.source_ip,
            at=change.at,
            owner=owner,
            rotation=self._tell_rotation(change.key_id),
        )
        message = build_key_changed(facts, self.names)
        if self.settings.alert_channel:
            self.notifier.post(self.settings.alert_channel, message)
        if owner:
            self.notifier.dm(owner, message)
        shown = f"IAM shows it {live.status}" if live is not None else "IAM no longer lists it"
        self._audit_event(
            alias,
            change,
            "changed_outside",
            f"{change.call}: {shown}; CloudTrail reports the call by {change.principal}"
            + (f" from {change.source_ip}" if change.source_ip else "")
            + f" (event {change.event_id})",
        )
        return ChangeOutcome("told", f"{change.call}, {shown}")

    def _live_key(self, alias: str, change: KeyChanged) -> tuple[AccessKey | None, datetime | None]:
        """The key among the user's keys as IAM lists them now (None: not there, or the user is gone), and
        IAM's own time of that answer."""
        try:
            keys, iam_now = self.aws.account(alias).access_keys_and_time(change.user)
        except AwsNotFound:
            return None, None  # the user is gone, and its keys with it
        except AwsError as e:
            raise NotYetVerified(f"IAM could not be read: {e.message}", iam_down=True) from None
        return next((k for k in keys if k.key_id == change.key_id), None), iam_now

    def _known_elsewhere(self, alias: str, change: KeyChanged) -> str | None:
        """A key belongs to one user for its whole life: Keywarden knowing it as another's refutes the claim."""
        known = self.memory.get(change.key_id)
        if known is not None and (known.account, known.iam_user) != (alias, change.user):
            return "Keywarden knows the key as another user's"
        return None

    def _not_confirmed(self, alias: str, change: KeyChanged, doubt: str, iam_now: datetime | None) -> ChangeOutcome:
        if _recent(change.at, iam_now):
            raise NotYetVerified(f"IAM does not show it yet ({doubt})", iam_down=False)
        # The caller named in the event is left out: an unconfirmed claim frames nobody.
        log.warning(
            "CloudTrail event %s not confirmed by IAM: it claims %s of key %s, but %s; nothing was done",
            change.event_id,
            change.call,
            change.key_id,
            doubt,
        )
        self._audit_event(
            alias,
            change,
            "event_not_confirmed",
            f"event {change.event_id} claims {change.call}"
            + (f" {change.status}" if change.status else "")
            + f", but {doubt}; nothing was done",
            outcome="not_confirmed",
        )
        return ChangeOutcome("not_confirmed", f"{change.call} not confirmed: {doubt}")

    def _audit_event(self, alias: str, change: KeyChanged, action: str, detail: str, outcome: str = "ok") -> None:
        """The audit trail's entry for what was made of one CloudTrail event about a key."""
        self.audit.write(
            "cloudtrail",
            action,
            outcome=outcome,
            account=alias,
            iam_user=change.user,
            key_id=change.key_id,
            detail=detail,
        )

    def _tell_rotation(self, key_id: str) -> str | None:
        before = self.rotations.state_for_key(key_id)
        if before is None:
            return None
        after = self.rotations.check_key_now(key_id)
        if after is None or after.state is before.state:
            return f"Rotation {before.id} is in progress on this key ({stage_name(before)}); it was checked again."
        verb = "ended" if after.state in FINAL else "moved on"
        return f"Rotation {before.id} {verb}: {stage_name(before)} → {stage_name(after)}."


def _recent(at: datetime | None, iam_now: datetime | None) -> bool:
    """Whether the event is too recent, by IAM's own clock, for IAM to be sure to show the change."""
    return at is not None and iam_now is not None and abs(iam_now - at) < SETTLE
