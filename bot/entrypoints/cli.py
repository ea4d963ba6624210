"""Entry points: `python -m bot [run | db upgrade | ...]`. Thin: settings, services, app, run."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime

from bot import __version__
from bot.entrypoints import cli_report
from bot.entrypoints.startup import check_dependencies_or_exit, load_settings_or_exit, reach_database_or_exit
from bot.logs import setup_logging
from bot.settings import Settings

log = logging.getLogger(__name__)

SEVERITIES = ("info", "low", "medium", "high", "critical")
FORMATS = ("table", "json", "ocsf")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Keywarden: AWS access keys from Slack.")
    parser.add_argument("--version", action="version", version=f"keywarden {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("run", help="run the bot (the default): HTTP, or Socket Mode with SLACK_APP_TOKEN")
    sub.add_parser("scheduler", help="run the scheduler alone (the Procfile's clock process)")
    sub.add_parser("worker", help="do the work after the ack that web processes record (with WORK_IN=worker)")
    sub.add_parser(
        "housekeeping",
        help="run the scheduler's periodic work once and exit (expiry, reminders, rotations, time-bound keys, "
        "events), for cron; the scan is `scan --post`",
    )
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="apply schema migrations")
    db.add_argument(
        "--grant-to",
        metavar="ROLE",
        help="PostgreSQL: then grant the bot's login role what it needs; on the audit tables only SELECT and INSERT",
    )
    scan = sub.add_parser("scan", help="scan every account now and print the findings")
    scan.add_argument("--json", action="store_true", help="print JSON instead of a table (as --format json)")
    scan.add_argument("--format", choices=FORMATS, help="table (default), json, or ocsf (an OCSF event per line)")
    scan.add_argument("--post", action="store_true", help="also send the Slack alerts (DMs and digest)")
    scan.add_argument("--force", action="store_true", help="with --post: post the digest even if posted today")
    scan.add_argument("--account", action="append", metavar="ALIAS", help="scan only this account (repeat for several)")
    scan.add_argument("--severity", choices=SEVERITIES, default="info", help="show findings at or above this")
    scan.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        help="exit 1 only for findings at or above this (default: the --severity shown)",
    )
    cli_report.add_parser(sub)
    findings = sub.add_parser("findings", help="list every finding: code, severity, controls, setting, title")
    findings.add_argument("--json", action="store_true", help="print JSON, with rationale and remediation")
    audit = sub.add_parser("audit", help="export the audit log, or verify its hash chain")
    audit.add_argument("action", nargs="?", choices=["verify"], help="check the hash chain (exit 1 if broken)")
    audit.add_argument("--csv", action="store_true", help="write every event as CSV to stdout")
    audit.add_argument("--json", action="store_true", help="write every event as a JSON line (docs/audit-events.md)")
    audit.add_argument("--since", type=_when, help="from this date or time on (ISO 8601, UTC by default)")
    audit.add_argument("--until", type=_when, help="before this date or time (ISO 8601, UTC by default)")
    policy = sub.add_parser("policy", help="check the approval policy file, or explain which rule applies")
    policy_sub = policy.add_subparsers(dest="action", required=True)
    check = policy_sub.add_parser("check", help="validate a policy file (default: POLICY_FILE)")
    check.add_argument("file", nargs="?", help="the policy file (default: POLICY_FILE)")
    explain = policy_sub.add_parser("explain", help="which rule applies to a request, and who may approve it")
    explain.add_argument("operation", help="create, rotate, deactivate, reactivate or delete")
    explain.add_argument("target", metavar="account:user", help="the IAM user (account: where several are configured)")
    explain.add_argument("--as", dest="as_user", required=True, metavar="user-id", help="the requester's Slack id")
    locations = sub.add_parser("locations", help="check the locations file: where machine users' keys are delivered")
    locations_sub = locations.add_subparsers(dest="action", required=True)
    places = locations_sub.add_parser("check", help="validate a locations file (default: LOCATIONS_FILE)")
    places.add_argument("file", nargs="?", help="the locations file (default: LOCATIONS_FILE)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "audit":
        _check_audit_args(parser, args)
    if args.command == "scan" and args.json and args.format not in (None, "json"):
        parser.error(f"scan: --json means --format json, not --format {args.format}")
    if args.command == "report":
        cli_report.check(parser, args)
    if args.command == "findings":
        from bot.entrypoints.cli_findings import run_findings

        return run_findings(as_json=args.json, out=sys.stdout)
    if args.command == "audit" and args.action == "verify":
        settings = load_settings_or_exit(slack=False)
        reach_database_or_exit(settings)  # a database that is down is not a schema to upgrade
        return verify_audit(settings)
    if args.command == "policy":
        return _policy(args)
    if args.command == "locations":
        from bot.entrypoints import cli_locations

        return cli_locations.check(load_settings_or_exit(slack=False), args.file)
    # Slack's tokens are needed by the processes that serve Slack, and by `scan --post`: not by db or audit.
    serving = args.command in (None, "run", "scheduler", "worker", "housekeeping")
    settings = load_settings_or_exit(slack=serving or bool(getattr(args, "post", 0)))
    if settings.policy_file and serving:
        from bot.entrypoints.cli_policy import load_or_exit

        load_or_exit(settings.policy_file)  # a malformed policy stops start-up: one line per problem, exit 2
    if settings.locations_file and args.command in (None, "run", "scheduler", "worker", "housekeeping"):
        from bot.entrypoints.cli_locations import load_or_exit as load_locations_or_exit

        load_locations_or_exit(settings)  # so do a malformed locations file and a place Keywarden cannot reach
    setup_logging(settings.log_level, settings.log_format)
    reach_database_or_exit(settings)  # one line, exit 2, when DATABASE_URL cannot be reached
    return _run_command(args, settings)


def _check_audit_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`audit` needs verify, --csv or --json (one of the last two), and --since before --until."""
    if not (args.action or args.csv or args.json):
        parser.error("audit: use `audit verify`, `audit --csv` or `audit --json`")
    if args.csv and args.json:
        parser.error("audit: --csv or --json, not both")
    if args.since and args.until and args.since >= args.until:
        parser.error(f"audit: --since ({args.since.isoformat()}) must be before --until ({args.until.isoformat()})")


