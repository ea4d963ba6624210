"""SSM Parameter Store: a SecureString parameter holding {"aws_access_key_id", "aws_secret_access_key"} as JSON."""

from __future__ import annotations

from bot.locations.aws_stores import AwsStorePlace


class SsmParameter(AwsStorePlace):
    """`ssm: /ci/deployer/aws` (optional `kms_key`, `region`), in the user's account."""

    def _put(self, name: str, value: str, description: str, kms_key: str | None) -> None:
        self._stores.put_parameter(name, value, description, kms_key)

    def _get(self, name: str) -> str | None:
        return self._stores.get_parameter(name)
