"""Secrets Manager: a secret whose value is {"aws_access_key_id", "aws_secret_access_key"} as JSON."""

from __future__ import annotations

from bot.aws import AwsError, SecretStores
from bot.domain.locations import Credentials, LocationSpec
from bot.locations.aws_stores import aws_failure, description
from bot.locations.base import Place, as_json, from_json


class SecretsManagerSecret(Place):
    """`secretsmanager: ci/deployer` (optional `kms_key` for a secret it creates, `region`), in the user's account."""

    def __init__(self, spec: LocationSpec, stores: SecretStores, user: str) -> None:
        super().__init__(spec)
        self._stores = stores
        self._user = user

    def write(self, credentials: Credentials) -> None:
        try:
            self._stores.put_secret(self.spec.target, as_json(credentials), description(self._user), self.spec.kms_key)
        except AwsError as e:
            raise aws_failure(self.spec, e) from None

    def recover(self) -> Credentials | None:
        try:
            return from_json(self._stores.get_secret(self.spec.target))
        except AwsError as e:
            raise aws_failure(self.spec, e) from None
