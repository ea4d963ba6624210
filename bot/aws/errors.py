"""AWS failures as domain errors whose message a person can act on."""

from __future__ import annotations

import logging

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from bot.domain.keys import NotFound

log = logging.getLogger(__name__)


class AwsError(Exception):
    """An AWS failure in words a person can act on.

    Its message is for whoever runs Keywarden (which permission, which policy file, AWS's own text), unless
    `for_people`: then it was written for whoever asked (a command's answer), and Slack shows it as it is."""

    code = "Error"
    written_for_people = False  # a subclass whose every message is a person's

    def __init__(self, message: str, *, permission: str | None = None, for_people: bool = False) -> None:
        super().__init__(message)
        self.message = message  # for whoever runs Keywarden: the log, start-up checks, the CLI
        self.permission = permission
        self.for_people = for_people or self.written_for_people
        self.account: str | None = None  # the configured account it happened in, when known
        self.done_first = ""  # what a workflow had already done when this call failed (people's words), if anything


class AwsPermissionDenied(AwsError):
    code = "AccessDenied"


class AwsBadCredentials(AwsPermissionDenied):
    """AWS refused the credentials themselves (invalid, expired, another partition's): no permission is missing."""

    code = "InvalidCredentials"


class AwsNotFound(AwsError, NotFound):
    code = "NoSuchEntity"


class AwsLimitExceeded(AwsError):
    code = "LimitExceeded"


class AwsThrottled(AwsError):
    code = "Throttling"


class AwsUnavailable(AwsError):
    code = "Unavailable"


class AwsReportNotReady(AwsError):
    code = "ReportNotReady"


class AwsRegionDisabled(AwsError):
    code = "RegionDisabled"


_THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
# (UnrecognizedClientException is left to _OPT_IN_REGION: it is what a region not enabled for the account answers.)
_BAD_CREDENTIALS = {"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"}
_NOT_FOUND = {"NoSuchEntity", "ResourceNotFoundException"}
_OPT_IN_REGION = {"UnrecognizedClientException", "OptInRequired"}
_REPORT_NOT_READY = {"ReportNotPresent", "ReportExpired", "ReportInProgress"}


def translate(error: Exception, account: str, service: str, region: str | None = None) -> AwsError:
    """Map a botocore exception to a domain error naming the action and what to do."""
    translated = _translate(error, account, service, region)
    translated.account = account
    return translated


def _translate(error: Exception, account: str, service: str, region: str | None) -> AwsError:
    if region:
        account = f"{account}` (region `{region}"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        action = f"{service}:{error.operation_name}"
        if code in _BAD_CREDENTIALS:
            state = "expired" if code.startswith("Expired") else "invalid"
            return AwsBadCredentials(
                f"AWS rejected the credentials Keywarden uses for account `{account}` as {state} ({code} on "
                f"`{action}`); no permission is missing. Renew them or fix where they come from (role, profile, "
                "environment). Credentials of GovCloud or China also need AWS_REGION set to a region of their "
                "partition."
            )
        if code in _DENIED and action == "sts:AssumeRole":
            return AwsPermissionDenied(
                f"AWS refused to let Keywarden assume the role of account `{account}`: Keywarden's own identity needs "
                "`sts:AssumeRole` on that role (docs/iam/hub-policy.json), and the role's trust policy must trust that "
                "identity with the configured external id (docs/iam/member-trust-policy.json).",
                permission=action,
            )
        if code in _DENIED:
            return AwsPermissionDenied(
                f"AWS denied `{action}` in account `{account}`: Keywarden's role needs the "
                f"`{action}` permission (see docs/iam/member-policy.json).",
                permission=action,
            )
        if code in _OPT_IN_REGION:
            return AwsRegionDisabled(
                f"Account `{account}` cannot use this region (it is not enabled for the account, "
                f"or for Keywarden's credentials): {message or code}"
            )
        if code in _NOT_FOUND:
            return AwsNotFound(f"Not found in account `{account}`: {message}")
        if code == "LimitExceeded":
            return AwsLimitExceeded(f"AWS limit reached in account `{account}`: {message}")
        if code in _THROTTLING:
            return AwsThrottled(
                f"AWS is throttling `{action}` in account `{account}` even after retries: try again in a few minutes."
            )
        if code in _REPORT_NOT_READY:
            return AwsReportNotReady(f"{code}: {message}")
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            # A server error after the call reached AWS: whether it took effect is unknown.
            return AwsUnavailable(f"AWS answered {code or 'a server error'} on `{action}` in account `{account}`.")
        return AwsError(f"AWS error {code} on `{action}` in account `{account}`: {message}")
    if isinstance(error, NoCredentialsError):
        return AwsBadCredentials(
            f"No AWS credentials for account `{account}`: set them as boto3 expects (environment, profile or role)."
        )
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, ReadTimeoutError)):
        return AwsUnavailable(f"Could not reach AWS for account `{account}` ({type(error).__name__}).")
    return AwsError(f"AWS call failed in account `{account}`: {error}")
