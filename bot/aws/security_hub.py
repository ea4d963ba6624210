"""One account's Security Hub, in one region: import findings (BatchImportFindings) and resolve their workflow
(BatchUpdateFindings), at most 100 a call, errors translated.

Both calls go through the account's client (its assumed role), with botocore's standard retries: throttling
(`TooManyRequestsException`) is retried with backoff before an `AwsThrottled` reaches the caller. A finding Security
Hub refused is named in the answer (`FailedFindings`, `UnprocessedFindings`), not raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.aws.account import AccountClient
from bot.aws.errors import AwsError, translate

_NOT_ENABLED = {"InvalidAccessException"}


@dataclass(frozen=True)
class Refused:
    """A finding Security Hub did not take, and why."""

    finding_id: str
    reason: str


class SecurityHubClient:
    def __init__(self, account: AccountClient, region: str) -> None:
        self._account = account
        self.region = region

    def import_findings(self, findings: list[dict[str, Any]]) -> list[Refused]:
        """Create or update these findings (at most 100); the ones Security Hub refused."""
        hub = self._account.client("securityhub", self.region)
        try:
            reply = hub.batch_import_findings(Findings=findings)
        except (ClientError, BotoCoreError) as e:
            raise self._error(e) from None
        return [
            Refused(str(f.get("Id", "")), f"{f.get('ErrorCode', '')}: {f.get('ErrorMessage', '')}".strip(": "))
            for f in reply.get("FailedFindings", [])
        ]

    def resolve(self, product_arn: str, finding_ids: list[str], note: str) -> list[Refused]:
        """Set the workflow of these findings (at most 100) to RESOLVED, with a note saying why."""
        hub = self._account.client("securityhub", self.region)
        try:
            reply = hub.batch_update_findings(
                FindingIdentifiers=[{"Id": i, "ProductArn": product_arn} for i in finding_ids],
                Workflow={"Status": "RESOLVED"},
                Note={"Text": note, "UpdatedBy": "keywarden"},
            )
        except (ClientError, BotoCoreError) as e:
            raise self._error(e) from None
        return [
            Refused(str(f.get("FindingIdentifier", {}).get("Id", "")), f"{f.get('ErrorCode', '')}".strip())
            for f in reply.get("UnprocessedFindings", [])
        ]

    def _error(self, error: Exception) -> AwsError:
        if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in _NOT_ENABLED:
            return AwsError(
                f"Security Hub is not enabled for account `{self._account.alias}` in `{self.region}` "
                "(InvalidAccessException): enable it there, or set SECURITY_HUB_REGION to the region where it is."
            )
        return translate(error, self._account.alias, "securityhub", self.region)
