"""Ack latency of the production web process, side by side with a Bolt app that only acks.

Both servers run as the Procfile's `web` line runs them (`waitress-serve --threads=<as in the
Procfile> --ident=keywarden --call ...`, on a free loopback port instead of 0.0.0.0:$PORT):

- Keywarden: `--call bot.entrypoints.web:create_wsgi_app`, with a fake Slack Web API and moto's server in this
  process, a temporary SQLite database and SCHEDULER=off; IAM user `ci` has a key, so
  `/awskeys list ci` does real AWS work (ListAccessKeys, GetAccessKeyLastUsed) after the ack;
- bare: `--call bench.bare_app:create`, the same Bolt adapter with listeners that only ack().

A separate load process (bench/_load.py) sends signed requests round-robin — `/awskeys help`,
`/awskeys list ci`, and an Approve click (`request_approve`, value `R-ABCDEF`) — from 1, 8 and 32
client threads, each with its own keep-alive connection, and times each to its HTTP response.

    .venv/bin/python -m bench.ack_latency            # 300 requests per level and server
    .venv/bin/python -m bench.ack_latency --quick    # 60 requests per level and server
    .venv/bin/python -m bench.ack_latency --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.ack_latency --before /tmp/kw-before   # also another checkout, taking turns

`--database postgresql://...` gives each Keywarden server a schema of its own in that database (dropped at the
end) instead of a SQLite file, and writes its own section. `--before DIR` runs a second Keywarden server from
another checkout of the repository (e.g. a `git worktree` of an older commit) with the same environment, and
compares the two.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import (
    KEYWARDEN_KEY_ID,
    LOOPBACK,
    PYTHON,
    ROOT,
    aws_env,
    child_env,
    command_line,
    free_port,
    machine_lines,
    ms,
    percentile,
    process_cpu_seconds,
    publish,
    run_child,
    start_moto,
    table,
    verdict,
    wait_for_port,
    warn_about_dotenv,
)
from bench.estate import REGION, iam_backend
from tests.support.fake_slack import FakeSlack

SIGNING_SECRET = "bench-signing-secret"
THREADS = int(re.search(r"^web:.*--threads=(\d+)", (ROOT / "Procfile").read_text(), re.M).group(1))
KINDS = [
    {"name": "/awskeys help", "type": "command", "text": "help", "user": "UALICE"},
    {"name": "/awskeys list ci", "type": "command", "text": "list ci", "user": "UALICE"},
    {"name": "Approve click", "type": "click", "action_id": "request_approve", "value": "R-ABCDEF", "user": "UBOSS"},
]
LAZY = {"/awskeys list ci", "Approve click"}  # kinds that answer later through response_url


class TimedFakeSlack(FakeSlack):
    """The fake Slack Web API, also noting when each response_url answer arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, float] = {}
        # http.server listens with a backlog of 5; a burst of answers from 32 clients would overflow it and
        # wait out a 1 s SYN retransmission, which is the fake's limit, not Keywarden's.
        self._server.socket.listen(256)

    def _handle(self, handler: Any, raw: str) -> None:
        arrived = time.time()
        path = handler.path
        super()._handle(handler, raw)
        if path.startswith("/respond/"):
            with self._cond:
                self.arrivals.setdefault(path[len("/respond/") :], arrived)


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Phase:
    server: str
    clients: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    sent: int = 0
    stopped_early: bool = False
    answer_latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unanswered: int = 0
    drain_seconds: float | None = None
    label: str = ""
    server_cpu: float = 0.0  # seconds of CPU the server process used, work after the ack included
    load_cpu: float = 0.0
    emulator_cpu: float = 0.0  # this process: moto's server and the fake Slack

    p99s: list[float] = field(default_factory=list)  # of each round, when rounds are merged

    @property
    def all(self) -> list[float]:
        return [x for values in self.latencies.values() for x in values]