def _policy(args: argparse.Namespace) -> int:
    from bot.entrypoints import cli_policy

    settings = load_settings_or_exit(slack=False)
    if args.action == "check":
        return cli_policy.check(settings, args.file)
    setup_logging(settings.log_level, settings.log_format)
    return cli_policy.explain(settings, args.operation, args.target, args.as_user)


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    """The commands that work on the database: db, audit exports, scan, the scheduler and the bot."""
    if args.command == "db":
        return upgrade_database(settings, args.grant_to)
    if args.command == "audit":
        return export_audit(settings, as_json=args.json, since=args.since, until=args.until)
    if args.command == "scan":
        from bot.entrypoints.cli_scan import run_scan

        output = args.format or ("json" if args.json else "table")
        return run_scan(
            settings,
            output=output,
            post=args.post,
            force=args.force,
            accounts=args.account,
            shown=args.severity,
            fail_on=args.fail_on or args.severity,
        )
    if args.command == "report":
        return cli_report.run_report(settings, out=args.out, days=args.days, post=args.post)
    if args.command == "scheduler":
        return run_scheduler(settings)
    if args.command == "worker":
        from bot.entrypoints.worker import run_worker

        return run_worker(settings)
    if args.command == "housekeeping":
        return housekeeping(settings)
    return run(settings)


