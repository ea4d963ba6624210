"""The work after an ack, durable: recorded in the database before the ack goes back, then done here, or by any
process when the one that acked it died (docs/architecture.md, "Work after the ack").

- Bolt's lazy listeners start through `DurableWork` (Bolt's `LazyListenerRunner`): it records the request's body
  and the lazy function's name (what of them handlers/durable.py keeps), then runs the function on the work lane.
- The views lane records each window's click too: a window is never opened late, but a lost one is reported.
- `sweep()`, from a background thread, renews the lease of what this process holds and claims what others
  abandoned: a lazy function is re-dispatched to the app as a lazy-only request (Bolt's own way of re-invoking
  one, as its AWS Lambda adapter does), so the listeners are the same whoever runs them.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.lazy_listener.internals import build_runnable_function

from bot.bootstrap import Services
from bot.logs import current_log_context
from bot.slack.observe import request_body, resumed
from bot.store.work_queue import Claimed, WorkQueue
from handlers.durable import FOUND, WINDOW, kept, tell_window_lost

log = logging.getLogger(__name__)

DRAIN_SECONDS = 20.0  # how long a process shutting down waits for the work it acknowledged
MAX_ATTEMPTS = 3  # an item that took down this many processes is dropped, not handed to a fourth


class DurableWork(LazyListenerRunner):
    """Records the work after each ack, runs it on `work`, and takes over what other processes abandoned.

    `run_here`: False on web processes when workers do the work (WORK_IN=worker): they only record it.
    `capacity`: how many items this process holds at most before it stops claiming others' (0: never claims).
    """

    def __init__(
        self,
        services: Services,
        work: Executor,
        *,
        run_here: bool = True,
        capacity: int = 6,
        lease: timedelta = timedelta(seconds=10),
        poll: float = 1.0,
    ) -> None:
        self.logger = log
        self.services = services
        self.queue = WorkQueue(services.db, services.clock)
        self.work = work
        self.run_here = run_here
        self.capacity = capacity
        self.lease = lease
        self.poll = min(poll, lease.total_seconds() / 4)
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.app: App | None = None  # set once the app is built: resumed requests are dispatched to it
        self.draining = threading.Event()
        self._held: set[int] = set()
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed = time.monotonic()
        self._unsynced = False  # recorded since the queue was last put on the disk (SQLite: once a turn)

    # In the ack path
    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        """Bolt starts a lazy listener: record it, then run it here (or leave it to a worker)."""
        runnable = build_runnable_function(func=function, logger=self.logger, request=request)
        keep = kept(request.body)
        if keep is None:  # nothing to do after this ack that a crash could lose
            self.work.submit(runnable)
            return
        here = self.run_here and not self.draining.is_set()
        item_id = self.record(request.lazy_function_name or "", keep.body, keep.found, here=here)
        if here or item_id is None:
            self.submit(item_id, runnable)

    def record(self, function: str, body: dict[str, Any], found: Any, *, here: bool) -> int | None:
        fields = current_log_context()
        try:
            self._unsynced = True
            return self.queue.record(
                request_id=fields.get("request_id", "-"),
                kind=fields.get("kind", "other"),
                function=function,
                body=body,
                found=found,
                owner=self.owner if here else None,
                lease=self.lease,
            )
        except Exception as e:  # the database is down: the work still runs, in memory only, as it always did
            request_id = fields.get("request_id", "-")
            log.error("request %s: work after the ack not recorded (%s)", request_id, type(e).__name__)
            return None

    def submit(self, item_id: int | None, fn: Callable[[], Any], lane: Executor | None = None) -> Future[Any] | None:
        """Run `fn` on the work lane (or `lane`); the item is deleted when `fn` returns, whatever it did."""
        if item_id is not None:
            with self._idle:
                self._held.add(item_id)

        @functools.wraps(fn)
        def then_forget() -> Any:
            try:
                return fn()
            finally:
                if item_id is not None:
                    self._forget(item_id, done=True)

        try:
            return (lane or self.work).submit(then_forget)
        except RuntimeError:  # the lane is shut down (the process is stopping): the item is left to the others
            if item_id is not None:
                self._forget(item_id, done=False)
            return None

    def _forget(self, item_id: int, *, done: bool) -> None:
        try:
            if done:
                self.queue.finish(item_id)
        except Exception as e:  # the work is done; a row left behind is taken over and found already done
            log.error("work item %s done but not deleted (%s)", item_id, type(e).__name__)
        finally:
            with self._idle:
                self._held.discard(item_id)
                self._idle.notify_all()

    # Taking over
    def sweep(self) -> int:
        """Renew the lease of what this process holds; claim what others abandoned and do it. How many claimed."""
        if self._held and time.monotonic() - self._renewed >= self.poll:
            self.queue.renew(self.owner, self.lease)
            self._renewed = time.monotonic()
        room = self.capacity - len(self._held)
        if self.draining.is_set() or room <= 0:
            return 0
        claimed = self.queue.claim(self.owner, self.lease, room)
        for item in claimed:
            self._resume(item)
        return len(claimed)

    def _resume(self, item: Claimed) -> None:
        now = self.services.clock()
        age = (now - item.created_at).total_seconds()
        if item.expires_at <= now or item.attempts > MAX_ATTEMPTS:
            expired = item.expires_at <= now
            why = "its response_url has expired" if expired else f"{item.attempts - 1} processes died on it"
            log.error("request %s: work after the ack dropped (%s): %s", item.request_id, item.function, why)
            self.queue.finish(item.id)
            return
        with resumed(item.request_id, item.kind, age):
            log.info(
                "request %s: taking over the work after the ack (%s, acknowledged %.1f s ago, attempt %d)",
                item.request_id,
                item.function,
                age,
                item.attempts,
            )

            def redo() -> None:
                self._redo(item)

            redo.__name__ = item.function
            self.submit(item.id, redo)

    def _redo(self, item: Claimed) -> None:
        if item.function == WINDOW:
            tell_window_lost(self.services, item.body)
            return
        assert self.app is not None
        # Verified when it arrived; Bolt skips the signature check for requests that did not come over HTTP.
        request = BoltRequest(
            body=item.body,
            mode="socket_mode",
            headers={"x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": item.function},
            context={FOUND: list(item.found)} if item.found is not None else None,
        )
        self.app.dispatch(request)

    # The background thread, and shutting down
    def start_sweeping(self) -> DurableWork:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="keywarden-takeover", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.sweep()
                if self._unsynced:
                    self._unsynced = False
                    self.queue.sync()
            except Exception as e:  # the database is down for a moment: try again at the next turn
                log.warning("taking over work after the ack failed: %s", type(e).__name__)
                claimed = 0
            if not claimed:
                self._stop.wait(self.poll)

    def drain(self, timeout: float = DRAIN_SECONDS) -> int:
        """Stop taking work, wait (at most `timeout`) for what this process holds, hand the rest to the others.
        How many items were handed over."""
        self.draining.set()
        with self._idle:
            self._idle.wait_for(lambda: not self._held, timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        left = self.queue.release(self.owner)
        if left:
            log.warning("shutting down: %d item(s) of work after the ack left to the other processes", left)
        return left


class DurableLane(Executor):
    """The views lane, each window's click recorded: when the process dies before opening the window, another
    process tells the person to click again (a trigger_id lasts 3 s: a window is never opened late)."""

    def __init__(self, durable: DurableWork, inner: Executor) -> None:
        self.durable = durable
        self.inner = inner

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        body = request_body()
        item_id = self.durable.record(WINDOW, body, None, here=True) if body is not None else None

        def call() -> Any:
            return fn(*args, **kwargs)

        call.__name__ = getattr(fn, "__name__", "work")
        future = self.durable.submit(item_id, call, lane=self.inner)
        if future is None:
            raise RuntimeError("the views lane is shut down")
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)
