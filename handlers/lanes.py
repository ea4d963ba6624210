"""Where the work after an ack runs. A modal must be opened within 3 s of the click (its trigger_id expires),
so opening one has a lane of its own that never queues behind AWS calls, scans or Slack posting."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass


@dataclass(frozen=True)
class Lanes:
    work: Executor  # Bolt's lazy listeners: AWS calls, database writes, scans, messages
    views: Executor  # views.open, after a database read at most; never an AWS call
