"""The AWS adapter: the only package that talks to boto3.

One session per account (an assumed role, refreshed by botocore before it expires), boto3's
standard retries, and every AWS error turned into an `AwsError` whose message a person can act on.
`errors` (the domain errors), `account` (one account's calls), `gateway` (sessions, accounts and
Organizations discovery), `organizations` (aliases of discovered accounts), `queue` (the events queue),
`secret_stores` (SSM Parameter Store and Secrets Manager, where delivered keys are kept).
"""

from bot.aws.account import AUTHORIZATION_FILTER, AccessReport, AccountClient, IamUser, NewKey
from bot.aws.errors import (
    AwsBadCredentials,
    AwsError,
    AwsLimitExceeded,
    AwsNotFound,
    AwsPermissionDenied,
    AwsRegionDisabled,
    AwsReportNotReady,
    AwsThrottled,
    AwsUnavailable,
    translate,
)
from bot.aws.gateway import ACCOUNTS_REFRESH, AwsGateway, SessionFactory
from bot.aws.organizations import AccountChanges, OrgAccount, org_aliases, slug
from bot.aws.queue import EventQueue, QueueMessage
from bot.aws.secret_stores import KMS_ON_BEHALF, SecretStores
from bot.aws.sessions import partition_of_region

__all__ = [
    "ACCOUNTS_REFRESH",
    "AUTHORIZATION_FILTER",
    "KMS_ON_BEHALF",
    "AccessReport",
    "AccountChanges",
    "AccountClient",
    "AwsBadCredentials",
    "AwsError",
    "AwsGateway",
    "AwsLimitExceeded",
    "AwsNotFound",
    "AwsPermissionDenied",
    "AwsRegionDisabled",
    "AwsReportNotReady",
    "AwsThrottled",
    "AwsUnavailable",
    "EventQueue",
    "IamUser",
    "NewKey",
    "OrgAccount",
    "QueueMessage",
    "SecretStores",
    "SessionFactory",
    "org_aliases",
    "partition_of_region",
    "slug",
    "translate",
]
