"""The real services, wired by `bootstrap` as in production, over a test database, with in-memory fakes at the
AWS and Slack edges and time from the test clock: for service tests that call the workflows directly.

`ServiceWorld` holds the wiring and the fakes, and reads outcomes the way the product stores them (the
request store, the rotation service, the audit log).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.bootstrap import Services, bootstrap
from bot.domain.commands import parse
from bot.domain.requests import Request
from bot.domain.rotation import Rotation
from bot.settings import Settings
from bot.store.requests import RequestStore
from tests.support.fake_iam import FakeAccountClient, FakeAwsGateway
from tests.support.fake_notifier import FakeDirectory, FakeNotifier
from tests.support.flows import REQUESTER
from tests.support.harness import RecordingSleep, TestClock

APPROVAL_CHANNEL = "CAPPROVE"
_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-test-token",
    "SLACK_SIGNING_SECRET": "test-signing-secret",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",  # never called: the notifier and the directory are fakes
    "APPROVAL_CHANNEL": APPROVAL_CHANNEL,
    "ALERT_CHANNEL": "CALERTS",
    "APPROVER_IDS": "UBOSS,UCARL",
    "SCHEDULER": "off",
}


@dataclass
class ServiceWorld:
    services: Services
    clock: TestClock
    aws: FakeAwsGateway
    slack: FakeNotifier
    directory: FakeDirectory

    @property
    def iam(self) -> FakeAccountClient:
        """The `default` account's IAM."""
        return self.aws.account("default")

    def file(self, text: str, requester: str = REQUESTER) -> Request:
        """File a request typed as after the slash command (`deactivate AKIA… reason`)."""
        return self.services.filing.file(requester, parse(text, self.aws.list_aliases()))

    @property
    def store(self) -> RequestStore:
        """The requests, read and written through a store on the services' database, clock and audit log."""
        return RequestStore(self.services.db, self.clock, self.services.audit)

    def request(self, request_id: str) -> Request:
        found = self.store.get(request_id)
        assert found is not None, f"no request {request_id}"
        return found

    def rotation(self, rotation_id: str) -> Rotation:
        found = self.services.rotations.get(rotation_id)
        assert found is not None, f"no rotation {rotation_id}"
        return found

    def actions(self, request_id: str) -> list[str]:
        """The audit trail of a request (or of the rotation it started), oldest first."""
        return [e.action for e in self.services.audit.all() if e.request_id == request_id]

    def close(self) -> None:
        self.services.close()


def build_world(database_url: str, clock: TestClock, aws: FakeAwsGateway | None = None, **env: str) -> ServiceWorld:
    """Every service over `database_url` (migrated already), with settings from `_ENV` and `env`.

    `aws`: another world's AWS, for a second process on the same database and accounts."""
    settings = Settings.from_env({**_ENV, "DATABASE_URL": database_url, **env})
    aws = aws or FakeAwsGateway(clock, settings.accounts)
    slack, directory = FakeNotifier(), FakeDirectory()
    services = bootstrap(
        settings,
        clock=clock,
        migrate=False,
        sleep=RecordingSleep(),
        aws=aws,  # type: ignore[arg-type]
        notifier=slack,  # type: ignore[arg-type]
        directory=directory,  # type: ignore[arg-type]
    )
    return ServiceWorld(services, clock, aws, slack, directory)
