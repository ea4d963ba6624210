"""Settings, read once from the environment (and `.env`) and validated at start."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from bot.domain.delivery import SECRET_PREFIX, SECRET_PREFIX_FORM
from bot.domain.operations import REQUEST_OPERATIONS

T = TypeVar("T")

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///keywarden.db"
DEFAULT_ACCOUNT = "default"

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ROLE_NAME = re.compile(r"^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_OU_OR_ROOT = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_COMMAND = re.compile(r"^/[a-z0-9_-]{1,31}$")


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it and the expected form."""


@dataclass(frozen=True)
class Account:
    alias: str
    role_arn: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Organization:
    """AWS Organizations discovery: every ACTIVE account reached through the same role name."""

    role_name: str
    management_role_arn: str | None = None
    external_id: str | None = None
    include_ous: frozenset[str] = frozenset()
    exclude_accounts: frozenset[str] = frozenset()


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

    @property
    def account_aliases(self) -> list[str]:
        return [a.alias for a in self.accounts]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, slack: bool = True) -> Settings:
        """Build settings from `env` (default: the process environment)."""
        env = dict(os.environ if env is None else env)
        r = _Reader(env)
        settings = cls(
            # Without Slack (`python -m bot scan` in a terminal) the tokens may be absent.
            slack_bot_token=(r.required if slack else r.optional)(
                "SLACK_BOT_TOKEN", _token("xoxb-"), "a bot token starting with xoxb-"
            )
            or "xoxb-unset",
            slack_signing_secret=(r.required if slack else r.optional)(
                "SLACK_SIGNING_SECRET", _nonblank, "the app's signing secret"
            )
            or "unset",
            slack_app_token=r.optional("SLACK_APP_TOKEN", _token("xapp-"), "an app-level token starting with xapp-"),
            slack_api_url=r.optional("SLACK_API_URL", _url, "an http(s) URL such as https://slack.com/api/")
            or DEFAULT_SLACK_API_URL,
            port=r.optional("PORT", _int_between(1, 65535), "a port number from 1 to 65535") or 3000,
            database_url=r.optional(
                "DATABASE_URL", _database_url, "a SQLAlchemy URL such as sqlite:///keywarden.db or postgresql://host/db"
            )
            or DEFAULT_DATABASE_URL,
            slash_command=r.optional("SLASH_COMMAND", _matching(_COMMAND), "a slash command such as /awskeys")
            or "/awskeys",
            approval_channel=r.optional("APPROVAL_CHANNEL", _channel_id, _CHANNEL_FORM),
            alert_channel=r.optional("ALERT_CHANNEL", _channel_id, _CHANNEL_FORM),
            approver_ids=r.optional(
                "APPROVER_IDS", _id_list, "comma-separated Slack user ids such as U012AB3CD,U045EF6GH"
            )
            or frozenset(),
            approver_group=r.optional(
                "APPROVER_GROUP", _matching(_SLACK_GROUP_ID), "a Slack user group id such as S0123ABCD"
            ),
            owner_tag=r.optional(
                "OWNER_TAG", _matching(re.compile(r"^[\w.:/=+@ -]{1,128}$")), "an IAM tag key such as owner"
            )
            or "owner",
            accounts=r.optional(
                "ACCOUNTS", _accounts, "comma-separated alias=arn:aws:iam::123456789012:role/name[|external-id]"
            )
            or (Account(DEFAULT_ACCOUNT),),
            max_key_age_days=r.optional("MAX_KEY_AGE_DAYS", _int_between(1, 3650), "a number of days from 1 to 3650")
            or 90,
            warn_key_age_days=r.optional("WARN_KEY_AGE_DAYS", _int_between(1, 3650), "a number of days from 1 to 3650")
            or 80,
            unused_days=r.optional("UNUSED_DAYS", _int_between(1, 3650), "a number of days from 1 to 3650") or 45,
            ownership_ttl_minutes=r.optional("OWNERSHIP_TTL_MINUTES", _int_between(1, 10080), "minutes from 1 to 10080")
            or 60,
            scheduler=r.optional("SCHEDULER", _on_off, "on or off") if env.get("SCHEDULER", "").strip() else True,
            log_level=r.optional("LOG_LEVEL", _log_level, "DEBUG, INFO, WARNING or ERROR") or "INFO",
            request_ttl_hours=r.optional("REQUEST_TTL_HOURS", _int_between(1, 720), "hours from 1 to 720") or 24,
            reveal_ttl_hours=r.optional("REVEAL_TTL_HOURS", _int_between(1, 720), "hours from 1 to 720") or 24,
            policy_file=env.get("POLICY_FILE", "").strip() or None,
            remind_approvers_hours=r.optional("REMIND_APPROVERS_HOURS", _int_between(1, 720), "hours from 1 to 720")
            or 4,
            escalate_after_hours=r.optional("ESCALATE_AFTER_HOURS", _int_between(1, 720), "hours from 1 to 720") or 12,
            approvals_required=r.optional(
                "APPROVALS_REQUIRED", _approvals, "operation=count pairs such as delete=2,create=1"
            )
            or {},
            secret_delivery=r.optional(
                "SECRET_DELIVERY", _matching(re.compile(r"^(reveal|secretsmanager)$")), "reveal or secretsmanager"
            )
            or "reveal",
            secret_prefix=r.optional("SECRET_PREFIX", _secret_prefix, SECRET_PREFIX_FORM) or "keywarden",
            rotation_grace_days=r.optional("ROTATION_GRACE_DAYS", _int_between(1, 90), "days from 1 to 90") or 7,
            rotation_stall_days=r.optional("ROTATION_STALL_DAYS", _int_between(1, 365), "days from 1 to 365") or 14,
            rotation_delete_days=r.optional("ROTATION_DELETE_DAYS", _int_between(1, 90), "days from 1 to 90") or 7,
        )
        settings = replace(
            settings,
            scan_cron=r.optional("SCAN_CRON", _cron, "a crontab line such as 0 9 * * * (minute hour day month weekday)")
            or "0 9 * * *",
            scan_timezone=r.optional("SCAN_TIMEZONE", _timezone, "a time zone name such as UTC or Europe/Berlin")
            or "UTC",
            remind_every_days=r.optional("REMIND_EVERY_DAYS", _int_between(1, 365), "days from 1 to 365") or 7,
            exempt=r.optional("EXEMPT", _exempt_list, "comma-separated key ids, users or account:user") or frozenset(),
            scan_concurrency=r.optional("SCAN_CONCURRENCY", _int_between(1, 64), "a number from 1 to 64") or 4,
            reconcile_after_minutes=r.optional(
                "RECONCILE_AFTER_MINUTES", _int_between(0, 1440), "minutes from 0 to 1440"
            )
            if env.get("RECONCILE_AFTER_MINUTES", "").strip()
            else 10,
            events_queue_url=r.optional(
                "EVENTS_QUEUE_URL",
                _queue_url,
                "an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/keywarden-events",
            ),
            slack_admin_token=r.optional(
                "SLACK_ADMIN_TOKEN", _token("xoxp-"), "a user token of a workspace admin, starting with xoxp-"
            ),
            log_format=r.optional("LOG_FORMAT", _matching(re.compile(r"^(text|json)$")), "text or json") or "text",
            metrics_port=r.optional("METRICS_PORT", _int_between(1, 65535), "a port number from 1 to 65535"),
        )
        settings = replace(
            settings,
            activity_regions=r.optional("ACTIVITY_REGIONS", _regions, "comma-separated AWS regions such as eu-west-1")
            or (),
            activity_max_events=r.optional("ACTIVITY_MAX_EVENTS", _int_between(50, 20000), "a number from 50 to 20000")
            or 1000,
            access_cache_hours=r.optional("ACCESS_CACHE_HOURS", _int_between(1, 48), "hours from 1 to 48") or 4,
            strict_policy_findings=_flag(r, env, "STRICT_POLICY_FINDINGS", False),
            require_extra_approval_for_admin=_flag(r, env, "REQUIRE_EXTRA_APPROVAL_FOR_ADMIN", True),
            audit_webhook_url=r.optional(
                "AUDIT_WEBHOOK_URL", _webhook_url, "an https:// URL (http:// only to 127.0.0.1, localhost or [::1])"
            ),
            audit_webhook_secret=r.optional("AUDIT_WEBHOOK_SECRET", _webhook_secret, "at least 16 characters"),
        )
        settings = replace(
            settings,
            enforce=r.optional("ENFORCE", _enforce, "kind=days pairs such as unused=60,age=120 (kinds: unused, age)")
            or {},
            enforce_max_per_scan=r.optional("ENFORCE_MAX_PER_SCAN", _int_between(1, 1000), "a number from 1 to 1000")
            or 20,
            enforce_dry_run=bool(r.optional("ENFORCE_DRY_RUN", _on_off, "true or false")),
        )
        if settings.audit_webhook_secret and not settings.audit_webhook_url:
            raise SettingsError("AUDIT_WEBHOOK_SECRET is set but AUDIT_WEBHOOK_URL is not: set both, or neither")
        organization = _organization(r)
        if organization is not None:
            # With discovery, ACCOUNTS only adds accounts (or overrides discovered ones): no implicit default.
            settings = replace(
                settings,
                organization=organization,
                accounts=settings.accounts if env.get("ACCOUNTS", "").strip() else (),
            )
        settings = replace(settings, aws_region=_region_for(settings.accounts, env))
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


