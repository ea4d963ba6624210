"""`python -m bot housekeeping`: the clock process's periodic work, once, for cron-style deployments.

Every scheduler job (bot/entrypoints/scheduler.py `jobs`) runs once, in the order the scheduler lists them, except
the scan, which reads every account (`python -m bot scan --post` runs it on a schedule of its own); then the events
queue (EVENTS_QUEUE_URL), when there is one, is read until it is empty. Safe beside a running clock process: each
job claims what it acts on with a conditional UPDATE, so of two runners one acts and the other finds nothing to do.
A job that fails is logged with its traceback and named on stderr, the others still run, and the exit is 1.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import TextIO

from bot.aws import AwsError
from bot.bootstrap import Services
from bot.entrypoints.scheduler import jobs

log = logging.getLogger(__name__)

# a full scan of every account (`python -m bot scan --post`), and the weekly sample of keys' workloads
ON_SCHEDULE_ONLY = frozenset({"scan", "workload_sample"})
EVENT_BATCHES = 100  # at most 1,000 messages from the events queue per run: a backlog is left to the next run
EVENTS = "events"


@dataclass
class Outcome:
    ran: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    events: int | None = None  # messages received from the events queue; None without EVENTS_QUEUE_URL


def run_once(services: Services) -> Outcome:
    """Every periodic job once, then the events queue until it is empty; failures are logged, not raised."""
    outcome = Outcome()
    for name, (job, _trigger) in jobs(services).items():
        if name in ON_SCHEDULE_ONLY:
            continue
        try:
            job()
        except Exception:  # the other jobs still run; the exit code says one failed
            log.exception("housekeeping job %s failed", name)
            outcome.failed.append(name)
        else:
            outcome.ran.append(name)
    intake = services.event_intake(0)  # no long poll: receive what is there, and stop when nothing is
    if intake is None:
        return outcome
    outcome.events = 0
    try:
        for _ in range(EVENT_BATCHES):
            received = intake.poll_once()
            outcome.events += received
            if received == 0:
                break
    except AwsError as e:
        log.warning("events queue: %s", e.message)
        outcome.failed.append(EVENTS)
    except Exception:
        log.exception("events queue: a batch failed")
        outcome.failed.append(EVENTS)
    else:
        outcome.ran.append(EVENTS)
    return outcome


def report(outcome: Outcome, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """One line of what ran (and the events read) on `out`, one per failed job on `err`; the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    events = f" ({outcome.events} event{'s' if outcome.events != 1 else ''} read)" if outcome.events is not None else ""
    print(f"housekeeping done: {', '.join(outcome.ran) or 'nothing'}{events}", file=out)
    for name in outcome.failed:
        print(f"keywarden: housekeeping job {name} failed (its traceback is in the log); run again later", file=err)
    return 1 if outcome.failed else 0
