"""An AWS JSON 1.1 endpoint on loopback (SSM, Secrets Manager) for what moto cannot do: refuse, fail and stall.

Point boto3 at it with `AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Errors are answered as AWS
does (status, `{"__type": code, "message": …}`); `FakeService.fail` sets them, `hang` stalls. Without a fault,
writes succeed and reads find nothing (ParameterNotFound, ResourceNotFoundException).
"""

from __future__ import annotations

from typing import Any

from tests.support.fake_http import Answer, FakeService


def aws_error(code: str, message: str = "") -> dict[str, str]:
    return {"__type": code, "message": message}


class FakeAwsJson(FakeService):
    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> Answer:
        target = headers.get("x-amz-target", "").split(".")[-1]
        if target == "PutParameter":
            return 200, {"Version": 1, "Tier": "Standard"}
        if target == "GetParameter":
            return 400, aws_error("ParameterNotFound")
        if target in ("CreateSecret", "PutSecretValue"):
            return 200, {"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "Name": "x"}
        if target == "GetSecretValue":
            return 400, aws_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        return 400, aws_error("InvalidAction", target)

    def fail_with(self, status: int, code: str, message: str = "", *, times: int = 1) -> None:
        self.fail(status, aws_error(code, message), times=times)