def upgrade_database(settings: Settings, grant_to: str | None) -> int:
    """Migrate (as the tables' owner); with `grant_to`, give the bot's login role its privileges."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.db import Database
    from bot.store.roles import GrantRefused, grant_login_role

    db = Database(settings.database_url)
    try:
        if grant_to and not db.is_postgres:
            print("keywarden: --grant-to needs PostgreSQL: SQLite has no roles.", file=sys.stderr)
            return 2
        db.migrate()
        print("database is up to date")
        if not grant_to:
            return 0
        try:
            append_only = grant_login_role(db, grant_to)
        except GrantRefused as e:
            print(f"keywarden: {e}.", file=sys.stderr)
            return 2
        except SQLAlchemyError as e:
            why = type(e).__name__
            print(f"keywarden: could not grant {grant_to} ({why}): run this as the tables' owner.", file=sys.stderr)
            return 2
        print(f"{grant_to} may read and append to {', '.join(append_only)}, and use the other tables")
        return 0
    finally:
        db.dispose()


def _when(value: str) -> datetime:
    from bot.domain.audit_events import parse_when

    try:
        return parse_when(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def export_audit(
    settings: Settings, *, as_json: bool = False, since: datetime | None = None, until: datetime | None = None
) -> int:
    from bot.bootstrap import bootstrap
    from bot.slack.messages.csv_files import csv_writer

    services = bootstrap(settings)
    if as_json:
        for line in services.audit.events(since, until):
            sys.stdout.write(line + "\n")
        return 0
    writer = csv_writer(sys.stdout)
    writer.writerow(["at", "actor", "action", "outcome", "request_id", "account", "iam_user", "key_id", "detail"])
    for e in services.audit.all():
        if (since and e.at < since) or (until and e.at >= until):
            continue
        cells = [e.at.isoformat(), e.actor, e.action, e.outcome, e.request_id, e.account, e.iam_user, e.key_id]
        writer.writerow([*cells, e.detail])
    return 0


def verify_audit(settings: Settings) -> int:
    """Check the audit log's hash chain: 0 with the count when intact, 1 naming the first bad event."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.clock import system_clock
    from bot.store.audit import AuditLog
    from bot.store.db import Database

    db = Database(settings.database_url)
    try:
        check = AuditLog(db, system_clock).verify()
    except SQLAlchemyError as e:
        print(f"keywarden: could not read the audit log ({type(e).__name__}).", file=sys.stderr)
        print("If the schema is older than this version, run `python -m bot db upgrade` first.", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    if check.intact:
        print(f"audit log intact: {check.count} events, chain head {check.head}")
        if check.anchor is not None:
            print(f"It holds the newest head recorded outside it: {check.anchor.describe()}.")
        return 0
    if check.truncated:
        print(f"audit log truncated: {check.truncated}.")
        print(f"The {check.count} events left form an unbroken chain (head {check.head}): events were deleted.")
        return 1
    print(f"audit log broken at event {check.bad_id}: it {check.reason}.")
    print(f"{check.count} events before it are intact (chain head {check.head}).")
    return 1


def housekeeping(settings: Settings) -> int:
    """The scheduler's periodic work once (bot/entrypoints/housekeeping.py): 0 done, 1 a job failed, 2 refused."""
    from bot.bootstrap import bootstrap
    from bot.entrypoints.housekeeping import report, run_once

    services = bootstrap(settings)
    try:
        check_dependencies_or_exit(settings, services.aws)
        return report(run_once(services))
    finally:
        services.close()


def run_scheduler(settings: Settings) -> int:
    import signal

    from bot.bootstrap import bootstrap
    from bot.entrypoints.scheduler import ClockProcess

    services = bootstrap(settings)
    check_dependencies_or_exit(settings, services.aws)
    clock = ClockProcess(services)
    signal.signal(signal.SIGTERM, lambda *_: clock.stop())
    if settings.metrics_port:
        from bot.entrypoints.web import serve_ops

        serve_ops(services, settings.metrics_port, clock.active.is_set)
        log.info("GET /metrics and GET /healthz on port %s", settings.metrics_port)
    log.info("scheduler process started; waiting to be the active one")
    try:
        clock.run()
    except KeyboardInterrupt:
        clock.stop()
    return 0


def run(settings: Settings) -> int:
    from bot.bootstrap import bootstrap

    services = bootstrap(settings)
    check_dependencies_or_exit(settings, services.aws)
    services.warm_up()
    is_leader = None
    if settings.scheduler:
        from bot.entrypoints.scheduler import ClockProcess

        clock = ClockProcess(services)
        clock.start_in_thread()
        is_leader = clock.active.is_set
    if settings.slack_app_token:
        from concurrent.futures import ThreadPoolExecutor

        from slack_bolt.adapter.socket_mode import SocketModeHandler

        from bot.entrypoints.app import create_durable_app
        from bot.entrypoints.web import WORKERS

        if settings.metrics_port:
            from bot.entrypoints.web import serve_ops

            serve_ops(services, settings.metrics_port, is_leader)
            log.info("GET /metrics and GET /healthz on port %s", settings.metrics_port)
        log.info("starting in Socket Mode")
        executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="keywarden-work")
        app, durable = create_durable_app(services, executor)
        durable.start_sweeping()  # work this process acknowledged before it last stopped is taken over
        SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()
        return 0
    from waitress import serve

    from bot.entrypoints.web import SERVER_THREADS, build_wsgi, drain_on_sigterm

    log.info("listening on port %s: POST /slack/events, GET /healthz, GET /metrics", settings.port)
    wsgi = build_wsgi(services, is_leader=is_leader)
    wsgi.durable.start_sweeping()
    drain_on_sigterm(wsgi)
    serve(
        wsgi,
        host="0.0.0.0",
        port=settings.port,
        threads=SERVER_THREADS,
        ident="keywarden",
    )
    return 0