def merge(phases: list[Phase]) -> list[Phase]:
    """One Phase per (clients, server, label): the rounds pooled, each round's p99 kept."""
    merged: dict[tuple[int, str, str], Phase] = {}
    for p in phases:
        m = merged.setdefault((p.clients, p.server, p.label), Phase(p.server, p.clients, label=p.label))
        for kind, values in p.latencies.items():
            m.latencies[kind].extend(values)
        for kind, values in p.answer_latencies.items():
            m.answer_latencies[kind].extend(values)
        m.errors.update(p.errors)
        m.elapsed += p.elapsed
        m.sent += p.sent
        m.stopped_early |= p.stopped_early
        m.unanswered += p.unanswered
        m.server_cpu += p.server_cpu
        m.load_cpu += p.load_cpu
        m.emulator_cpu += p.emulator_cpu
        if p.drain_seconds is not None:
            m.drain_seconds = max(m.drain_seconds or float("-inf"), p.drain_seconds)
        m.p99s.append(percentile(p.all, 99))
    return list(merged.values())


def revision(root: Path) -> str:
    run = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return run.stdout.strip() or root.name


class Schemas:
    """A PostgreSQL schema per Keywarden server, made on demand and dropped at the end."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.base = url.replace("postgres://", "postgresql://", 1)
        self.engine = create_engine(self.base.replace("postgresql://", "postgresql+psycopg://", 1))
        self.made: list[str] = []

    def url(self) -> str:
        from sqlalchemy import text

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        self.made.append(schema)
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options=-csearch_path%3D{schema}"

    def drop(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            for schema in self.made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self.engine.dispose()


def start_server(name: str, target: str, env: dict[str, str], log_dir: Path, cwd: Path = ROOT) -> Server:
    port = free_port()
    log = log_dir / f"{name}.log"
    waitress = str(Path(PYTHON).parent / "waitress-serve")
    cmd = [waitress, f"--listen={LOOPBACK}:{port}", f"--threads={THREADS}", "--ident=keywarden", "--call", target]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 60, proc)
    except RuntimeError as e:
        stop_server(Server(name, port, proc, log))
        raise RuntimeError(f"{name}: {e}\n{log.read_text(errors='replace')[-3000:]}") from None
    return Server(name, port, proc, log)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(10)


def healthz(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("Keywarden's /healthz did not answer 200")
        time.sleep(0.1)


def load(
    port: int, clients: int, requests: int, run_id: str, slack: FakeSlack, time_limit: float, kinds: list[dict]
) -> tuple[dict[str, Any], float]:
    cfg = {
        "port": port,
        "clients": clients,
        "requests": requests,
        "run_id": run_id,
        "signing_secret": SIGNING_SECRET,
        "command": "/awskeys",
        "kinds": kinds,
        "response_base": slack.response_url(""),
        "time_limit": time_limit,
    }
    run = run_child([PYTHON, "-m", "bench._load", json.dumps(cfg)], child_env(), timeout=time_limit + 90)
    if run.returncode != 0:
        raise RuntimeError(f"load generator failed: {run.stderr[-500:]}")
    return json.loads(run.stdout), run.cpu_seconds


def wait_answers(slack: TimedFakeSlack, tags: list[str], timeout: float) -> tuple[float | None, int]:
    """Wait until every lazy request got its answer on response_url: (seconds waited or None, missing)."""
    started = time.perf_counter()
    deadline = started + timeout
    while True:
        with slack._cond:
            missing = sum(1 for t in tags if t not in slack.arrivals)
        if missing == 0:
            return time.perf_counter() - started, 0
        if time.perf_counter() > deadline:
            return None, missing
        time.sleep(0.05)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def phase(
    server: Server,
    clients: int,
    requests: int,
    slack: TimedFakeSlack,
    run_id: str,
    time_limit: float,
    lazy: bool,
    kinds: list[dict] = KINDS,
    label: str = "",
) -> Phase:
    cpu_before, self_before = process_cpu_seconds(server.proc.pid), _self_cpu()
    data, load_cpu = load(server.port, clients, requests, run_id, slack, time_limit, kinds)
    result = Phase(server.name, clients, elapsed=data["elapsed"], stopped_early=data["stopped_by_time_limit"])
    result.label, result.load_cpu = label, load_cpu
    lazy_tags: dict[str, tuple[str, float]] = {}
    for name, latency, status, sent_at, tag in data["results"]:
        result.sent += 1
        if status == 200:
            result.latencies[name].append(latency)
            if lazy and name in LAZY:
                lazy_tags[tag] = (name, sent_at)
        else:
            result.errors[str(status)] += 1
    if lazy:
        waited, result.unanswered = wait_answers(slack, list(lazy_tags), timeout=180)
        last_ack = max((sent_at + latency for _, latency, _, sent_at, _ in data["results"]), default=0.0)
        with slack._cond:
            for tag, (name, sent_at) in lazy_tags.items():
                if tag in slack.arrivals:
                    result.answer_latencies[name].append(slack.arrivals[tag] - sent_at)
            last_answer = max((slack.arrivals[t] for t in lazy_tags if t in slack.arrivals), default=None)
        if waited is not None and last_answer is not None:
            result.drain_seconds = last_answer - last_ack
    result.server_cpu = process_cpu_seconds(server.proc.pid) - cpu_before
    result.emulator_cpu = _self_cpu() - self_before
    return result


def setup_aws() -> None:
    backend = iam_backend()
    backend.create_user(region_name=REGION, user_name="ci", tags=[{"Key": "owner", "Value": "alice@example.com"}])
    backend.create_access_key("ci")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 60 requests per level")
    parser.add_argument("--requests", type=int, help="measured requests per level and server (default 300)")
    parser.add_argument(
        "--repeats", type=int, help="measured rounds per level and server, alternating the servers (default 3)"
    )
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--time-limit", type=float, default=90, help="seconds per measured phase at most")
    parser.add_argument(
        "--keywarden-call",
        default="bot.entrypoints.web:create_wsgi_app",
        help="the WSGI factory waitress-serve calls for Keywarden (to try a variant; default the Procfile's)",
    )
    parser.add_argument(
        "--no-diagnostic", action="store_true", help="skip the extra Keywarden run with `/awskeys help` alone"
    )
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (a temporary file, the default) or a postgresql:// URL (a schema per server, dropped after)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="another checkout (e.g. a git worktree of an older commit): its Keywarden takes turns with this one",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="this code with WORK_IN=worker: its web process acks and records, N `python -m bot worker` do the work",
    )
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    postgres = args.database.startswith(("postgres://", "postgresql://"))
    if not postgres and args.database != "sqlite":
        parser.error("--database: expected sqlite or a postgresql:// URL")
    args.database_name = "PostgreSQL" if postgres else "SQLite"
    args.before_rev = revision(args.before) if args.before else None
    requests = args.requests or (60 if args.quick else 300)
    repeats = args.repeats or (1 if args.quick else 3)

    bench_started = time.perf_counter()
    moto, counter, endpoint = start_moto()
    setup_aws()
    slack = TimedFakeSlack().start()
    slack.add_user("UALICE", email="alice@example.com", name="Alice")
    slack.add_user("UBOSS", email="boss@example.com", name="Boss")
    phases: list[Phase] = []
    servers: list[Server] = []
    log_tail = ""
    schemas = Schemas(args.database) if postgres else None
    try:
        with tempfile.TemporaryDirectory(prefix="keywarden-bench-") as tmp:
            common = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SIGNING_SECRET}
            common["SLACK_API_URL"] = slack.api_url

            def keywarden_env(name: str) -> dict[str, str]:
                return child_env(
                    **common,
                    **aws_env(endpoint, KEYWARDEN_KEY_ID),
                    DATABASE_URL=schemas.url() if schemas else f"sqlite:///{Path(tmp) / name}.db",
                    SCHEDULER="off",
                    APPROVER_IDS="UBOSS,UCARL",
                    APPROVAL_CHANNEL="CAPPROVE",
                    ALERT_CHANNEL="CALERTS",
                )

            bare = start_server("bare", "bench.bare_app:create", child_env(**common), Path(tmp))
            servers.append(bare)
            env = keywarden_env("keywarden") | ({"WORK_IN": "worker"} if args.workers else {})
            keywarden = start_server("keywarden", args.keywarden_call, env, Path(tmp))
            servers.append(keywarden)
            healthz(keywarden.port)
            for n in range(args.workers):  # the Procfile's `worker` line, on the same database
                with open(Path(tmp) / f"worker-{n}.log", "wb") as out:
                    cmd = [PYTHON, "-m", "bot", "worker"]
                    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
                servers.append(Server(f"worker-{n}", 0, proc, Path(tmp) / f"worker-{n}.log"))
            turns = [bare, keywarden]
            if args.before:
                env = keywarden_env("before") | {"PYTHONPATH": str(args.before.resolve())}
                before = start_server("before", "bot.entrypoints.web:create_wsgi_app", env, Path(tmp), args.before)
                servers.append(before)
                healthz(before.port)
                turns.append(before)
            aws_before = counter.snapshot()
            for level in args.levels:
                for repeat in range(repeats):
                    for server in turns:
                        is_kw = server is not bare
                        run_id = f"{server.name}-{level}-{repeat}"
                        phase(server, level, max(30, 2 * level), slack, f"{run_id}-w", 60, lazy=is_kw)
                        result = phase(server, level, requests, slack, run_id, args.time_limit, is_kw)
                        phases.append(result)
                        print(
                            f"[{server.name} x{level} #{repeat + 1}] n={len(result.all)} "
                            f"p50={ms(percentile(result.all, 50))} "
                            f"p99={ms(percentile(result.all, 99))} max={ms(max(result.all, default=float('nan')))} "
                            f"ms errors={dict(result.errors)} drain={result.drain_seconds}",
                            file=sys.stderr,
                        )
            if not args.no_diagnostic:
                # Keywarden answering only `/awskeys help` (no AWS work after the ack) at the top level
                level = max(args.levels)
                help_only = [KINDS[0]]
                phase(keywarden, level, max(30, 2 * level), slack, f"help-w{level}", 60, True, help_only)
                result = phase(
                    keywarden, level, requests, slack, f"help-{level}", args.time_limit, True, help_only, "help only"
                )
                phases.append(result)
            aws_calls = counter.since(aws_before, KEYWARDEN_KEY_ID)
            errors_in_answers = sum(1 for c in slack.calls_to("response_url") if "Something went wrong" in c.raw)
            answers = slack.calls_to("response_url")
            log_tail = keywarden.log.read_text(errors="replace")[-2000:]
            for server in servers:
                stop_server(server)
    finally:
        for server in servers:
            stop_server(server)
        slack.stop()
        moto.stop()
        if schemas:
            schemas.drop()
    total = time.perf_counter() - bench_started
    lines = report(phases, args, requests, repeats, total, aws_calls, len(answers), errors_in_answers)
    publish("ack_latency_postgresql" if postgres else "ack_latency", lines, quick=args.quick, no_docs=args.no_docs)
    if "Traceback" in log_tail:
        print("\nKeywarden's log ends with a traceback:\n" + log_tail, file=sys.stderr)
    return 0


def _server_name(p: Phase, before_rev: str | None = None) -> str:
    names = {"keywarden": "Keywarden", "bare": "bare Bolt app", "before": f"Keywarden at {before_rev or 'before'}"}
    name = names[p.server]
    return f"{name}, {p.label}" if p.label else name


def _row(p: Phase, before_rev: str | None = None) -> list[Any]:
    values = p.all
    n = len(values)
    return [
        p.clients,
        _server_name(p, before_rev),
        n,
        sum(p.errors.values()) or 0,
        ms(percentile(values, 50)),
        ms(percentile(values, 95)),
        ms(percentile(values, 99)),
        ms(max(values, default=float("nan"))),
        " / ".join(ms(x) for x in p.p99s) if len(p.p99s) > 1 else ms(percentile(values, 99)),
        f"{n / p.elapsed:.0f}" if p.elapsed else "-",
        f"{p.server_cpu * 1000 / n:.1f}" if n else "-",
        f"{(p.load_cpu + p.emulator_cpu) * 1000 / n:.1f}" if n else "-",
    ]


def report(
    phases: list[Phase],
    args: argparse.Namespace,
    requests: int,
    repeats: int,
    total: float,
    aws_calls: Counter[str],
    answers: int,
    errors_in_answers: int,
) -> list[str]:
    main_phases = merge([p for p in phases if not p.label])
    extra = merge([p for p in phases if p.label])
    lines = [
        "## Ack latency"
        + (" (PostgreSQL)" if args.database_name == "PostgreSQL" else "")
        + (" (quick run)" if args.quick else ""),
        "",
        *machine_lines(),
        f"- Command: `{command_line('bench.ack_latency')}` (took {total:.0f} s)",
        f"- Servers: both started as the Procfile's `web` line, `waitress-serve --listen=127.0.0.1:<free port> "
        f"--threads={THREADS} --ident=keywarden --call ...` (loopback instead of 0.0.0.0:$PORT): Keywarden "
        f"with `{args.keywarden_call}`, the bare app with `bench.bare_app:create` (Bolt, listeners that only "
        "ack). Both run for the whole benchmark; levels run one server at a time.",
        "- The bare app is Bolt as it comes (`process_before_response=False`): its listener runs on Bolt's "
        "executor and the request thread checks for the ack every 10 ms, so each request holds one of the "
        f"{THREADS} threads for at least 10 ms and the app serves at most about {THREADS * 100} requests/s. "
        "Keywarden acks in the request thread (`process_before_response=True`) and runs its work on a "
        "3-thread executor. A bare app that also acked in the request thread would be faster: in a trial run "
        "(4 threads, before the heap was frozen at start) Keywarden's p99 at 32 clients was about 2.7x that "
        "of such an app, where a run just before had measured 1.35x of the default one.",
        "- Keywarden's environment: SLACK_API_URL = a fake Slack Web API in the benchmark process, "
        "AWS_ENDPOINT_URL = moto's server in the benchmark process (IAM user `ci` with one key), "
        + (
            "DATABASE_URL = PostgreSQL on loopback (a schema of its own per server, dropped afterwards), "
            if args.database_name == "PostgreSQL"
            else "DATABASE_URL = a temporary SQLite file (one per server), "
        )
        + "SCHEDULER=off, APPROVER_IDS, APPROVAL_CHANNEL."
        + (
            f" WORK_IN=worker: its web process only acks and records; {args.workers} `python -m bot worker` "
            "process(es) on the same database do the work after the ack (their CPU is not in the server CPU column)."
            if args.workers
            else ""
        ),
        f"- Load: a separate process with {', '.join(map(str, args.levels))} client threads, each with its own "
        "keep-alive `http.client` connection, sending signed requests in a closed loop (each client sends its "
        "next request when the previous one is answered), round-robin: `/awskeys help`, `/awskeys list ci`, "
        "an Approve click (`block_actions`, `request_approve`, `R-ABCDEF`). "
        f"Per level and server, {repeats} round(s), the servers taking turns: a warm-up of max(30, 2 x clients) "
        "requests (not counted; Keywarden's work after the ack is allowed to finish), then "
        f"{requests} measured requests (at most {args.time_limit:g} s). The percentiles pool every round "
        f"({repeats * requests} requests per level and server). "
        "Latency = request sent to HTTP response read, i.e. the ack.",
        "- CPU columns: CPU time per measured request of the server process (all its threads, so Keywarden's "
        "work after the ack is included), and of everything else (the load process, moto and the fake Slack). "
        "The machine has 2 cores for all of them.",
    ]
    if args.before_rev:
        lines.append(
            f"- Also Keywarden at {args.before_rev} (`--before {args.before}`): the same command, environment and "
            "load, served from that checkout, taking its turn after this code's in every round."
        )
    note = warn_about_dotenv()
    if note:
        lines.append(f"- {note}")
    header = [
        "clients",
        "server",
        "requests",
        "errors",
        "p50",
        "p95",
        "p99",
        "max",
        "p99 of each round",
        "req/s",
        "server CPU ms/req",
        "other CPU ms/req",
    ]
    lines += ["", "### Time to ack (ms)", ""]
    lines += table(header, [_row(p, args.before_rev) for p in main_phases])
    lines += ["", "### Keywarden / bare", ""]
    ratio_rows = []
    by_level: dict[int, dict[str, Phase]] = defaultdict(dict)
    for p in main_phases:
        by_level[p.clients][p.server] = p
    for level, pair in sorted(by_level.items()):
        kw, bare = pair.get("keywarden"), pair.get("bare")
        if not kw or not bare:
            continue
        cells: list[Any] = [level]
        for q in (50, 95, 99):
            a, b = percentile(kw.all, q), percentile(bare.all, q)
            cells.append(f"{a / b:.2f}x" if b else "-")
        cells.append(
            f"{kw.server_cpu / max(1, len(kw.all)) / (bare.server_cpu / max(1, len(bare.all))):.1f}x"
            if bare.server_cpu
            else "-"
        )
        ratio_rows.append(cells)
    lines += table(["clients", "p50 ratio", "p95 ratio", "p99 ratio", "server CPU per request ratio"], ratio_rows)
    if args.before_rev:
        lines += ["", f"### This code / Keywarden at {args.before_rev}", ""]
        rows = []
        for level, pair in sorted(by_level.items()):
            kw, old = pair.get("keywarden"), pair.get("before")
            if kw and old:
                p99, old_p99 = percentile(kw.all, 99), percentile(old.all, 99)
                rows.append(
                    [
                        level,
                        f"{ms(percentile(old.all, 50))} / {ms(percentile(kw.all, 50))}",
                        f"{ms(old_p99)} / {ms(p99)}",
                        f"{p99 / old_p99:.2f}x" if old_p99 else "-",
                        " / ".join(f"{a / b:.2f}x" for a, b in zip(kw.p99s, old.p99s, strict=False) if b),
                        verdict(p99 <= 1.2 * old_p99),
                    ]
                )
        lines += table(
            ["clients", "p50 before / now", "p99 before / now", "p99 ratio", "p99 ratio per round", "within 1.2x"],
            rows,
        )
    lines += ["", "### Keywarden per request kind (ms)", ""]
    kind_rows = []
    for p in main_phases:
        if p.server == "bare":
            continue
        for kind in (k["name"] for k in KINDS):
            values = p.latencies.get(kind, [])
            answered = p.answer_latencies.get(kind, [])
            kind_rows.append(
                [
                    p.clients,
                    _server_name(p, args.before_rev),
                    f"`{kind}`" if kind.startswith("/") else kind,
                    len(values),
                    ms(percentile(values, 50)),
                    ms(percentile(values, 99)),
                    ms(percentile(answered, 50)) if answered else "-",
                    ms(percentile(answered, 99)) if answered else "-",
                ]
            )
    lines += table(["clients", "server", "request", "n", "ack p50", "ack p99", "answer p50", "answer p99"], kind_rows)
    drains = ", ".join(
        f"{p.drain_seconds * 1000:+.0f} ms at {p.clients} client{'s' if p.clients != 1 else ''}"
        if p.drain_seconds is not None
        else f"not finished at {p.clients} clients"
        for p in main_phases
        if p.server == "keywarden"
    )
    unanswered = sum(p.unanswered for p in phases)
    lines += [
        "",
        "*Answer* = request sent to the reply arriving at the fake Slack's `response_url` (the work after the "
        "ack: AWS calls, database, Slack); it can come before the ack's HTTP response, because Bolt checks for the "
        f"ack every 10 ms. The last answer of each level arrived, relative to that level's last ack: {drains}. "
        f"Keywarden made {sum(aws_calls.values()):,} AWS calls during the benchmark "
        f"({', '.join(f'{op} {n:,}' for op, n in sorted(aws_calls.items()))}); the fake Slack received "
        f"{answers:,} `response_url` answers ({unanswered} missing), {errors_in_answers} of them an error message.",
    ]
    if extra:
        lines += [
            "",
            "### Diagnostic: Keywarden answering only `/awskeys help`",
            "",
            "The same top level with every request a `/awskeys help` (answered in the ack; the work after the ack "
            "finds nothing to do): what Keywarden's ack path costs without AWS work competing for the process.",
            "",
        ]
        lines += table(header, [_row(p, args.before_rev) for p in extra])
    lines += ["", "### Targets", ""]
    trows = []
    top = max(by_level) if by_level else None
    if top is not None and "keywarden" in by_level[top]:
        kw = by_level[top]["keywarden"]
        p99 = percentile(kw.all, 99)
        trows.append(
            [
                f"Keywarden p99 < 300 ms at {top} clients",
                f"{ms(p99)} ms ({p99 / 0.3:.2f}x the limit)",
                verdict(p99 < 0.3),
            ]
        )
    for level, pair in sorted(by_level.items()):
        kw, bare = pair.get("keywarden"), pair.get("bare")
        if kw and bare:
            r = percentile(kw.all, 99) / percentile(bare.all, 99)
            trows.append(
                [
                    f"p99 within 1.5x of the bare app, {level} client{'s' if level != 1 else ''}",
                    f"{ms(percentile(kw.all, 99))} / {ms(percentile(bare.all, 99))} ms = {r:.2f}x",
                    verdict(r <= 1.5),
                ]
            )
    lines += table(["target", "measured", "verdict"], trows)
    return lines


if __name__ == "__main__":
    sys.exit(main())
