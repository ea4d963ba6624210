"""AWS failures of SSM and Secrets Manager as LocationErrors (the calls themselves are in bot/aws/secret_stores)."""

from __future__ import annotations

from bot.aws import AwsError, AwsNotFound, AwsPermissionDenied, AwsThrottled, AwsUnavailable
from bot.domain.locations import LocationError, LocationSpec
from bot.locations.base import detail

KMS_HINT = (
    "With kms_key, Keywarden's role also needs kms:Encrypt, kms:GenerateDataKey and kms:Decrypt on that key "
    "through the service (docs/locations.md)"
)


def aws_failure(spec: LocationSpec, error: AwsError) -> LocationError:
    transient = isinstance(error, (AwsThrottled, AwsUnavailable))
    reason = detail(error.message)
    if spec.kms_key and isinstance(error, (AwsPermissionDenied, AwsNotFound)):
        reason += f" {KMS_HINT}."
    if transient:
        reason += " It is tried again later."
    return LocationError(spec.describe(), reason, transient=transient)


def description(user: str) -> str:
    return f"Access key of IAM user {user}, delivered by Keywarden"
