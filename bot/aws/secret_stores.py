"""SSM Parameter Store and Secrets Manager in one account: places a delivered key is kept (bot/locations).

Each call is sent once (no botocore retries): a delivery that fails is tried again later by the rotation, with its
own backoff, so a sick endpoint never holds a worker for the length of botocore's. Both writes are safe to repeat:
PutParameter with Overwrite sets the value, and botocore gives CreateSecret and PutSecretValue a ClientRequestToken.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.aws.account import AccountClient, Service
from bot.aws.errors import AwsError, translate

# What AWS checks on Keywarden's behalf when a parameter or secret is encrypted with a customer managed KMS key
# (the AWS managed keys aws/ssm and aws/secretsmanager need nothing more): the member policy grants these, on
# condition of kms:ViaService, and the IAM policy test counts them as called.
KMS_ON_BEHALF = {
    "kms:Encrypt": "ssm:PutParameter of a SecureString (standard tier) under a customer managed key",
    "kms:GenerateDataKey": "secretsmanager:CreateSecret and PutSecretValue (and advanced SSM parameters)",
    "kms:Decrypt": "ssm:GetParameter WithDecryption and secretsmanager:GetSecretValue, to read a key back",
}
_MISSING = {"ParameterNotFound", "ResourceNotFoundException"}


class SecretStores:
    """The two stores of one account, in one region (default: the account's)."""

    def __init__(self, account: AccountClient, region: str | None = None, timeout: float | None = None) -> None:
        self._account = account
        self._region = region
        self._timeout = timeout

    @property
    def region(self) -> str:
        return self._region or self._account.region

    def _call(self, service: Service, method: str, **kwargs: Any) -> Any:
        client = self._account.client(service, self._region, once=True, timeout=self._timeout)
        try:
            return getattr(client, method)(**kwargs)
        except (ClientError, BotoCoreError) as e:
            raise translate(e, self._account.alias, service, self._region) from None

    def _read(self, service: Service, method: str, **kwargs: Any) -> Any | None:
        """A read that answers None when the parameter or secret does not exist."""
        client = self._account.client(service, self._region, once=True, timeout=self._timeout)
        try:
            return getattr(client, method)(**kwargs)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise translate(e, self._account.alias, service, self._region) from None
        except BotoCoreError as e:
            raise translate(e, self._account.alias, service, self._region) from None

    # SSM Parameter Store
    def put_parameter(self, name: str, value: str, description: str, kms_key: str | None = None) -> None:
        """Create or overwrite a SecureString parameter."""
        extra = {"KeyId": kms_key} if kms_key else {}
        self._call(
            "ssm",
            "put_parameter",
            Name=name,
            Value=value,
            Type="SecureString",
            Overwrite=True,
            Description=description,
            **extra,
        )

    def get_parameter(self, name: str) -> str | None:
        """The parameter's decrypted value, None when there is none."""
        reply = self._read("ssm", "get_parameter", Name=name, WithDecryption=True)
        return None if reply is None else reply["Parameter"]["Value"]

    # Secrets Manager
    def put_secret(self, name: str, value: str, description: str, kms_key: str | None = None) -> str:
        """Create the secret, or store a new version of it; its ARN."""
        extra = {"KmsKeyId": kms_key} if kms_key else {}
        try:
            return self._call(
                "secretsmanager", "create_secret", Name=name, SecretString=value, Description=description, **extra
            )["ARN"]
        except AwsError as e:
            if "ResourceExistsException" not in e.message:
                raise
        return self._call("secretsmanager", "put_secret_value", SecretId=name, SecretString=value)["ARN"]

    def get_secret(self, name: str) -> str | None:
        """The secret's current value (AWSCURRENT), None when there is no such secret."""
        reply = self._read("secretsmanager", "get_secret_value", SecretId=name)
        return None if reply is None else reply.get("SecretString")
