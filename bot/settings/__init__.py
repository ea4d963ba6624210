"""Settings, read once from the environment (and `.env`) and validated at start.

`Settings.from_env` reads every variable; the parsers of single values are in `parsers`, reading a
variable (and `SettingsError`) in `reader`, and the AWS accounts (ACCOUNTS, ORG_*, the region) in `accounts`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bot.domain.delivery import SECRET_PREFIX_FORM
from bot.settings.accounts import Account, Organization, account_list, read_organization, region_for
from bot.settings.parsers import (
    CHANNEL_FORM,
    approval_counts,
    base_url,
    channel_id,
    crontab,
    database_url,
    enforce_days,
    exempt_subjects,
    int_between,
    log_level,
    matching,
    nonblank,
    on_off,
    queue_url,
    regions,
    secret_name_prefix,
    slack_user_ids,
    time_zone,
    token,
    webhook_secret,
    webhook_url,
)
from bot.settings.reader import Reader, SettingsError, with_secret_files

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///keywarden.db"
DEFAULT_ACCOUNT = "default"

_SLACK_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_COMMAND = re.compile(r"^/[a-z0-9_-]{1,31}$")


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    port: int = 3000
    database_url: str = DEFAULT_DATABASE_URL
    slash_command: str = "/awskeys"
    approval_channel: str | None = None
    alert_channel: str | None = None
    approver_ids: frozenset[str] = frozenset()
    approver_group: str | None = None
    owner_tag: str = "owner"
    accounts: tuple[Account, ...] = (Account(DEFAULT_ACCOUNT),)
    max_key_age_days: int = 90
    warn_key_age_days: int = 80
    unused_days: int = 45
    ownership_ttl_minutes: int = 60
    scheduler: bool = True
    log_level: str = "INFO"
    request_ttl_hours: int = 24
    policy_file: str | None = None
    remind_approvers_hours: int = 4
    escalate_after_hours: int = 12
    reveal_ttl_hours: int = 24
    approvals_required: Mapping[str, int] = field(default_factory=dict)
    secret_delivery: str = "reveal"
    secret_prefix: str = "keywarden"
    rotation_grace_days: int = 7
    rotation_stall_days: int = 14
    rotation_delete_days: int = 7
    scan_cron: str = "0 9 * * *"
    scan_timezone: str = "UTC"
    remind_every_days: int = 7
    exempt: frozenset[str] = frozenset()
    scan_concurrency: int = 4
    reconcile_after_minutes: int = 10
    activity_regions: tuple[str, ...] = ()
    activity_max_events: int = 1000
    access_cache_hours: int = 4
    strict_policy_findings: bool = False
    require_extra_approval_for_admin: bool = True
    events_queue_url: str | None = None
    events_dlq_url: str | None = None  # the events queue's dead-letter queue: its depth in /healthz and /metrics
    slack_admin_token: str | None = None
    organization: Organization | None = None
    audit_webhook_url: str | None = None
    enforce: Mapping[str, int] = field(default_factory=dict)
    enforce_max_per_scan: int = 20
    enforce_dry_run: bool = False
    audit_webhook_secret: str | None = None
    aws_region: str | None = None
    log_format: str = "text"
    metrics_port: int | None = None
    list_visibility: str = "everyone"  # who may `list` / `check` another's IAM user: everyone, or owners
    startup_timeout_seconds: int = 60  # how long start-up waits for Slack and AWS to answer at all

    @property
    def account_aliases(self) -> list[str]:
        return [a.alias for a in self.accounts]

    @property
    def stored_secret_prefix(self) -> str | None:
        """Where new keys go with SECRET_DELIVERY=secretsmanager (nobody reveals them then); None: revealed."""
        return self.secret_prefix if self.secret_delivery == "secretsmanager" else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, slack: bool = True) -> Settings:
        """Build settings from `env` (default: the process environment); secrets may come from `<NAME>_FILE`."""
        env = with_secret_files(os.environ if env is None else env)
        r = Reader(env)
        # Socket Mode (SLACK_APP_TOKEN) receives no signed HTTP requests: no signing secret is needed there.
        socket_mode = bool(env.get("SLACK_APP_TOKEN", "").strip())
        settings = cls(
            # Without Slack (`python -m bot scan` in a terminal) the tokens may be absent.
            slack_bot_token=(r.required if slack else r.optional)(
                "SLACK_BOT_TOKEN", token("xoxb-"), "a bot token starting with xoxb-"
            )
            or "xoxb-unset",
            slack_signing_secret=(r.required if slack and not socket_mode else r.optional)(
                "SLACK_SIGNING_SECRET", nonblank, "the app's signing secret"
            )
            or "unset",
            slack_app_token=r.optional("SLACK_APP_TOKEN", token("xapp-"), "an app-level token starting with xapp-"),
            slack_api_url=r.optional("SLACK_API_URL", base_url, "an http(s) URL such as https://slack.com/api/")
            or DEFAULT_SLACK_API_URL,
            port=r.optional("PORT", int_between(1, 65535), "a port number from 1 to 65535") or 3000,
            database_url=r.optional(
                "DATABASE_URL", database_url, "a SQLAlchemy URL such as sqlite:///keywarden.db or postgresql://host/db"
            )
            or DEFAULT_DATABASE_URL,
            slash_command=r.optional("SLASH_COMMAND", matching(_COMMAND), "a slash command such as /awskeys")
            or "/awskeys",
            approval_channel=r.optional("APPROVAL_CHANNEL", channel_id, CHANNEL_FORM),
            alert_channel=r.optional("ALERT_CHANNEL", channel_id, CHANNEL_FORM),
            approver_ids=r.optional(
                "APPROVER_IDS", slack_user_ids, "comma-separated Slack user ids such as U012AB3CD,U045EF6GH"
            )
            or frozenset(),
            approver_group=r.optional(
                "APPROVER_GROUP", matching(_SLACK_GROUP_ID), "a Slack user group id such as S0123ABCD"
            ),
            owner_tag=r.optional(
                "OWNER_TAG", matching(re.compile(r"^[\w.:/=+@ -]{1,128}$")), "an IAM tag key such as owner"
            )
            or "owner",
            accounts=r.optional(
                "ACCOUNTS", account_list, "comma-separated alias=arn:aws:iam::123456789012:role/name[|external-id]"
            )
            or (Account(DEFAULT_ACCOUNT),),
            max_key_age_days=r.optional("MAX_KEY_AGE_DAYS", int_between(1, 3650), "a number of days from 1 to 3650")
            or 90,
            warn_key_age_days=r.optional("WARN_KEY_AGE_DAYS", int_between(1, 3650), "a number of days from 1 to 3650")
            or 80,
            unused_days=r.optional("UNUSED_DAYS", int_between(1, 3650), "a number of days from 1 to 3650") or 45,
            ownership_ttl_minutes=r.optional("OWNERSHIP_TTL_MINUTES", int_between(1, 10080), "minutes from 1 to 10080")
            or 60,
            scheduler=r.optional("SCHEDULER", on_off, "on or off") if env.get("SCHEDULER", "").strip() else True,
            log_level=r.optional("LOG_LEVEL", log_level, "DEBUG, INFO, WARNING or ERROR") or "INFO",
            request_ttl_hours=r.optional("REQUEST_TTL_HOURS", int_between(1, 720), "hours from 1 to 720") or 24,
            reveal_ttl_hours=r.optional("REVEAL_TTL_HOURS", int_between(1, 720), "hours from 1 to 720") or 24,
            policy_file=env.get("POLICY_FILE", "").strip() or None,
            remind_approvers_hours=r.optional("REMIND_APPROVERS_HOURS", int_between(1, 720), "hours from 1 to 720")
            or 4,
            escalate_after_hours=r.optional("ESCALATE_AFTER_HOURS", int_between(1, 720), "hours from 1 to 720") or 12,
            approvals_required=r.optional(
                "APPROVALS_REQUIRED", approval_counts, "operation=count pairs such as delete=2,create=1"
            )
            or {},
            secret_delivery=r.optional(
                "SECRET_DELIVERY", matching(re.compile(r"^(reveal|secretsmanager)$")), "reveal or secretsmanager"
            )
            or "reveal",
            secret_prefix=r.optional("SECRET_PREFIX", secret_name_prefix, SECRET_PREFIX_FORM) or "keywarden",
            rotation_grace_days=r.optional("ROTATION_GRACE_DAYS", int_between(1, 90), "days from 1 to 90") or 7,
            rotation_stall_days=r.optional("ROTATION_STALL_DAYS", int_between(1, 365), "days from 1 to 365") or 14,
            rotation_delete_days=r.optional("ROTATION_DELETE_DAYS", int_between(1, 90), "days from 1 to 90") or 7,
        )
        settings = replace(
            settings,
            scan_cron=r.optional(
                "SCAN_CRON", crontab, "a crontab line such as 0 9 * * * (minute hour day month weekday)"
            )
            or "0 9 * * *",
            scan_timezone=r.optional("SCAN_TIMEZONE", time_zone, "a time zone name such as UTC or Europe/Berlin")
            or "UTC",
            remind_every_days=r.optional("REMIND_EVERY_DAYS", int_between(1, 365), "days from 1 to 365") or 7,
            exempt=r.optional("EXEMPT", exempt_subjects, "comma-separated key ids, users or account:user")
            or frozenset(),
            scan_concurrency=r.optional("SCAN_CONCURRENCY", int_between(1, 64), "a number from 1 to 64") or 4,
            reconcile_after_minutes=r.optional(
                "RECONCILE_AFTER_MINUTES", int_between(0, 1440), "minutes from 0 to 1440"
            )
            if env.get("RECONCILE_AFTER_MINUTES", "").strip()
            else 10,
            events_queue_url=r.optional(
                "EVENTS_QUEUE_URL",
                queue_url,
                "an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/keywarden-events",
            ),
            events_dlq_url=r.optional(
                "EVENTS_DLQ_URL",
                queue_url,
                "an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/keywarden-events-dlq",
            ),
            slack_admin_token=r.optional(
                "SLACK_ADMIN_TOKEN", token("xoxp-"), "a user token of a workspace admin, starting with xoxp-"
            ),
            log_format=r.optional("LOG_FORMAT", matching(re.compile(r"^(text|json)$")), "text or json") or "text",
            metrics_port=r.optional("METRICS_PORT", int_between(1, 65535), "a port number from 1 to 65535"),
            startup_timeout_seconds=r.optional(
                "STARTUP_TIMEOUT_SECONDS", int_between(0, 3600), "seconds from 0 to 3600"
            )
            if env.get("STARTUP_TIMEOUT_SECONDS", "").strip()
            else 60,
        )
        settings = replace(
            settings,
            activity_regions=r.optional("ACTIVITY_REGIONS", regions, "comma-separated AWS regions such as eu-west-1")
            or (),
            activity_max_events=r.optional("ACTIVITY_MAX_EVENTS", int_between(50, 20000), "a number from 50 to 20000")
            or 1000,
            access_cache_hours=r.optional("ACCESS_CACHE_HOURS", int_between(1, 48), "hours from 1 to 48") or 4,
            strict_policy_findings=r.flag("STRICT_POLICY_FINDINGS", False),
            require_extra_approval_for_admin=r.flag("REQUIRE_EXTRA_APPROVAL_FOR_ADMIN", True),
            audit_webhook_url=r.optional(
                "AUDIT_WEBHOOK_URL", webhook_url, "an https:// URL (http:// only to 127.0.0.1, localhost or [::1])"
            ),
            audit_webhook_secret=r.optional("AUDIT_WEBHOOK_SECRET", webhook_secret, "at least 16 characters"),
            list_visibility=r.optional(
                "LIST_VISIBILITY", matching(re.compile(r"^(everyone|owners)$")), "everyone or owners"
            )
            or "everyone",
        )
        settings = replace(
            settings,
            enforce=r.optional(
                "ENFORCE", enforce_days, "kind=days pairs such as unused=60,age=120 (kinds: unused, age)"
            )
            or {},
            enforce_max_per_scan=r.optional("ENFORCE_MAX_PER_SCAN", int_between(1, 1000), "a number from 1 to 1000")
            or 20,
            enforce_dry_run=bool(r.optional("ENFORCE_DRY_RUN", on_off, "true or false")),
        )
        if settings.audit_webhook_secret and not settings.audit_webhook_url:
            raise SettingsError("AUDIT_WEBHOOK_SECRET is set but AUDIT_WEBHOOK_URL is not: set both, or neither")
        organization = read_organization(r)
        if organization is not None:
            # With discovery, ACCOUNTS only adds accounts (or overrides discovered ones): no implicit default.
            settings = replace(
                settings,
                organization=organization,
                accounts=settings.accounts if env.get("ACCOUNTS", "").strip() else (),
            )
        settings = replace(settings, aws_region=region_for(settings.accounts, env))
        if settings.warn_key_age_days >= settings.max_key_age_days:
            raise SettingsError(
                "WARN_KEY_AGE_DAYS must be smaller than MAX_KEY_AGE_DAYS "
                f"(got {settings.warn_key_age_days} and {settings.max_key_age_days})"
            )
        if settings.rotation_stall_days <= settings.rotation_grace_days:
            raise SettingsError(
                "ROTATION_STALL_DAYS must be larger than ROTATION_GRACE_DAYS "
                f"(got {settings.rotation_stall_days} and {settings.rotation_grace_days})"
            )
        return settings
