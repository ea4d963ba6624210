"""Shared pieces of the benchmarks: machine facts, percentiles, child processes with peak RSS,
a moto server that counts the API calls it serves, and the docs/benchmarks.md section writer."""

from __future__ import annotations

import fcntl
import io
import os
import platform
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"

# Credentials the children sign with. moto accepts any key id; a distinct id per client lets the
# counting server attribute every call to the process that made it.
KEYWARDEN_KEY_ID = "AKIAKEYWARDENBENCH01"
NAIVE_KEY_ID = "AKIANAIVESCANBENCH01"
SETUP_KEY_ID = "AKIABENCHSETUPXXXX01"


# Machine and environment
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> int:
    try:
        out = subprocess.run(["nproc"], capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return int(out)
    except (OSError, ValueError, subprocess.SubprocessError):
        return len(os.sched_getaffinity(0))


def versions(*packages: str) -> str:
    found = []
    for name in packages:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _busy_ticks() -> int:
    """CPU ticks the whole machine spent busy since boot (first line of /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


class MachineWatch:
    """How busy the rest of the machine was while a benchmark ran: CPU time used by every process that is
    not this one or one of its (finished) children. Started when this module is imported."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.busy = _busy_ticks()
        self.own = _own_cpu()
        self.load = _loadavg()

    def line(self) -> str:
        wall = time.monotonic() - self.started
        busy = (_busy_ticks() - self.busy) / os.sysconf("SC_CLK_TCK")
        others = max(0.0, busy - (_own_cpu() - self.own))
        return (
            f"- Other load on the machine during the run: {others:.1f} CPU-seconds used by other processes over "
            f"{wall:.0f} s ({others / wall if wall else 0:.0%} of one core on average); 1-minute load average "
            f"{self.load} at the start, {_loadavg()} at the end"
        )


WATCH = MachineWatch()


def machine_lines(packages: Sequence[str] = ("boto3", "moto", "slack_bolt", "waitress", "SQLAlchemy")) -> list[str]:
    return [
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: `nproc` = {nproc()}, CPU: {cpu_model()}, Python {platform.python_version()} ({sys.platform})",
        f"- Libraries: {versions(*packages)}",
        f"- Code: {git_revision()}",
        WATCH.line(),
    ]


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([".venv/bin/python", "-m", module, *(shlex.quote(a) for a in args)])


# Numbers
def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of the values; nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def ms(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "-"
    return f"{seconds * 1000:.1f}"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


# Ports
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {LOOPBACK}:{port} after {timeout:g} s")


# Child processes
@dataclass
class ChildRun:
    returncode: int | None  # None: killed after the time limit
    stdout: str
    stderr: str
    wall_seconds: float
    peak_rss_mb: float
    timed_out: bool = False
    cpu_seconds: float = 0.0  # user + system


def child_env(**extra: str) -> dict[str, str]:
    """The parent's environment without Slack, AWS or database settings, plus the repo on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AWS_", "DATABASE_URL", "ACCOUNTS"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_child(cmd: Sequence[str], env: dict[str, str], timeout: float, cwd: Path | None = None) -> ChildRun:
    """Run a child to completion (killed at `timeout`), with its wall time and peak RSS from wait4()."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=cwd or ROOT, stdout=out, stderr=err)
        deadline = started + timeout
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.perf_counter() > deadline and not timed_out:
                timed_out = True
                os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.02)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(
            None if timed_out else proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            wall,
            usage.ru_maxrss / 1024,  # kilobytes on Linux
            timed_out,
            usage.ru_utime + usage.ru_stime,
        )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (all its threads), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def git_revision() -> str:
    """The commit the tree is at, and whether tracked files differ from it (read-only git calls)."""
    try:
        head = subprocess.run(
            ["git", "--no-optional-locks", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}" + (f" with uncommitted changes to {len(changed.splitlines())} tracked file(s)" if changed else "")


# moto
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")


class CallCounter:
    """WSGI middleware: counts requests by (access key id, "service:Action")."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.latency = 0.0  # seconds added to every call, standing in for the network and AWS
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        key_id, service = (match.group(1), match.group(2)) if match else ("-", "-")
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            action = target.rsplit(".", 1)[-1]
        else:
            query = parse_qs(environ.get("QUERY_STRING", ""))
            form = parse_qs(body.decode("utf-8", "replace")) if body[:1] != b"{" else {}
            action = (form.get("Action") or query.get("Action") or ["?"])[0]
        with self._lock:
            self.counts[(key_id, f"{service}:{action}")] += 1
        if self.latency:
            time.sleep(self.latency)
        return self.app(environ, start_response)

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.counts)

    def since(self, before: Counter[tuple[str, str]], key_id: str | None = None) -> Counter[str]:
        """Calls per "service:Action" made since `before` (by one key id, or by all)."""
        now = self.snapshot()
        diff: Counter[str] = Counter()
        for (kid, op), n in now.items():
            if key_id is None or kid == key_id:
                delta = n - before.get((kid, op), 0)
                if delta:
                    diff[op] += delta
        return diff


def start_moto() -> tuple[Any, CallCounter, str]:
    """moto's server in this process (threads share its backends and the clock), counting calls."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    counter_box: list[CallCounter] = []

    class CountingMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            counter = CallCounter(DomainDispatcherApplication(create_backend_app))
            counter_box.append(counter)
            self._server = make_server(self._ip_address, self._port, counter, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per call
    server = CountingMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, counter_box[0], f"http://{host}:{port}"


def aws_env(endpoint: str, key_id: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": "bench-secret-not-a-real-one",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def most_in_a_second(arrivals: list[tuple[float, str]]) -> int:
    """The most requests of one region, given as (arrival time, region), that arrived within any 1-second window."""
    worst = 0
    for region in {r for _, r in arrivals}:
        times = sorted(t for t, r in arrivals if r == region)
        start = 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            worst = max(worst, end - start + 1)
    return worst


@contextmanager
def cloudtrail_world(key_id: str) -> Iterator[tuple[CallCounter, Any, Any]]:
    """moto's server counting calls, a fake CloudTrail in front of it (tests/support/fake_aws_usage.py, AWS's limit
    of 2 requests a second, capacity 2) and the fake Slack; this process's AWS settings point at them and sign with
    `key_id`. Yields (counter, CloudTrail, Slack) and stops all three at the end."""
    server, counter, endpoint = start_moto()
    from tests.support.fake_aws_usage import FakeUsageAws
    from tests.support.fake_slack import FakeSlack

    fake = FakeUsageAws(endpoint)
    os.environ.update(aws_env(endpoint, key_id) | {"AWS_ENDPOINT_URL_CLOUDTRAIL": fake.url})
    slack = FakeSlack().start()
    try:
        yield counter, fake, slack
    finally:
        slack.stop()
        fake.stop()
        server.stop()


def warn_about_dotenv() -> str | None:
    """bot.entrypoints.cli loads .env (without overriding what is set); say so when one exists."""
    if (ROOT / ".env").exists():
        return "Note: a .env file exists in the repository; variables the benchmark does not set come from it."
    return None


# docs/benchmarks.md
_HEADER = """# Benchmarks

Each section below is written by its benchmark, from a real run on the machine it names (cores, CPU
model, Python, date, code revision, and how busy the rest of the machine was meanwhile). Run a
benchmark again to refresh its section; a `--quick` run writes its own, smaller, section and leaves
the full-size one alone. `--no-docs` prints without writing.

| benchmark | command | full size | time |
|---|---|---|---|
| Ack latency | `.venv/bin/python -m bench.ack_latency` | 3 x 300 requests at 1, 8 and 32 clients | under 1 minute |
| Modal latency | `.venv/bin/python -m bench.modal_latency` | 3 x 40 clicks during 3 scans | about 2 minutes |
| Scan cost | `.venv/bin/python -m bench.scan_cost` | 1,000 / 5,000 / 10,000 IAM users | about 4 minutes |
| Many accounts | `.venv/bin/python -m bench.many_accounts` | 20 accounts x 200 users | about 2.5 minutes |
| Slack messages | `.venv/bin/python -m bench.slack_messages` | 500 keys with findings, 40 owners | seconds |
| Paste detector | `.venv/bin/python -m bench.exposure_detector` | 20,000 chat lines, 2,000 pastes | seconds |
| Paste to alert | `.venv/bin/python -m bench.paste_to_alert` | 60 pastes at 50 msg/s, 300 commands | under 2 minutes |
| SQS event to alert | `.venv/bin/python -m bench.events_to_alert` | 40 events and a burst of 10 | about 1.5 minutes |
| Activity | `.venv/bin/python -m bench.activity_cost` | 1,000 CloudTrail events at 2 requests/s | about 30 seconds |
| Workloads | `.venv/bin/python -m bench.workload_cost` | 100 keys of one account at 2 requests/s | about 2 minutes |
| Least-privilege scans | `.venv/bin/python -m bench.privilege_cost` | 1,000 / 5,000 users, before/after | 2 minutes |
| Organisation | `.venv/bin/python -m bench.organization` | 200 x 50 users, 50 ms calls | about 2 minutes |
| Security Hub export | `.venv/bin/python -m bench.securityhub` | 5,000 findings, 20 accounts | under a minute |
| Delivered rotation | `.venv/bin/python -m bench.delivered_rotation` | 200 users x 3 places, 50 ms | under a minute |

Everything runs on loopback: moto's server (or moto in process) stands in for AWS and a fake Slack
Web API (`tests/support/fake_slack.py`) for Slack, so times measure this machine and these
emulators, not AWS or Slack; call and message counts carry over unchanged.
"""

_ORDER = [
    "ack_latency",
    "ack_latency:quick",
    "modal_latency",
    "modal_latency:quick",
    "scan_cost",
    "scan_cost:quick",
    "many_accounts",
    "many_accounts:quick",
    "slack_messages",
    "slack_messages:quick",
    "exposure_detector",
    "exposure_detector:quick",
    "paste_to_alert",
    "paste_to_alert:quick",
    "events_to_alert",
    "events_to_alert:quick",
    "activity_cost",
    "workload_cost",
    "privilege_cost",
    "organization",
    "organization:quick",
    "securityhub",
    "securityhub:quick",
    "delivered_rotation",
    "delivered_rotation:quick",
]


def publish(name: str, lines: Sequence[str], *, quick: bool, no_docs: bool) -> None:
    """Print a benchmark's section and, unless told not to, write it into docs/benchmarks.md."""
    print("\n".join(lines))
    if not no_docs:
        path = write_section(f"{name}:quick" if quick else name, lines)
        print(f"\nwrote {path}", file=sys.stderr)


def write_section(section: str, lines: Sequence[str]) -> Path:
    """Replace (or add) one benchmark's section of docs/benchmarks.md, keeping the others."""
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    block = "\n".join([start, *lines, end])
    with open(DOCS, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read() or _HEADER
        blocks = {
            m.group(1): m.group(0)
            for m in re.finditer(r"<!-- bench:([\w:]+):start -->.*?<!-- bench:\1:end -->", text, flags=re.S)
        }
        blocks[section] = block
        head = _HEADER
        ordered = sorted(blocks, key=lambda s: (_ORDER.index(s) if s in _ORDER else len(_ORDER), s))
        f.seek(0)
        f.truncate()
        f.write(head + "\n" + "\n\n".join(blocks[s] for s in ordered) + "\n")
        fcntl.flock(f, fcntl.LOCK_UN)
    return DOCS
