"""The events queue: EventBridge events from SQS, each handled once, deleted only once handled.

A long-poll loop (20 s waits, batches of 10) in the scheduler process. Every event id is claimed in the
database before it is handled and remembered for 14 days, so a redelivered message (SQS delivers at least
once) or a second consumer changes nothing twice. A message that is not an event Keywarden knows is logged
by type and id only and left on the queue; after 3 receives the queue's redrive policy moves it aside.
Events of AWS accounts Keywarden does not serve are dropped. A CloudTrail claim that IAM cannot verify yet
(unreadable, or too recent to show) is left on the queue for a later try. Every receive counts towards the
dead-letter queue, so the reader does not receive while it could not handle what it gets: the database is
checked before each receive, and while it or IAM cannot be read the reader pauses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import metrics
from bot.aws import AwsError, EventQueue, QueueMessage
from bot.clock import Clock
from bot.domain.aws_events import AwsEvent, CredentialsExposed, MalformedEvent, UnknownEvent, parse_event
from bot.services.exposures import ExposureService
from bot.services.key_events import KeyChangeService, NotYetVerified
from bot.store.aws_events import EventIds

log = logging.getLogger(__name__)
KEEP = timedelta(days=14)
CLAIM_TIMEOUT = timedelta(minutes=5)  # a claim older than this was left by a crash
BACKOFF_SECONDS = 30  # times the receive count: a failing event waits longer each time
MAX_RECEIVES = 3  # the redrive policy's maxReceiveCount (deploy/aws/events.yaml)


@dataclass(kw_only=True, eq=False)
class EventIntake:
    queue: EventQueue
    events: EventIds
    clock: Clock
    exposures: ExposureService
    key_changes: KeyChangeService
    on_handled: Callable[[AwsEvent], None] | None = None
    backoff_seconds: int = BACKOFF_SECONDS
    _iam_down: bool = field(default=False, init=False)  # set by a batch in which IAM could not be read
    _db_down: bool = field(default=False, init=False)  # set when the database did not answer before a receive
    _last_cleanup: datetime | None = field(default=None, init=False)

    def run(self, stopping: threading.Event) -> None:
        """Poll until `stopping` is set; an unreachable queue is retried after a pause."""
        log.info("reading AWS events from the events queue")
        failures = 0
        while not stopping.is_set():
            try:
                self.poll_once()
                failures = 0
                if self._iam_down or self._db_down:  # no receive for a while: each moves a message towards the DLQ
                    stopping.wait(self.backoff_seconds)
            except AwsError as e:
                failures += 1
                log.warning("events queue: %s", e.message)
                stopping.wait(min(300, 5 * 2**failures))
            except Exception:  # the loop must outlive any one bad batch
                failures += 1
                log.exception("events queue: a batch failed")
                stopping.wait(min(300, 5 * 2**failures))

    def poll_once(self) -> int:
        """One long poll: receive up to 10 messages and handle each. Returns how many were received.

        Nothing is received while the database does not answer: a message received then could not be claimed,
        and after 3 receives SQS would move it to the dead-letter queue unhandled."""
        if not self._database_answers():
            return 0
        messages = self.queue.receive(10)
        self._iam_down = False
        for message in messages:
            self._handle(message)
        self._forget_old()
        return len(messages)

    def _database_answers(self) -> bool:
        try:
            self.events.ping()
        except Exception as e:  # any driver error: the database cannot be used now
            if not self._db_down:
                log.warning(
                    "events queue: the database does not answer (%s): not receiving until it does", type(e).__name__
                )
            self._db_down = True
            return False
        if self._db_down:
            log.info("events queue: the database answers again: receiving")
        self._db_down = False
        return True

    def _handle(self, message: QueueMessage) -> None:
        try:
            event = parse_event(message.body)
        except (MalformedEvent, UnknownEvent) as e:
            fate = "moves to the dead-letter queue" if message.receive_count >= MAX_RECEIVES else "is left on the queue"
            log.warning(
                "events queue: message %s is %s, event id %s; it %s (receive %d)",
                message.message_id,
                e.kind,
                e.event_id,
                fate,
                message.receive_count,
            )
            return
        claim = self._claim(event.event_id, type(event).__name__)
        if claim == "done":
            self.queue.delete(message)  # handled before: only the message was left
            return
        if claim == "busy":
            return  # another consumer is on it; the message comes back if it fails
        kind = "health" if isinstance(event, CredentialsExposed) else "cloudtrail"
        try:
            if isinstance(event, CredentialsExposed):
                result, outcome = self._exposed(event)
            else:
                changed = self.key_changes.handle(event)
                result, outcome = changed.result, changed.note
        except NotYetVerified as e:  # nothing was done or said: the claim is released, the message backs off
            self._release(event.event_id)
            self._iam_down = self._iam_down or e.iam_down
            metrics.aws_event(kind, "unverified")
            fate = "moves to the dead-letter queue" if message.receive_count >= MAX_RECEIVES else "is tried again later"
            log.warning(
                "events queue: event %s not verified yet (%s): nothing done; it %s (receive %d)",
                event.event_id,
                e.reason,
                fate,
                message.receive_count,
            )
            self.queue.retry_later(message, self.backoff_seconds * message.receive_count)
            return
        except Exception as e:  # kept for a later try: the claim is released, the message backs off
            self._release(event.event_id)
            log.warning(
                "events queue: event %s could not be handled yet (%s); retried later",
                event.event_id,
                e.message if isinstance(e, AwsError) else type(e).__name__,
                exc_info=not isinstance(e, AwsError),
            )
            self.queue.retry_later(message, self.backoff_seconds * message.receive_count)
            return
        metrics.aws_event(kind, result)
        self._done(event.event_id)
        self.queue.delete(message)
        log.info("events queue: event %s handled: %s", event.event_id, outcome)
        if self.on_handled is not None:
            self.on_handled(event)

    def _exposed(self, event: CredentialsExposed) -> tuple[str, str]:
        if self.key_changes.served_alias(event.aws_account_id) is None:
            log.warning(
                "AWS Health event %s is about AWS account %s, which Keywarden does not serve: ignored",
                event.event_id,
                event.aws_account_id,
            )
            return "ignored", f"AWS account {event.aws_account_id} is not served"
        self.exposures.handle_health(event)
        return "told", f"{event.type_code} of {len(event.key_ids)} key(s) in AWS account {event.aws_account_id}"

    # Event ids
    def _claim(self, event_id: str, kind: str) -> str:
        """'claimed' (handle it now), 'done' (handled before) or 'busy' (being handled elsewhere)."""
        return self.events.claim(event_id, kind, self.clock(), CLAIM_TIMEOUT)

    def _done(self, event_id: str) -> None:
        self.events.done(event_id, self.clock())

    def _release(self, event_id: str) -> None:
        self.events.release(event_id)

    def _forget_old(self) -> None:
        """Drop event ids older than 14 days, at most once an hour."""
        now = self.clock()
        if self._last_cleanup is not None and now - self._last_cleanup < timedelta(hours=1):
            return
        self._last_cleanup = now
        self.events.forget_received_before(now - KEEP)
