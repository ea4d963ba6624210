import pytest

from bot.settings import DEFAULT_DATABASE_URL, Settings
from bot.settings.accounts import Account
from bot.settings.reader import SettingsError

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}


def test_defaults() -> None:
    s = Settings.from_env(BASE)
    assert s.port == 3000
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.slash_command == "/awskeys"
    assert s.owner_tag == "owner"
    assert s.accounts == (Account("default"),)
    assert (s.max_key_age_days, s.warn_key_age_days, s.unused_days) == (90, 80, 45)
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.scheduler is True


def test_full_configuration() -> None:
    s = Settings.from_env(
        BASE
        | {
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_API_URL": "http://127.0.0.1:9999/api",
            "PORT": "8080",
            "DATABASE_URL": "postgresql://db/keywarden",
            "APPROVER_IDS": "U012AB3CD, W045EF6GH",
            "APPROVER_GROUP": "S0123ABCD",
            "ACCOUNTS": "prod=arn:aws:iam::111111111111:role/kw|ext-1,dev=arn:aws:iam::222222222222:role/kw",
            "SCHEDULER": "off",
        }
    )
    assert s.slack_api_url == "http://127.0.0.1:9999/api/"
    assert s.database_url == "postgresql+psycopg://db/keywarden"
    assert s.approver_ids == frozenset({"U012AB3CD", "W045EF6GH"})
    assert s.accounts[0] == Account("prod", "arn:aws:iam::111111111111:role/kw", "ext-1")
    assert s.account_aliases == ["prod", "dev"]
    assert s.scheduler is False


def test_list_visibility() -> None:
    assert Settings.from_env(BASE).list_visibility == "everyone"
    assert Settings.from_env(BASE | {"LIST_VISIBILITY": "owners"}).list_visibility == "owners"


def test_events_queue_and_admin_token() -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/keywarden-events"
    settings = Settings.from_env(BASE | {"EVENTS_QUEUE_URL": url, "SLACK_ADMIN_TOKEN": "xoxp-1-admin"})
    assert settings.slack_admin_token is not None
    assert (settings.events_queue_url, settings.slack_admin_token.get_secret_value()) == (url, "xoxp-1-admin")
    assert Settings.from_env(BASE).events_queue_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN is malformed"),
        ({"SLACK_SIGNING_SECRET": " "}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_APP_TOKEN": "xoxb-no"}, "SLACK_APP_TOKEN is malformed"),
        ({"PORT": "eighty"}, "PORT is malformed"),
        ({"PORT": "70000"}, "PORT is malformed (70000 is out of range)"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL is malformed"),
        ({"SLASH_COMMAND": "awskeys"}, "SLASH_COMMAND is malformed"),
        ({"APPROVER_IDS": "U012AB3CD,alice"}, "APPROVER_IDS is malformed ('alice' is not a Slack user id)"),
        ({"ACCOUNTS": "prod"}, "ACCOUNTS is malformed"),
        ({"ACCOUNTS": "prod=arn:aws:iam::1:role/x"}, "is not a role ARN"),
        ({"SLACK_API_URL": "slack.com"}, "SLACK_API_URL is malformed"),
        ({"MAX_KEY_AGE_DAYS": "-1"}, "MAX_KEY_AGE_DAYS is malformed"),
        ({"WARN_KEY_AGE_DAYS": "95"}, "WARN_KEY_AGE_DAYS must be smaller than MAX_KEY_AGE_DAYS"),
        ({"SCHEDULER": "maybe"}, "SCHEDULER is malformed: expected on or off"),
        ({"ALERT_CHANNEL": "#alerts"}, "ALERT_CHANNEL is malformed ('#alerts' looks like a channel name"),
        ({"APPROVAL_CHANNEL": "key-approvals"}, "APPROVAL_CHANNEL is malformed ('key-approvals' looks like a channel"),
        ({"APPROVAL_CHANNEL": "D0123ABCD"}, "APPROVAL_CHANNEL is malformed ('D0123ABCD' is a direct message"),
        ({"EVENTS_QUEUE_URL": "keywarden-events"}, "EVENTS_QUEUE_URL is malformed: expected an SQS queue URL"),
        ({"EVENTS_DLQ_URL": "keywarden-events-dlq"}, "EVENTS_DLQ_URL is malformed: expected an SQS queue URL"),
        ({"SLACK_ADMIN_TOKEN": "xoxb-bot"}, "SLACK_ADMIN_TOKEN is malformed: expected a user token"),
        ({"LIST_VISIBILITY": "admins"}, "LIST_VISIBILITY is malformed: expected everyone or owners"),
    ],
)
def test_bad_variables_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(BASE | env)
    assert named in str(error.value)
    assert "expected" in str(error.value) or "must" in str(error.value)