def _organization(r: _Reader) -> Organization | None:
    role_name = r.optional("ORG_ROLE_NAME", _matching(_ROLE_NAME), "an IAM role name such as keywarden")
    others = ["ORG_MANAGEMENT_ROLE_ARN", "ORG_EXTERNAL_ID", "ORG_INCLUDE_OUS", "ORG_EXCLUDE_ACCOUNTS"]
    if role_name is None:
        given = [name for name in others if r.env.get(name, "").strip()]
        if given:
            raise SettingsError(f"{given[0]} is set but ORG_ROLE_NAME is not: set ORG_ROLE_NAME to turn discovery on")
        return None
    return Organization(
        role_name=role_name,
        management_role_arn=r.optional(
            "ORG_MANAGEMENT_ROLE_ARN", _matching(_ROLE_ARN), "a role ARN such as arn:aws:iam::123456789012:role/name"
        ),
        external_id=r.optional("ORG_EXTERNAL_ID", _matching(_EXTERNAL_ID), "2 to 1224 characters of [\\w+=,.@:/-]"),
        include_ous=r.optional(
            "ORG_INCLUDE_OUS", _pattern_list(_OU_OR_ROOT, "an OU id"), "comma-separated OU ids such as ou-ab12-cd34ef56"
        )
        or frozenset(),
        exclude_accounts=r.optional(
            "ORG_EXCLUDE_ACCOUNTS", _pattern_list(_ACCOUNT_ID, "a 12-digit account id"), "comma-separated account ids"
        )
        or frozenset(),
    )


