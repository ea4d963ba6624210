"""The exposure response: a key id pasted with its secret, or reported exposed by AWS Health.

Each (origin, key id) is one row of `exposures`, inserted once: a duplicate delivery (a Slack retry, an
edit, the same Health event again) finds the row and does nothing. The row records each response step
once it is done, so a run interrupted by a crash is finished later by the scheduler without repeating a
step. The secret is never passed in here: only the detector sees the text.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.domain.aws_events import CredentialsExposed
from bot.domain.exposure import PastedMessage, detect
from bot.services.inventory import InventoryService
from bot.services.ownership import OwnershipIndex, owner_slack_id
from bot.slack.client import SlackDirectory
from bot.slack.messages.common import AccountNames
from bot.slack.messages.exposures import (
    AWS_HEALTH,
    SLACK,
    TYPED,
    ExposedKey,
    ExposureFacts,
    build_exposure_alert,
    build_owner_dm,
    build_poster_dm,
    build_thread_reply,
)
from bot.slack.notifier import Notifier
from bot.store.audit import AuditLog
from bot.store.exposures import ExposureRecord, Exposures, LookedUp

log = logging.getLogger(__name__)
GIVE_UP_AFTER = timedelta(days=1)  # unfinished responses are resumed for this long, then left as they are


def _exposed_key(r: ExposureRecord) -> ExposedKey:
    return ExposedKey(r.key_id, r.account, r.iam_user, r.aws_account_id, r.owner)


@dataclass(kw_only=True, eq=False)
class ExposureService:
    exposures: Exposures
    clock: Clock
    audit: AuditLog
    inventory: InventoryService
    index: OwnershipIndex
    directory: SlackDirectory
    notifier: Notifier
    alert_channel: str | None
    names: AccountNames  # `ci`, or `prod:ci` where Keywarden watches several accounts
    admin: Notifier | None = None  # a workspace admin's token: deletes the pasted message

    # Intake
    def handle_message(self, message: PastedMessage) -> bool:
        """Look at one Slack message; respond when it holds a key id and a secret. True when it was an exposure."""
        detection = detect(message.text)
        if not detection.exposure:
            return False
        self.handle_found(message, detection.key_ids)
        return True

    def handle_found(self, message: PastedMessage, key_ids: Sequence[str]) -> None:
        """The response to a message the detector already found key ids and a secret in (its text not kept)."""
        claimed = self._claim(
            message.origin,
            key_ids,
            source=SLACK,
            channel=message.channel,
            message_ts=message.ts,
            thread_ts=message.thread_ts,
            poster=message.user,
        )
        if claimed:
            self._respond(claimed)

    def handle_health(self, event: CredentialsExposed) -> None:
        claimed = self._claim(
            f"{AWS_HEALTH}/{event.event_id}",
            event.key_ids,
            source=AWS_HEALTH,
            aws_account_id=event.aws_account_id,
            health_type=event.type_code,
            reported_at=event.at,
        )
        if claimed:
            self._respond(claimed)

    def handle_typed(self, user: str, key_ids: Sequence[str], place: str) -> None:
        """A secret typed into Keywarden's own command or form (a key of TYPED_PLACES), already refused. With key
        ids: the response, less the steps on a Slack message; without: the refusal, audited."""
        if not key_ids:
            self.audit.refused(user, f"typed into {place}", "what looks like a secret access key; none of it was kept")
            return
        claimed = self._claim(f"{TYPED}/{place}/{uuid.uuid4().hex}", key_ids, source=TYPED, poster=user)
        if claimed:
            self._respond(claimed)

    def _claim(self, origin: str, key_ids: Sequence[str], **fields: Any) -> list[int]:
        """Insert the rows of keys not seen at this origin yet; their ids, or [] when another run has them."""
        return self.exposures.claim(origin, key_ids, self.clock(), **fields)

    # The response
    def _respond(self, row_ids: list[int]) -> None:
        rows = self._look_up(self._load(row_ids))
        first = rows[0]
        facts = ExposureFacts(
            source=first.source,
            keys=[_exposed_key(r) for r in rows],
            at=first.detected_at,
            channel=first.channel,
            poster=first.poster,
            permalink=first.permalink,
            deleted=first.deleted == "deleted",
            place=first.origin.split("/")[1] if first.source == TYPED else None,
            health_type=first.health_type,
            reported_at=first.reported_at,
        )
        # The alert and the owners' DMs first: the thread reply and the poster's DM then say who was told.
        self._alert_steps(rows, facts)
        if first.source == SLACK:
            self._slack_steps(rows, _told(facts, self._load(row_ids)))
        self._finish(row_ids)

    def _look_up(self, rows: list[ExposureRecord]) -> list[ExposureRecord]:
        """Which account and user own each key (Keywarden's own credentials only), audited once per key."""
        todo = [r for r in rows if r.looked_up_at is None]
        if not todo:
            return rows
        first = todo[0]
        permalink = first.permalink
        if first.source == SLACK and permalink is None and first.channel and first.message_ts:
            permalink = self.notifier.permalink(first.channel, first.message_ts)
        found = {}
        for r in todo:
            owner = self.inventory.key_owner(r.key_id)
            aws_account_id = owner.aws_account_id or r.aws_account_id
            found[r.id] = LookedUp(
                account=owner.account,
                iam_user=owner.user,
                aws_account_id=aws_account_id,
                owner=owner_slack_id(self.index, self.directory, owner.account, owner.user),
                permalink=permalink,
                actor=r.poster or r.source,
                detail=_audit_detail(r, permalink, aws_account_id),
            )
        self.exposures.looked_up(found, todo, self.clock())
        return self._load([r.id for r in rows])

    def _slack_steps(self, rows: list[ExposureRecord], facts: ExposureFacts) -> None:
        first = rows[0]
        assert first.channel and first.message_ts
        ids = [r.id for r in rows]
        reply_ts = first.reply_ts
        if reply_ts is None:
            posted = self.notifier.post(
                first.channel, build_thread_reply(facts, self.names), thread_ts=first.thread_ts or first.message_ts
            )
            if posted:
                reply_ts = posted[1]
                self._set(ids, reply_ts=reply_ts)
        if first.deleted is None and self.admin is not None:
            deleted = self.admin.delete(first.channel, first.message_ts)
            self._set(ids, deleted="deleted" if deleted else "failed")
            facts = replace(facts, deleted=deleted)
            if deleted and reply_ts:
                self.notifier.update(first.channel, reply_ts, build_thread_reply(facts, self.names))
        poster = first.poster
        if poster and first.poster_told_at is None and self.notifier.dm(poster, build_poster_dm(facts, self.names)):
            self._set(ids, poster_told_at=self.clock())

    def _alert_steps(self, rows: list[ExposureRecord], facts: ExposureFacts) -> None:
        ids = [r.id for r in rows]
        if self.alert_channel and rows[0].alert_ts is None:
            posted = self.notifier.post(self.alert_channel, build_exposure_alert(facts, self.names))
            if posted:
                self._set(ids, alert_ts=posted[1])
        by_owner: dict[str, list[ExposureRecord]] = defaultdict(list)
        for r in rows:
            if r.owner and r.owner_told_at is None:
                by_owner[r.owner].append(r)
        for owner, theirs in by_owner.items():
            if self.notifier.dm(owner, build_owner_dm(facts, [_exposed_key(r) for r in theirs], self.names)):
                self._set([r.id for r in theirs], owner_told_at=self.clock())

    def _finish(self, row_ids: list[int]) -> None:
        now = self.clock()
        done = [r.id for r in self._load(row_ids) if _complete(r, bool(self.alert_channel))]
        if done:
            self._set(done, done_at=now)

    # After a crash or a Slack outage
    def resume_unfinished(self, older_than: timedelta) -> int:
        """Finish responses left half-done (claimed longer ago than `older_than`); no step runs twice."""
        now = self.clock()
        cutoff = now - older_than
        origins = self.exposures.unfinished_origins(cutoff, now - GIVE_UP_AFTER)
        resumed = 0
        for origin in origins:
            claimed = self.exposures.reclaim(origin, cutoff, now)
            if claimed:
                log.info("resuming the response to exposure %s", origin)
                self._respond(sorted(claimed))
                resumed += 1
        return resumed

    # Storage
    def _load(self, row_ids: list[int]) -> list[ExposureRecord]:
        return self.exposures.load(row_ids)

    def _set(self, row_ids: list[int], **values: Any) -> None:
        self.exposures.set(row_ids, **values)


def _told(facts: ExposureFacts, rows: list[ExposureRecord]) -> ExposureFacts:
    """The facts with who has been alerted so far: the security team (the alert channel has the alert) and the
    owners whose DM went out. Nobody is said to be told who was not."""
    told = {r.owner for r in rows if r.owner and r.owner_told_at is not None}
    untold = sum(1 for r in rows if not (r.owner and r.owner_told_at is not None))
    return replace(facts, team_told=any(r.alert_ts for r in rows), owners_told=len(told), owners_untold=untold)


def _complete(r: ExposureRecord, has_alert_channel: bool) -> bool:
    slack_done = r.source != SLACK or (r.reply_ts is not None and (r.poster is None or r.poster_told_at is not None))
    alert_done = not has_alert_channel or r.alert_ts is not None
    owner_done = r.owner is None or r.owner_told_at is not None
    return r.looked_up_at is not None and slack_done and alert_done and owner_done


def _audit_detail(r: ExposureRecord, permalink: str | None, aws_account_id: str | None) -> str:
    if r.source == AWS_HEALTH:
        return (
            f"source aws-health, {r.health_type or 'AWS_RISK_CREDENTIALS_EXPOSED'}, event {r.origin.split('/', 1)[1]}, "
            f"AWS account {aws_account_id or '?'}"
        )
    if r.source == TYPED:
        return f"source typed, into {r.origin.split('/')[1]}, by {r.poster}"
    parts = [f"source slack, channel {r.channel}, poster {r.poster}"]
    if permalink:
        parts.append(f"permalink {permalink}")
    return ", ".join(parts)
