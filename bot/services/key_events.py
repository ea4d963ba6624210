"""Keys created, changed or deleted outside Keywarden, as CloudTrail reports them through the events queue."""

from __future__ import annotations

import logging
import threading

from bot.aws import AwsError, AwsGateway
from bot.domain.aws_events import KeyChanged, Principal, is_keywarden, principal_of
from bot.domain.rotation import FINAL
from bot.services.inventory import InventoryService
from bot.services.ownership import OwnershipIndex, owner_slack_id
from bot.services.rotations import RotationService
from bot.settings import Settings
from bot.slack.client import SlackDirectory
from bot.slack.messages.exposures import ChangeFacts, build_key_changed
from bot.slack.notifier import Notifier
from bot.store.audit import AuditLog
from bot.store.key_memory import KeyMemory

log = logging.getLogger(__name__)


class KeyChangeService:
    def __init__(
        self,
        settings: Settings,
        aws: AwsGateway,
        audit: AuditLog,
        inventory: InventoryService,
        index: OwnershipIndex,
        directory: SlackDirectory,
        memory: KeyMemory,
        notifier: Notifier,
        rotations: RotationService,
    ) -> None:
        self._settings = settings
        self._aws = aws
        self._audit = audit
        self._inventory = inventory
        self._index = index
        self._directory = directory
        self._memory = memory
        self._notifier = notifier
        self._rotations = rotations
        self._ours: frozenset[Principal] | None = None
        self._lock = threading.Lock()

    def keywarden_principals(self) -> frozenset[Principal]:
        """Keywarden's own identities: the roles it assumes and the identity its credentials belong to."""
        # The roles are read every time: with Organizations discovery, accounts come and go.
        ours = {p for a in self._aws.accounts() if a.role_arn and (p := principal_of(a.role_arn))}
        with self._lock:
            if self._ours is not None:
                return self._ours | ours
        try:
            own = principal_of(self._aws.caller_arn())
        except AwsError as e:
            log.warning("could not read Keywarden's own identity: %s", e.message)
            return frozenset(ours)  # not cached: asked again next time
        with self._lock:
            self._ours = frozenset({own} if own is not None else set())  # Keywarden's own identity, read once
            return self._ours | ours

    def handle(self, change: KeyChanged) -> str:
        """Tell the alert channel and the owner about a change Keywarden did not make. Returns what was done."""
        if change.failed:
            return "a failed call: nothing changed"
        if is_keywarden(change.caller, self.keywarden_principals()):
            return "made by Keywarden"
        alias = self._inventory.alias_for(change.aws_account_id)
        owner = owner_slack_id(self._index, self._directory, alias, change.user) if alias else None
        rotation_note = None
        if alias:
            if change.call == "CreateAccessKey":
                self._memory.note_created(alias, change.user, change.key_id, change.at)
            elif change.call == "DeleteAccessKey":
                self._memory.note_gone(change.key_id)
            rotation_note = self._tell_rotation(change.key_id)
        facts = ChangeFacts(
            call=change.call,
            key_id=change.key_id,
            account=alias,
            aws_account_id=change.aws_account_id,
            user=change.user,
            status=change.status,
            principal=change.principal,
            source_ip=change.source_ip,
            at=change.at,
            owner=owner,
            rotation=rotation_note,
        )
        message = build_key_changed(facts)
        if self._settings.alert_channel:
            self._notifier.post(self._settings.alert_channel, message)
        if owner:
            self._notifier.dm(owner, message)
        self._audit.write(
            "cloudtrail",
            "changed_outside",
            account=alias,
            iam_user=change.user,
            key_id=change.key_id,
            detail=f"{change.call}{f' {change.status}' if change.status else ''} by {change.principal}"
            + (f" from {change.source_ip}" if change.source_ip else "")
            + f" (event {change.event_id})",
        )
        return f"{change.call} by {change.principal}"

    def _tell_rotation(self, key_id: str) -> str | None:
        before = self._rotations.state_for_key(key_id)
        if before is None:
            return None
        after = self._rotations.check_key_now(key_id)
        if after is None or after.state is before.state:
            return f"Rotation {before.id} is in progress on this key ({before.state.value}); it was checked again."
        verb = "ended" if after.state in FINAL else "moved on"
        return f"Rotation {before.id} {verb}: {before.state.value} → {after.state.value}."
