"""What a long-running process checks before it serves: the Slack token, the channels, someone to approve, AWS.

Each failure is one line naming the variable to fix. Slack or AWS not answering at all (a connection error, a
5xx) is asked again with backoff for STARTUP_TIMEOUT_SECONDS before it counts as a failure; a refusal counts at
once. The database is checked before this, by `startup.reach_database_or_exit`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient

from bot.aws import AwsGateway
from bot.entrypoints.probes import Answer, ask_aws, ask_slack, probe_client
from bot.settings import Settings

log = logging.getLogger(__name__)

FIRST_WAIT_SECONDS = 0.5
LONGEST_WAIT_SECONDS = 10.0
_TOKEN_REFUSALS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


@dataclass(frozen=True)
class Failure:
    line: str  # names the variable to fix
    error: BaseException | None = None  # shown with its traceback at LOG_LEVEL=DEBUG


class Preflight:
    def __init__(
        self,
        settings: Settings,
        aws: AwsGateway,
        *,
        slack: WebClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.aws = aws
        self.slack = slack or probe_client(settings)
        self.sleep = sleep
        self.monotonic = monotonic
        self.deadline = 0.0

    def run(self) -> list[Failure]:
        """Every check; the failures, one line each (none: start)."""
        self.deadline = self.monotonic() + self.settings.startup_timeout_seconds
        return [*self._slack(), *self._approvers(), *self._aws()]

    def _patiently(self, ask: Callable[[], Answer]) -> Answer:
        """`ask` until it answers (yes or no) or the start-up time is up; waits double from half a second."""
        wait = FIRST_WAIT_SECONDS
        while True:
            answer = ask()
            left = self.deadline - self.monotonic()
            if not answer.transient or left <= 0:
                return answer
            log.warning("start-up check: no answer (%s); asking again in %.1f s", answer.detail, min(wait, left))
            self.sleep(min(wait, left))
            wait = min(wait * 2, LONGEST_WAIT_SECONDS)

    def _slack(self) -> list[Failure]:
        settings = self.settings
        auth = self._patiently(lambda: ask_slack(self.slack.auth_test))
        if auth.transient:
            return [
                Failure(
                    f"SLACK_API_URL: Slack did not answer at {settings.slack_api_url} within "
                    f"{settings.startup_timeout_seconds} s ({auth.detail})",
                    auth.error,
                )
            ]
        if not auth.ok:
            why = "the token is not valid" if auth.detail in _TOKEN_REFUSALS else "Slack refused it"
            return [
                Failure(
                    f"SLACK_BOT_TOKEN: {why} (auth.test: {auth.detail}); copy the Bot User OAuth Token "
                    "(xoxb-) of this app's installation",
                    auth.error,
                )
            ]
        failures = []
        for name, channel in (
            ("APPROVAL_CHANNEL", settings.approval_channel),
            ("ALERT_CHANNEL", settings.alert_channel),
        ):
            if channel:
                failures += self._channel(name, channel, auth.data.get("user") or "the bot")
        return failures

    def _channel(self, name: str, channel: str, bot: str) -> list[Failure]:
        answer = self._patiently(lambda: ask_slack(lambda: self.slack.conversations_info(channel=channel)))
        if answer.ok:
            info = answer.data.get("channel") or {}
            label = f"#{info['name']} ({channel})" if info.get("name") else channel
            if info.get("is_archived"):
                return [Failure(f"{name}: {label} is archived; name a channel in use")]
            if info.get("is_member") is False:
                return [Failure(f"{name}: the bot is not a member of {label}; invite it there: /invite @{bot}")]
            return []
        if answer.detail == "missing_scope":  # an app installed before the scopes were asked for
            log.warning(
                "%s not checked: the app lacks the channels:read and groups:read scopes; reinstall it (manifest.yaml)",
                name,
            )
            return []
        if answer.detail == "channel_not_found":
            return [
                Failure(
                    f"{name}: Slack has no channel {channel} that the bot can see (channel_not_found); check the id "
                    "(the channel's details show it), and invite the bot first to a private channel",
                    answer.error,
                )
            ]
        if answer.transient:
            return [Failure(f"{name}: Slack did not answer conversations.info about {channel} ({answer.detail})")]
        return [Failure(f"{name}: Slack refused conversations.info about {channel} ({answer.detail})", answer.error)]

    def _approvers(self) -> list[Failure]:
        settings = self.settings
        if settings.approver_ids or settings.policy_file:
            return []
        if not settings.approver_group:
            return [
                Failure("APPROVER_IDS: nobody can approve requests; set APPROVER_IDS, APPROVER_GROUP or POLICY_FILE")
            ]
        group = settings.approver_group
        answer = self._patiently(lambda: ask_slack(lambda: self.slack.usergroups_users_list(usergroup=group)))
        if not answer.ok:
            how = "did not answer" if answer.transient else "refused"
            return [Failure(f"APPROVER_GROUP: Slack {how} usergroups.users.list for {group} ({answer.detail})")]
        if not answer.data.get("users"):
            return [
                Failure(
                    f"APPROVER_GROUP: user group {group} has no members and APPROVER_IDS is empty: nobody can approve"
                )
            ]
        return []

    def _aws(self) -> list[Failure]:
        answer = self._patiently(lambda: ask_aws(self.aws))
        if answer.ok:
            log.info("AWS credentials: %s", answer.data)
            return []
        if answer.transient:
            return [
                Failure(
                    f"AWS: sts:GetCallerIdentity did not answer within {self.settings.startup_timeout_seconds} s "
                    f"({answer.detail}); check the way to AWS (AWS_REGION, AWS_ENDPOINT_URL, a proxy)",
                    answer.error,
                )
            ]
        message = getattr(answer.error, "message", answer.detail)
        return [
            Failure(
                f"AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE or the role boto3 finds): {message}", answer.error
            )
        ]