def _enforce(value: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        kind, sep, days = part.partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in {"unused", "age"}:
            raise ValueError(f"{part!r} does not name a kind (unused, age)")
        if not days.strip().isdigit() or not 1 <= int(days) <= 3650:
            raise ValueError(f"{part!r} needs a number of days from 1 to 3650")
        if kind in result:
            raise ValueError(f"{kind!r} appears twice")
        result[kind] = int(days)
    return result


def _webhook_url(value: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ValueError("not a URL") from None
    if parts.scheme == "https" and host:
        return value
    if parts.scheme == "http" and host in {"127.0.0.1", "localhost", "::1"}:
        return value  # a relay on the same host (or a test receiver); anything further away needs TLS
    raise ValueError("the audit trail leaves the host only over https")


def _webhook_secret(value: str) -> str:
    if len(value) < 16:
        raise ValueError("too short")
    return value


def _pattern_list(pattern: re.Pattern[str], what: str) -> Callable[[str], frozenset[str]]:
    def parse(value: str) -> frozenset[str]:
        items = [p.strip() for p in value.split(",") if p.strip()]
        bad = [i for i in items if not pattern.match(i)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not {what}")
        return frozenset(items)

    return parse


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def required(self, name: str, parse: Callable[[str], T], form: str) -> T:
        value = self.env.get(name, "").strip()
        if not value:
            raise SettingsError(f"{name} is not set: expected {form}")
        return self._parse(name, value, parse, form)

    def optional(self, name: str, parse: Callable[[str], T], form: str) -> T | None:
        value = self.env.get(name, "").strip()
        if not value:
            return None
        return self._parse(name, value, parse, form)

    @staticmethod
    def _parse(name: str, value: str, parse: Callable[[str], T], form: str) -> T:
        try:
            return parse(value)
        except ValueError as e:
            detail = f" ({e})" if str(e) else ""
            raise SettingsError(f"{name} is malformed{detail}: expected {form}") from None


def _nonblank(value: str) -> str:
    return value


def _token(prefix: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not value.startswith(prefix) or len(value) <= len(prefix):
            raise ValueError("")
        return value

    return parse


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("")
    return value if value.endswith("/") else value + "/"


def _queue_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+/\d{12}/[\w-]{1,80}(\.fifo)?$", value):
        raise ValueError("")
    return value


def _database_url(value: str) -> str:
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        raise ValueError("only sqlite and postgresql are supported")
    if value.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver we ship.
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    return value


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not re.fullmatch(r"-?\d+", value):
            raise ValueError("")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"{number} is out of range")
        return number

    return parse


def _matching(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not pattern.match(value):
            raise ValueError("")
        return value

    return parse


_CHANNEL_FORM = "a channel id such as C0123ABCD (C… or G…; the channel's details in Slack show it)"


def _channel_id(value: str) -> str:
    """A channel id: files.completeUploadExternal and chat.update take ids, not names."""
    if _CHANNEL_ID.match(value):
        return value
    if value.startswith("#") or value == value.lower():
        raise ValueError(f"{value!r} looks like a channel name; Slack's API needs the channel's id")
    if value.startswith("D"):
        raise ValueError(f"{value!r} is a direct message, not a channel")
    raise ValueError(f"{value!r} is not a channel id")


def _secret_prefix(value: str) -> str:
    if len(value) > 200 or not SECRET_PREFIX.match(value):
        raise ValueError("")
    return value


def _id_list(value: str) -> frozenset[str]:
    ids = [part.strip() for part in value.split(",") if part.strip()]
    bad = [i for i in ids if not _SLACK_USER_ID.match(i)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a Slack user id")
    return frozenset(ids)


def _accounts(value: str) -> tuple[Account, ...]:
    accounts: list[Account] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        alias, sep, rest = part.partition("=")
        alias = alias.strip()
        if not sep or not _ALIAS.match(alias):
            raise ValueError(f"{part!r} has no valid alias")
        arn, _, external_id = rest.strip().partition("|")
        if not _ROLE_ARN.match(arn):
            raise ValueError(f"{arn!r} is not a role ARN")
        if alias in {a.alias for a in accounts}:
            raise ValueError(f"alias {alias!r} appears twice")
        accounts.append(Account(alias, arn, external_id or None))
    if not accounts:
        raise ValueError("no account given")
    return tuple(accounts)


# Regions of the partitions other than `aws` start with these; us-east-1 and friends exist only in `aws`.
_PARTITION_REGIONS = {"aws-us-gov": ("us-gov-", "us-gov-west-1"), "aws-cn": ("cn-", "cn-north-1")}
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def partition_of(arn: str) -> str:
    return arn.split(":", 2)[1]


def _region_partition(region: str) -> str:
    for partition, (prefix, _) in _PARTITION_REGIONS.items():
        if region.startswith(prefix):
            return partition
    return "aws"


def _region_for(accounts: tuple[Account, ...], env: Mapping[str, str]) -> str | None:
    """AWS_REGION (or boto3's AWS_DEFAULT_REGION), required and checked when ACCOUNTS lie outside partition `aws`."""
    name = "AWS_REGION" if env.get("AWS_REGION", "").strip() else "AWS_DEFAULT_REGION"
    region = env.get(name, "").strip() or None
    if region is not None and not _REGION.match(region):
        raise SettingsError(f"{name} is malformed: expected a region such as us-east-1 or us-gov-west-1")
    partitions = sorted({partition_of(a.role_arn) for a in accounts if a.role_arn})
    if len(partitions) > 1:
        raise SettingsError(
            f"ACCOUNTS is malformed (roles in partitions {' and '.join(partitions)}; one Keywarden serves one "
            "partition): expected role ARNs of one partition"
        )
    partition = partitions[0] if partitions else "aws"
    if partition == "aws":
        return region
    example = _PARTITION_REGIONS.get(partition, ("", "a region of that partition"))[1]
    if region is None:
        raise SettingsError(
            f"AWS_REGION is not set: the roles in ACCOUNTS are in partition {partition}, which needs a region of its "
            f"own such as {example}"
        )
    if partition in _PARTITION_REGIONS and _region_partition(region) != partition:
        raise SettingsError(
            f"{name} is malformed ({region} is not in partition {partition} of the roles in ACCOUNTS): "
            f"expected a region such as {example}"
        )
    return region


_OPERATIONS = frozenset(op.value for op in REQUEST_OPERATIONS)


def _approvals(value: str) -> dict[str, int]:
    result: dict[str, int] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        name, sep, count = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in _OPERATIONS:
            raise ValueError(f"{part!r} does not name an operation ({', '.join(sorted(_OPERATIONS))})")
        if not count.strip().isdigit() or not 1 <= int(count) <= 5:
            raise ValueError(f"{part!r} needs a count from 1 to 5")
        result[name] = int(count)
    return result


def _cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    CronTrigger.from_crontab(value)  # raises ValueError with what is wrong
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _exempt_list(value: str) -> frozenset[str]:
    items = [p.strip() for p in value.split(",") if p.strip()]
    bad = [i for i in items if not re.match(r"^([a-z0-9-]+:)?[\w+=,.@-]{1,64}$", i)]
    if bad:
        raise ValueError(f"{bad[0]!r} is neither a key id nor a user")
    return frozenset(items)


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def _regions(value: str) -> tuple[str, ...]:
    regions = [p.strip() for p in value.split(",") if p.strip()]
    bad = [r for r in regions if not _REGION.match(r)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not an AWS region name")
    return tuple(dict.fromkeys(regions))


def _flag(r: _Reader, env: Mapping[str, str], name: str, default: bool) -> bool:
    if not env.get(name, "").strip():
        return default
    return bool(r.optional(name, _on_off, "true or false"))


def _on_off(value: str) -> bool:
    lowered = value.lower()
    if lowered in {"on", "true", "1", "yes"}:
        return True
    if lowered in {"off", "false", "0", "no"}:
        return False
    raise ValueError("")


def _log_level(value: str) -> str:
    upper = value.upper()
    if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("")
    return upper