def test_channels_are_ids() -> None:
    s = Settings.from_env(BASE | {"APPROVAL_CHANNEL": "C0123ABCD", "ALERT_CHANNEL": "G0456EFGH"})
    assert (s.approval_channel, s.alert_channel) == ("C0123ABCD", "G0456EFGH")
    with pytest.raises(SettingsError) as error:
        Settings.from_env(BASE | {"ALERT_CHANNEL": "alerts"})
    assert str(error.value) == (
        "ALERT_CHANNEL is malformed ('alerts' looks like a channel name; Slack's API needs the channel's id): "
        "expected a channel id such as C0123ABCD (C… or G…; the channel's details in Slack show it)"
    )


GOV = "gov=arn:aws-us-gov:iam::111111111111:role/keywarden|ext"
CN = "cn=arn:aws-cn:iam::222222222222:role/keywarden"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ACCOUNTS": GOV}, "AWS_REGION is not set: the roles in ACCOUNTS are in partition aws-us-gov"),
        ({"ACCOUNTS": CN}, "AWS_REGION is not set: the roles in ACCOUNTS are in partition aws-cn"),
        (
            {"ACCOUNTS": GOV, "AWS_REGION": "us-east-1"},
            "AWS_REGION is malformed (us-east-1 is not in partition aws-us-gov",
        ),
        ({"ACCOUNTS": CN, "AWS_DEFAULT_REGION": "us-gov-west-1"}, "AWS_DEFAULT_REGION is malformed (us-gov-west-1"),
        (
            {"ACCOUNTS": f"{GOV},{CN}", "AWS_REGION": "cn-north-1"},
            "ACCOUNTS is malformed (roles in partitions aws-cn and aws-us-gov",
        ),
        ({"AWS_REGION": "everywhere"}, "AWS_REGION is malformed: expected a region such as us-east-1"),
    ],
)
def test_accounts_outside_partition_aws_need_a_region_of_their_partition(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(BASE | env)
    assert named in str(error.value)


def test_region_of_the_accounts_partition_is_kept() -> None:
    assert Settings.from_env(BASE | {"ACCOUNTS": GOV, "AWS_REGION": "us-gov-west-1"}).aws_region == "us-gov-west-1"
    assert (
        Settings.from_env(BASE | {"ACCOUNTS": CN, "AWS_DEFAULT_REGION": "cn-northwest-1"}).aws_region
        == "cn-northwest-1"
    )
    # AWS_REGION wins over boto3's AWS_DEFAULT_REGION; in partition aws no region is needed
    assert (
        Settings.from_env(BASE | {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}).aws_region
        == "eu-west-1"
    )
    assert Settings.from_env(BASE).aws_region is None


def test_log_format_and_metrics_port() -> None:
    s = Settings.from_env(BASE | {"LOG_FORMAT": "json", "METRICS_PORT": "9100"})
    assert (s.log_format, s.metrics_port) == ("json", 9100)
    assert (Settings.from_env(BASE).log_format, Settings.from_env(BASE).metrics_port) == ("text", None)
    with pytest.raises(SettingsError, match="LOG_FORMAT is malformed: expected text or json"):
        Settings.from_env(BASE | {"LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="METRICS_PORT is malformed"):
        Settings.from_env(BASE | {"METRICS_PORT": "0"})


def test_organization_discovery_settings() -> None:
    s = Settings.from_env(
        BASE
        | {
            "ORG_ROLE_NAME": "keywarden",
            "ORG_MANAGEMENT_ROLE_ARN": "arn:aws-us-gov:iam::111111111111:role/org-reader",
            "ORG_EXTERNAL_ID": "ext-42",
            "ORG_INCLUDE_OUS": "ou-ab12-cd34ef56, r-ab12",
            "ORG_EXCLUDE_ACCOUNTS": "222222222222",
        }
    )
    assert s.organization is not None
    assert s.organization.role_name == "keywarden"
    assert s.organization.include_ous == frozenset({"ou-ab12-cd34ef56", "r-ab12"})
    assert s.organization.exclude_accounts == frozenset({"222222222222"})
    assert s.accounts == ()  # no implicit "default" account beside the organisation
    with_accounts = Settings.from_env(
        BASE | {"ORG_ROLE_NAME": "keywarden", "ACCOUNTS": "hub=arn:aws:iam::111111111111:role/kw"}
    )
    assert with_accounts.account_aliases == ["hub"]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ORG_ROLE_NAME": "key warden"}, "ORG_ROLE_NAME is malformed"),
        ({"ORG_ROLE_NAME": "kw", "ORG_INCLUDE_OUS": "Workloads"}, "ORG_INCLUDE_OUS is malformed ('Workloads' is not"),
        ({"ORG_ROLE_NAME": "kw", "ORG_EXCLUDE_ACCOUNTS": "12345"}, "ORG_EXCLUDE_ACCOUNTS is malformed"),
        ({"ORG_ROLE_NAME": "kw", "ORG_MANAGEMENT_ROLE_ARN": "org-reader"}, "ORG_MANAGEMENT_ROLE_ARN is malformed"),
        ({"ORG_INCLUDE_OUS": "ou-ab12-cd34ef56"}, "ORG_INCLUDE_OUS is set but ORG_ROLE_NAME is not"),
    ],
)
def test_bad_organization_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(BASE | env)
    assert named in str(error.value)


def test_audit_webhook_settings() -> None:
    s = Settings.from_env(
        BASE | {"AUDIT_WEBHOOK_URL": "https://siem.example.com/in", "AUDIT_WEBHOOK_SECRET": "0123456789abcdef"}
    )
    assert s.audit_webhook_secret is not None
    assert (
        s.audit_webhook_url == "https://siem.example.com/in"
        and s.audit_webhook_secret.get_secret_value() == "0123456789abcdef"
    )
    assert Settings.from_env(BASE | {"AUDIT_WEBHOOK_URL": "http://127.0.0.1:8080/x"}).audit_webhook_url
    assert Settings.from_env(BASE).audit_webhook_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AUDIT_WEBHOOK_URL": "http://siem.example.com/in"}, "AUDIT_WEBHOOK_URL is malformed (the audit trail"),
        ({"AUDIT_WEBHOOK_URL": "siem.example.com"}, "AUDIT_WEBHOOK_URL is malformed"),
        ({"AUDIT_WEBHOOK_URL": "https://x.example/", "AUDIT_WEBHOOK_SECRET": "short"}, "AUDIT_WEBHOOK_SECRET is"),
        ({"AUDIT_WEBHOOK_SECRET": "0123456789abcdef"}, "AUDIT_WEBHOOK_SECRET is set but AUDIT_WEBHOOK_URL is not"),
    ],
)
def test_bad_audit_webhook_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(BASE | env)
    assert named in str(error.value)


