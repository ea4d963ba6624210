"""Settings, read once from the environment (and `.env`) and validated at start.

Each variable is a field: its type, its bounds, its default and, as its description, the form a person should write.
The parsers of single values are in `parsers`, reading the environment and the one-line message for what is wrong in
`reader`, and the AWS accounts (ACCOUNTS, the region their partition needs) in `accounts`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.domain.delivery import SECRET_PREFIX_FORM
from bot.domain.slack_ids import GROUP_ID
from bot.settings.accounts import (
    ACCOUNT_ID,
    EXTERNAL_ID,
    OU_OR_ROOT,
    ROLE_ARN,
    ROLE_NAME,
    Account,
    Organization,
    account_list,
    one_partition,
    region_for,
)
from bot.settings.parsers import (
    CHANNEL_FORM,
    REGION,
    approval_counts,
    base_url,
    channel_id,
    crontab,
    enforce_days,
    exempt_subjects,
    matching,
    on_off,
    pattern_list,
    private_key,
    queue_url,
    regions,
    secret_name_prefix,
    slack_user_ids,
    time_zone,
    token,
    webhook_secret,
    webhook_url,
    whole_number,
)
from bot.settings.parsers import database_url as sqlalchemy_url
from bot.settings.reader import Environment, SettingsError, describe

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///keywarden.db"
DEFAULT_ACCOUNT = "default"
DEFAULT_GITHUB_API_URL = "https://api.github.com/"
DEFAULT_GITLAB_URL = "https://gitlab.com/"
DIGITS = re.compile(r"^[0-9]{1,20}$")
IP_RANGES = re.compile(r"^(https://[^\s/]+/\S*|file:///\S+)$")
# Without Slack (`python -m bot scan` in a terminal) the tokens may be absent; Socket Mode needs no signing secret.
NO_SLACK = {"SLACK_BOT_TOKEN": "xoxb-unset", "SLACK_SIGNING_SECRET": "unset"}

Number = Annotated[int, BeforeValidator(whole_number)]
Flag = Annotated[bool, BeforeValidator(on_off)]
Channel = Annotated[str | None, BeforeValidator(channel_id)]
QueueUrl = Annotated[str | None, BeforeValidator(queue_url)]
_QUEUE_FORM = "an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/keywarden-events"
_DLQ_FORM = "an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/keywarden-events-dlq"
_ORG_OPTIONS = ("org_management_role_arn", "org_external_id", "org_include_ous", "org_exclude_accounts")


def _no_default_account_with_discovery(values: dict[str, object]) -> tuple[Account, ...]:
    """With Organizations discovery, ACCOUNTS only adds accounts (or overrides discovered ones)."""
    return () if values.get("org_role_name") else (Account(DEFAULT_ACCOUNT),)


class Settings(BaseSettings):
    """Every setting; build it with `Settings.from_env`. Its repr shows no secret (tokens are `SecretStr`)."""

    model_config = SettingsConfigDict(
        frozen=True,
        validate_default=False,  # the defaults below are values, not text to parse
        hide_input_in_errors=True,
        alias_generator=AliasGenerator(validation_alias=str.upper),  # field port reads variable PORT
    )

    slack_bot_token: Annotated[SecretStr, BeforeValidator(token("xoxb-"))] = Field(
        description="a bot token starting with xoxb-"
    )
    slack_signing_secret: SecretStr = Field(description="the app's signing secret")
    slack_app_token: Annotated[SecretStr | None, BeforeValidator(token("xapp-"))] = Field(
        None, description="an app-level token starting with xapp-"
    )
    slack_api_url: Annotated[str, BeforeValidator(base_url)] = Field(
        DEFAULT_SLACK_API_URL, description="an http(s) URL such as https://slack.com/api/"
    )
    port: Number = Field(3000, ge=1, le=65535, description="a port number from 1 to 65535")
    database_url: Annotated[str, BeforeValidator(sqlalchemy_url)] = Field(
        DEFAULT_DATABASE_URL,
        repr=False,  # it may hold a password
        description="a SQLAlchemy URL such as sqlite:///keywarden.db or postgresql://host/db",
    )
    slash_command: str = Field(
        "/awskeys", pattern=r"^/[a-z0-9_-]{1,31}$", description="a slash command such as /awskeys"
    )
    approval_channel: Channel = Field(None, description=CHANNEL_FORM)
    alert_channel: Channel = Field(None, description=CHANNEL_FORM)
    approver_ids: Annotated[frozenset[str], BeforeValidator(slack_user_ids)] = Field(
        frozenset(), description="comma-separated Slack user ids such as U012AB3CD,U045EF6GH"
    )
    approver_group: Annotated[str | None, BeforeValidator(matching(GROUP_ID))] = Field(
        None, description="a Slack user group id such as S0123ABCD"
    )
    owner_tag: str = Field("owner", pattern=r"^[\w.:/=+@ -]{1,128}$", description="an IAM tag key such as owner")
    # Organizations discovery is on when ORG_ROLE_NAME is set; the other ORG_* need it (see `organization`).
    org_role_name: Annotated[str | None, BeforeValidator(matching(ROLE_NAME))] = Field(
        None, description="an IAM role name such as keywarden"
    )
    org_management_role_arn: Annotated[str | None, BeforeValidator(matching(ROLE_ARN))] = Field(
        None, description="a role ARN such as arn:aws:iam::123456789012:role/name"
    )
    org_external_id: Annotated[str | None, BeforeValidator(matching(EXTERNAL_ID))] = Field(
        None, description="2 to 1224 characters of [\\w+=,.@:/-]"
    )
    org_include_ous: Annotated[frozenset[str], BeforeValidator(pattern_list(OU_OR_ROOT, "an OU id"))] = Field(
        frozenset(), description="comma-separated OU ids such as ou-ab12-cd34ef56"
    )
    org_exclude_accounts: Annotated[
        frozenset[str], BeforeValidator(pattern_list(ACCOUNT_ID, "a 12-digit account id"))
    ] = Field(frozenset(), description="comma-separated account ids")
    accounts: Annotated[tuple[Account, ...], BeforeValidator(account_list), AfterValidator(one_partition)] = Field(
        default_factory=_no_default_account_with_discovery,
        description="comma-separated alias=arn:aws:iam::123456789012:role/name[|external-id]",
    )
    aws_region: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),  # boto3's own, the fallback
        validate_default=True,  # the partition of ACCOUNTS may need one
        description="a region such as us-east-1 or us-gov-west-1",
    )
    max_key_age_days: Number = Field(90, ge=1, le=3650, description="a number of days from 1 to 3650")
    warn_key_age_days: Number = Field(80, ge=1, le=3650, description="a number of days from 1 to 3650")
    unused_days: Number = Field(45, ge=1, le=3650, description="a number of days from 1 to 3650")
    ownership_ttl_minutes: Number = Field(60, ge=1, le=10080, description="minutes from 1 to 10080")
    scheduler: Flag = Field(True, description="on or off")
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(str.upper)] = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR"
    )
    request_ttl_hours: Number = Field(24, ge=1, le=720, description="hours from 1 to 720")
    reveal_ttl_hours: Number = Field(24, ge=1, le=720, description="hours from 1 to 720")
    policy_file: str | None = Field(None, description="the path of a policy file")
    remind_approvers_hours: Number = Field(4, ge=1, le=720, description="hours from 1 to 720")
    escalate_after_hours: Number = Field(12, ge=1, le=720, description="hours from 1 to 720")
    approvals_required: Annotated[Mapping[str, int], BeforeValidator(approval_counts)] = Field(
        default_factory=dict, description="operation=count pairs such as delete=2,create=1"
    )
    secret_delivery: Literal["reveal", "secretsmanager"] = Field("reveal", description="reveal or secretsmanager")
    secret_prefix: Annotated[str, BeforeValidator(secret_name_prefix)] = Field(
        "keywarden", description=SECRET_PREFIX_FORM
    )
    rotation_grace_days: Number = Field(7, ge=1, le=90, description="days from 1 to 90")
    rotation_stall_days: Number = Field(14, ge=1, le=365, description="days from 1 to 365")
    rotation_delete_days: Number = Field(7, ge=1, le=90, description="days from 1 to 90")
    # Cut-over by use (delivered rotations, `retire`): the old key must have been quiet this long to be switched off.
    cutover_quiet_hours: Number = Field(24, ge=1, le=720, description="hours from 1 to 720")
    scan_cron: Annotated[str, BeforeValidator(crontab)] = Field(
        "0 9 * * *", description="a crontab line such as 0 9 * * * (minute hour day month weekday)"
    )
    scan_timezone: Annotated[str, BeforeValidator(time_zone)] = Field(
        "UTC", description="a time zone name such as UTC or Europe/Berlin"
    )
    remind_every_days: Number = Field(7, ge=1, le=365, description="days from 1 to 365")
    exempt: Annotated[frozenset[str], BeforeValidator(exempt_subjects)] = Field(
        frozenset(), description="comma-separated key ids, users or account:user"
    )
    scan_concurrency: Number = Field(4, ge=1, le=64, description="a number from 1 to 64")
    reconcile_after_minutes: Number = Field(10, ge=0, le=1440, description="minutes from 0 to 1440")
    events_queue_url: QueueUrl = Field(None, description=_QUEUE_FORM)
    # the events queue's dead-letter queue: its depth in /healthz and /metrics
    events_dlq_url: QueueUrl = Field(None, description=_DLQ_FORM)
    slack_admin_token: Annotated[SecretStr | None, BeforeValidator(token("xoxp-"))] = Field(
        None, description="a user token of a workspace admin, starting with xoxp-"
    )
    log_format: Literal["text", "json"] = Field("text", description="text or json")
    metrics_port: Annotated[int | None, BeforeValidator(whole_number)] = Field(
        None, ge=1, le=65535, description="a port number from 1 to 65535"
    )
    # how long start-up waits for Slack and AWS to answer at all
    startup_timeout_seconds: Number = Field(60, ge=0, le=3600, description="seconds from 0 to 3600")
    activity_regions: Annotated[tuple[str, ...], BeforeValidator(regions)] = Field(
        (), description="comma-separated AWS regions such as eu-west-1"
    )
    activity_max_events: Number = Field(1000, ge=50, le=20000, description="a number from 50 to 20000")
    access_cache_hours: Number = Field(4, ge=1, le=48, description="hours from 1 to 48")
    # Keys to roles: where AWS's address ranges are read, and the weekly sample's CloudTrail budget per account
    ip_ranges_url: Annotated[str, BeforeValidator(matching(IP_RANGES))] = Field(
        "https://ip-ranges.amazonaws.com/ip-ranges.json",
        description="an https:// URL, or file:///path of a local copy of ip-ranges.json",
    )
    workload_sample_lookups: Number = Field(300, ge=0, le=100000, description="a number from 0 (no sample) to 100000")
    strict_policy_findings: Flag = Field(False, description="true or false")
    require_extra_approval_for_admin: Flag = Field(True, description="true or false")
    audit_webhook_url: Annotated[str | None, BeforeValidator(webhook_url)] = Field(
        None, description="an https:// URL (http:// only to 127.0.0.1, localhost or [::1])"
    )
    audit_webhook_secret: Annotated[SecretStr | None, BeforeValidator(webhook_secret)] = Field(
        None,
        description="whsec_ and the base64 of 24 to 64 random bytes (until the next release, 16 characters or more)",
    )
    # Where security teams look: every finding to each account's own Security Hub after each scan
    security_hub: Flag = Field(False, description="on or off")
    security_hub_region: Annotated[str | None, BeforeValidator(matching(REGION))] = Field(
        None, description="a region such as eu-west-1 where Security Hub is enabled in every account"
    )
    # who may `list` / `check` another's IAM user: everyone, or owners
    list_visibility: Literal["everyone", "owners"] = Field("everyone", description="everyone or owners")
    enforce: Annotated[Mapping[str, int], BeforeValidator(enforce_days)] = Field(
        default_factory=dict, description="kind=days pairs such as unused=60,age=120 (kinds: unused, age)"
    )
    enforce_max_per_scan: Number = Field(20, ge=1, le=1000, description="a number from 1 to 1000")
    enforce_dry_run: Flag = Field(False, description="true or false")
    # Keys nobody touches (docs/locations.md): where machine users' keys are delivered, and how to reach those places
    locations_file: str | None = Field(None, description="the path of a locations file")
    github_api_url: Annotated[str, BeforeValidator(base_url)] = Field(
        DEFAULT_GITHUB_API_URL,
        description="an http(s) URL such as https://api.github.com or https://ghe.example.com/api/v3",
    )
    github_token: SecretStr | None = Field(None, description="a GitHub token with the secrets permission")
    github_app_id: Annotated[str | None, BeforeValidator(matching(DIGITS))] = Field(
        None, description="a GitHub App id (digits)"
    )
    github_app_private_key: Annotated[SecretStr | None, BeforeValidator(private_key)] = Field(
        None, description="the GitHub App's private key (PEM), or its file in GITHUB_APP_PRIVATE_KEY_FILE"
    )
    github_app_installation_id: Annotated[str | None, BeforeValidator(matching(DIGITS))] = Field(
        None, description="a GitHub App installation id (digits)"
    )
    gitlab_url: Annotated[str, BeforeValidator(base_url)] = Field(
        DEFAULT_GITLAB_URL, description="an http(s) URL such as https://gitlab.com"
    )
    gitlab_token: SecretStr | None = Field(None, description="a GitLab access token with the api scope")
    kubeconfig: str | None = Field(None, description="the path of a kubeconfig file")
    vault_addr: Annotated[str | None, BeforeValidator(base_url)] = Field(
        None, description="an http(s) URL such as https://vault.example.com:8200"
    )
    vault_token: SecretStr | None = Field(None, description="a Vault token")
    # where the work after an ack runs: the web process that acked it, or `worker` processes
    work_in: Literal["web", "worker"] = Field("web", description="web or worker")
    # after this long without its process renewing, an item is taken over
    work_lease_seconds: Number = Field(10, ge=1, le=300, description="seconds from 1 to 300")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, slack: bool = True) -> Settings:
        """Settings from `env` (default: the process environment); secrets may come from `<NAME>_FILE`."""
        values = Environment(cls, os.environ if env is None else env)()
        if not slack:
            values = NO_SLACK | values
        elif "SLACK_APP_TOKEN" in values:  # Socket Mode receives no signed HTTP requests
            values = {"SLACK_SIGNING_SECRET": NO_SLACK["SLACK_SIGNING_SECRET"]} | values
        try:
            return cls(**values)
        except ValidationError as e:
            raise describe(e, cls) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what `from_env` read through `reader.Environment` (from the process or a test's mapping): a test's
        # settings never pick up the variables of the process running it.
        return (init_settings,)

    @field_validator("aws_region")
    @classmethod
    def _region_of_the_accounts(cls, region: str | None, info: ValidationInfo) -> str | None:
        return region_for(region, info.data.get("accounts", ()))

    @model_validator(mode="after")
    def _variables_agree(self) -> Settings:
        if self.audit_webhook_secret and not self.audit_webhook_url:
            raise SettingsError("AUDIT_WEBHOOK_SECRET is set but AUDIT_WEBHOOK_URL is not: set both, or neither")
        given = [name.upper() for name in _ORG_OPTIONS if name in self.model_fields_set]
        if given and self.org_role_name is None:
            raise SettingsError(f"{given[0]} is set but ORG_ROLE_NAME is not: set ORG_ROLE_NAME to turn discovery on")
        if self.github_app_id and not self.github_app_private_key:
            raise SettingsError("GITHUB_APP_ID is set but GITHUB_APP_PRIVATE_KEY is not: set both, or neither")
        if self.github_app_private_key and not self.github_app_id:
            raise SettingsError("GITHUB_APP_PRIVATE_KEY is set but GITHUB_APP_ID is not: set both, or neither")
        if self.github_app_id and self.github_token:
            raise SettingsError("GITHUB_TOKEN and GITHUB_APP_ID are both set: set one of them")
        if self.warn_key_age_days >= self.max_key_age_days:
            raise SettingsError(
                "WARN_KEY_AGE_DAYS must be smaller than MAX_KEY_AGE_DAYS "
                f"(got {self.warn_key_age_days} and {self.max_key_age_days})"
            )
        if self.rotation_stall_days <= self.rotation_grace_days:
            raise SettingsError(
                "ROTATION_STALL_DAYS must be larger than ROTATION_GRACE_DAYS "
                f"(got {self.rotation_stall_days} and {self.rotation_grace_days})"
            )
        return self

    @property
    def organization(self) -> Organization | None:
        """AWS Organizations discovery (ORG_ROLE_NAME and the other ORG_*), None when off."""
        if self.org_role_name is None:
            return None
        return Organization(
            self.org_role_name,
            self.org_management_role_arn,
            self.org_external_id,
            self.org_include_ous,
            self.org_exclude_accounts,
        )

    @property
    def account_aliases(self) -> list[str]:
        return [a.alias for a in self.accounts]

    @property
    def stored_secret_prefix(self) -> str | None:
        """Where new keys go with SECRET_DELIVERY=secretsmanager (nobody reveals them then); None: revealed."""
        return self.secret_prefix if self.secret_delivery == "secretsmanager" else None


__all__ = ["Account", "Organization", "Settings", "SettingsError"]
