"""`python -m bot worker` (the Procfile's `worker`): does the work after the ack that web processes record.

With WORK_IN=worker, web processes only verify, ack and record each request (bot/entrypoints/work.py); workers
claim the items, one conditional UPDATE each, and run the same lazy listeners. Any number can run side by side.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from bot.settings import Settings

log = logging.getLogger(__name__)

# Threads per worker: each mostly waits on AWS and Slack (bench/work_drain.py measures the rate).
THREADS = 8
POLL_SECONDS = 0.1  # how often an idle worker looks for new items


def run_worker(settings: Settings, threads: int = THREADS) -> int:
    from bot.bootstrap import bootstrap
    from bot.entrypoints.app import create_durable_app
    from bot.entrypoints.work import DRAIN_SECONDS

    services = bootstrap(settings)
    services.warm_up()
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="keywarden-work")
    _, durable = create_durable_app(services, executor, capacity=2 * threads)
    durable.run_here, durable.poll = True, POLL_SECONDS
    if settings.metrics_port:
        from bot.entrypoints.web import serve_ops

        serve_ops(services, settings.metrics_port, draining=durable.draining.is_set)
        log.info("GET /metrics and GET /healthz on port %s", settings.metrics_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    durable.start_sweeping()
    log.info("worker started: %d threads, doing the work after the ack recorded by the web processes", threads)
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    log.info("stopping: finishing the work claimed here (at most %d s)", DRAIN_SECONDS)
    durable.drain(DRAIN_SECONDS)
    executor.shutdown(wait=False)
    return 0