def test_enforcement_settings() -> None:
    s = Settings.from_env(
        BASE | {"ENFORCE": "unused=60, age=120", "ENFORCE_MAX_PER_SCAN": "5", "ENFORCE_DRY_RUN": "true"}
    )
    assert s.enforce == {"unused": 60, "age": 120} and s.enforce_max_per_scan == 5 and s.enforce_dry_run is True
    default = Settings.from_env(BASE)
    assert default.enforce == {} and default.enforce_max_per_scan == 20 and default.enforce_dry_run is False


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("unused", "ENFORCE is malformed ('unused' does not name a kind"),
        ("stale=30", "ENFORCE is malformed ('stale=30' does not name a kind"),
        ("age=0", "ENFORCE is malformed ('age=0' needs a number of days"),
        ("age=30,age=40", "ENFORCE is malformed ('age' appears twice)"),
    ],
)
def test_bad_enforce_is_named(value: str, named: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(BASE | {"ENFORCE": value})
    assert named in str(error.value) and "expected kind=days pairs" in str(error.value)


def test_the_repr_shows_no_secret(tmp_path) -> None:
    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-bot-token-value",
        "SLACK_SIGNING_SECRET": "signing-secret-value",
        "SLACK_APP_TOKEN": "xapp-app-token-value",
        "SLACK_ADMIN_TOKEN": "xoxp-admin-token-value",
        "AUDIT_WEBHOOK_SECRET": "webhook-secret-value",
        "DATABASE_URL": "postgresql://kw:database-password@db/kw",
    }
    (tmp_path / "admin").write_text(secrets["SLACK_ADMIN_TOKEN"] + "\n")
    env = {name: value for name, value in secrets.items() if name != "SLACK_ADMIN_TOKEN"}
    env |= {"SLACK_ADMIN_TOKEN_FILE": str(tmp_path / "admin"), "AUDIT_WEBHOOK_URL": "https://siem.example.com/in"}
    s = Settings.from_env(env)
    shown = repr(s) + str(s)
    for value in [*secrets.values(), "database-password"]:
        assert value not in shown
    assert s.slack_bot_token.get_secret_value() == "xoxb-bot-token-value"  # the value itself is kept


def test_a_zero_is_a_zero_not_the_default() -> None:
    zeros = {"RECONCILE_AFTER_MINUTES": 0, "STARTUP_TIMEOUT_SECONDS": 0, "WORKLOAD_SAMPLE_LOOKUPS": 0}
    offs = [
        "SCHEDULER",
        "STRICT_POLICY_FINDINGS",
        "REQUIRE_EXTRA_APPROVAL_FOR_ADMIN",
        "ENFORCE_DRY_RUN",
        "SECURITY_HUB",
    ]
    s = Settings.from_env(BASE | dict.fromkeys([*zeros, *offs], "0"))
    assert {name: getattr(s, name.lower()) for name in zeros} == zeros
    assert [getattr(s, name.lower()) for name in offs] == [False] * len(offs)
    # every number that may be 0, and every flag, is in the lists above
    admits_zero = {
        name.upper()
        for name, field in Settings.model_fields.items()
        if field.annotation is bool or any(getattr(m, "ge", None) == 0 for m in field.metadata)
    }
    assert admits_zero == {*zeros, *offs}
