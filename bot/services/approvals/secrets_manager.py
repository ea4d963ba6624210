"""Secrets Manager delivery: an approved key is created at once and stored in AWS Secrets Manager, never shown
in Slack; the requester's DM names the secret and how to fetch it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.aws import AwsError, AwsGateway, AwsPermissionDenied, AwsUnavailable, partition_of_region
from bot.clock import Clock
from bot.domain.delivery import SecretLocation, arn_account_id, policy_resource, secret_name
from bot.domain.outcomes import Reveal, RevealRefusal, StoredNotShown
from bot.domain.requests import MAKES_KEY, Request, Status
from bot.services.approvals.delivery import create_key, hand_back_interrupted, requester_of, start_rotation
from bot.services.approvals.execution import aws_failure, fail
from bot.services.approvals.slack_sync import RequestSync
from bot.services.rotations import RotationService
from bot.services.trouble import logged
from bot.slack.messages.common import SEVERAL_ACCOUNTS, AccountNames, Message
from bot.slack.messages.requests import build_requester_dm
from bot.slack.messages.trouble import secret_not_stored
from bot.store.audit import SYSTEM
from bot.store.requests import RequestStore

log = logging.getLogger(__name__)


@dataclass(kw_only=True, eq=False)
class SecretsManagerDelivery:
    """SECRET_DELIVERY=secretsmanager: the secret goes to `<SECRET_PREFIX>/<account>/<user>`, never to Slack."""

    unattended = True

    secret_prefix: str
    clock: Clock
    store: RequestStore
    aws: AwsGateway
    sync: RequestSync
    rotations: RotationService  # a delivered rotation hands its new key over to it

    def hand_over(self, request: Request) -> None:
        """Create the key and store it as the user's secret; the approved -> executing claim lets one caller in."""
        claimed = self.store.transition(
            request.id, Status.APPROVED, Status.EXECUTING, actor=SYSTEM, action="executing", claimed_at=self.clock()
        )
        if claimed is None:
            return
        client = self.aws.account(claimed.account)
        name = secret_name(self.secret_prefix, claimed.account, claimed.iam_user)
        location: SecretLocation | None = None
        try:
            key, first = create_key(client, claimed)
        except AwsUnavailable as e:
            # Whether the key exists is unknown: housekeeping settles it from AWS and delivers again.
            log.warning("%s: left for reconciliation after %s", request.id, e.message)
            return
        except AwsError as e:
            final = fail(self.store, claimed, *aws_failure(claimed, e, self.sync.names))
        else:
            payload = json.dumps({"aws_access_key_id": key.key_id, "aws_secret_access_key": key.secret})
            try:
                arn = client.store_secret(name, payload, f"Access key of IAM user {claimed.iam_user} (Keywarden)")
            except AwsError as e:
                deleted = True
                try:
                    client.delete_access_key(claimed.iam_user, key.key_id)
                except AwsError:
                    log.error("could not delete key %s after Secrets Manager failed", key.key_id)
                    deleted = False
                why = e.message
                if isinstance(e, AwsPermissionDenied):
                    resource = policy_resource(self.secret_prefix, partition_of_region(client.region))
                    why += f" The policy must allow it on `{resource}` (SECRET_PREFIX names the secrets)."
                kept = "the new key was deleted" if deleted else f"the new key `{key.key_id}` could not be deleted"
                reference = logged(e, f"{claimed.id}: storing the secret failed, {kept}", log)
                final = fail(
                    self.store,
                    claimed,
                    secret_not_stored(
                        e.code, self.sync.names.account(claimed.account), reference, first, key.key_id, deleted=deleted
                    ),
                    f"storing the secret failed, {kept}: {why} (ref {reference})",
                )
            else:
                location = SecretLocation(name, claimed.account, client.region, arn_account_id(arn))
                final = self.store.transition(
                    request.id,
                    Status.EXECUTING,
                    Status.SUCCEEDED,
                    actor=SYSTEM,
                    action="stored_secret",
                    new_key_id=key.key_id,
                    result=f"{first}new key `{key.key_id}` stored as secret `{name}`",
                    detail=f"{first}{name}",
                )
        if final is not None:
            self.sync.sync(final, secret=location)
            if final.status is Status.SUCCEEDED and final.new_key_id:
                start_rotation(self.rotations, final, final.new_key_id)

    def settle_interrupted(self, request: Request) -> None:
        released = hand_back_interrupted(self.store, self.clock, self.aws.account(request.account), request)
        if released:
            self.hand_over(released)

    def reveal_refusal(self, request_id: str, user_id: str) -> RevealRefusal:
        request = requester_of(self.store, request_id, user_id)
        return StoredNotShown(request) if isinstance(request, Request) else request

    def reveal(self, request_id: str, user_id: str, trigger_id: str = "", view_id: str | None = None) -> Reveal:
        """Nothing is ever revealed in Slack: the reply says where the key goes instead."""
        return self.reveal_refusal(request_id, user_id)


@dataclass(kw_only=True, eq=False)
class StoredSecretDm:
    """The requester's DM with SECRET_DELIVERY=secretsmanager: it names the secret, also when sent again later."""

    secret_prefix: str
    aws: AwsGateway
    names: AccountNames = SEVERAL_ACCOUNTS

    def __call__(self, request: Request, secret: SecretLocation | None) -> Message:
        if secret is None and request.status is Status.SUCCEEDED and request.operation in MAKES_KEY:
            secret = self._location(request)
        return build_requester_dm(request, secret, reveal=False, names=self.names)

    def _location(self, request: Request) -> SecretLocation:
        client = self.aws.account(request.account)
        try:
            account_id: str | None = client.account_id()
        except AwsError:
            account_id = None
        name = secret_name(self.secret_prefix, request.account, request.iam_user)
        return SecretLocation(name, request.account, client.region, account_id)
