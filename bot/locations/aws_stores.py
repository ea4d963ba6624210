"""What SSM and Secrets Manager places share: the JSON pair written and read back through one store call each, and
AWS failures as LocationErrors (the calls themselves are in bot/aws/secret_stores)."""

from __future__ import annotations

from bot.aws import AwsError, AwsNotFound, AwsPermissionDenied, AwsThrottled, AwsUnavailable, SecretStores
from bot.domain.locations import Credentials, LocationError, LocationSpec
from bot.locations.base import Place, as_json, detail, from_json

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


class AwsStorePlace(Place):
    """A place in one of the user's account's secret stores; a subclass names the store's write (`_put`) and read
    (`_get`) calls."""

    def __init__(self, spec: LocationSpec, stores: SecretStores, user: str) -> None:
        super().__init__(spec)
        self._stores = stores
        self._user = user

    def _put(self, name: str, value: str, description: str, kms_key: str | None) -> None:
        raise NotImplementedError

    def _get(self, name: str) -> str | None:
        raise NotImplementedError

    def write(self, credentials: Credentials) -> None:
        try:
            self._put(self.spec.target, as_json(credentials), description(self._user), self.spec.kms_key)
        except AwsError as e:
            raise aws_failure(self.spec, e) from None

    def recover(self) -> Credentials | None:
        try:
            return from_json(self._get(self.spec.target))
        except AwsError as e:
            raise aws_failure(self.spec, e) from None
