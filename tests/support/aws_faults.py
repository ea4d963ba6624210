"""AWS answers injected into a boto3 client (before-call handlers), for tests of what the bot does with them."""

from __future__ import annotations

from collections.abc import Callable

from botocore.awsrequest import AWSResponse


def aws_error(code: str, status: int) -> Callable[..., object]:
    """A before-call handler that answers with this AWS error code and HTTP status."""

    def answer(**_: object) -> tuple[AWSResponse, dict]:
        return AWSResponse("https://iam.amazonaws.com/", status, {}, None), {
            "Error": {"Code": code, "Message": f"{code} (injected)"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    return answer
