"""What a person is told about an error: a message written for people as it is, an operator's message in people's
words with a reference (the message logged under it), the account named only where there are several."""

from __future__ import annotations

import logging
import re

from botocore.exceptions import ClientError

from bot.aws import AwsError, AwsNotFound
from bot.aws.errors import translate
from bot.domain.keys import InputError, NotFound
from bot.services.approvals.delivery import PlanNoLongerHolds
from bot.services.usage import AccessTookTooLong
from bot.slack.messages.common import ONE_ACCOUNT, SEVERAL_ACCOUNTS
from handlers.errors import user_message
from tests.support.aws_faults import aws_error


def client_error(code: str, status: int) -> Exception:
    _, parsed = aws_error(code, status)()
    return ClientError(parsed, "ListAccessKeys")


def test_messages_written_for_people_are_shown_as_they_are() -> None:
    for error in (
        AwsNotFound("No account `staging` is configured or found in the organisation.", for_people=True),
        PlanNoLongerHolds("`ci` has two keys now: the rotation's plan no longer holds."),
        AccessTookTooLong("IAM Access Advisor has not finished the report: ask again in a few minutes."),
    ):
        assert user_message(error) == error.message
    assert user_message(InputError("No IAM user `<ghost>`.")) == "No IAM user `&lt;ghost&gt;`."
    assert user_message(NotFound("`AKIA…` of `ci` is gone: there is nothing left to retire.")).endswith("retire.")


def test_an_operators_message_is_told_in_peoples_words_and_logged(caplog) -> None:
    caplog.set_level(logging.WARNING)
    for code, status, words in (
        ("NoSuchEntity", 404, "AWS did not find what Keywarden looked for in account `prod`"),
        ("ValidationError", 400, "AWS refused what Keywarden asked of it in account `prod`. Nothing was done."),
        ("AccessDenied", 403, "AWS does not allow Keywarden to do this in account `prod`. Nothing was done."),
    ):
        error = translate(client_error(code, status), "prod", "iam")
        shown = user_message(error, SEVERAL_ACCOUNTS)
        assert shown.startswith(words) and "(injected)" not in shown and "iam:" not in shown, shown
        reference = re.search(r"reference `([0-9a-f]{8})`", shown).group(1)
        [logged] = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
        assert error.message in logged
        alone = user_message(error, ONE_ACCOUNT)
        assert "account" not in alone.split(".")[0], alone  # one account: not named


def test_a_generic_error_without_an_account_says_nothing_of_one() -> None:
    shown = user_message(AwsError("AWS call failed: boom"))
    assert shown.startswith("AWS refused what Keywarden asked of it. Nothing was done.") and "boom" not in shown
