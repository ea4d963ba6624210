"""Each fact the code relies on has one definition, which every other place uses."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from slack_sdk import WebClient

from bot import logs
from bot.domain import exposure, keys, requests, rotation, slack_ids, transitions
from bot.policy import Rule
from bot.services.ownership import owner_slack_id
from bot.settings import Settings
from bot.settings.reader import SettingsError
from bot.slack import ids, payloads
from bot.slack.client import SlackDirectory
from bot.slack.messages import exposures as exposure_blocks
from bot.slack.messages import scans
from bot.slack.messages.common import who
from bot.store.iam_users import OwnedUser

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY = "AKIAIOSFODNN7EXAMPLE"
ROOT = Path(__file__).resolve().parents[2]


def test_the_secret_access_key_shape_is_defined_once() -> None:
    assert logs.SECRET_SHAPE is keys.SECRET_SHAPE
    assert exposure.SECRET_SHAPE is keys.SECRET_SHAPE
    assert not hasattr(exposure, "SECRET_CANDIDATE")
    assert keys.SECRET_SHAPE.fullmatch(SECRET)
    assert keys.SECRET_SHAPE.search(f"AWS_SECRET_ACCESS_KEY={SECRET}")
    assert not keys.SECRET_SHAPE.search(SECRET + "A") and not keys.SECRET_SHAPE.search(SECRET + "=")


def test_requests_and_rotations_share_one_transition_check() -> None:
    assert not hasattr(requests, "TransitionError")  # the requests module uses the check, not its own error
    assert rotation.TransitionError is transitions.TransitionError
    for check, current, new in (
        (requests.check_transition, requests.Status.EXECUTING, requests.Status.CANCELLED),
        (rotation.check_transition, rotation.RotationState.GRACE, rotation.RotationState.DELETING),
    ):
        with pytest.raises(transitions.TransitionError, match="cannot become"):
            check(current, new)


# Slack's ids: U/W (users) or S (user groups), upper-case letters and digits, 2 to 20 after the prefix.
USER_IDS = {
    "U0123ABCD": True,
    "W0123ABCDEF": True,
    "U" + "A" * 20: True,
    "U" + "A" * 21: False,
    "U1": False,
    "u0123abcd": False,
    "S0123ABCD": False,
    "U0123-ABC": False,
}
GROUP_IDS = {"S0123ABCD": True, "S" + "A" * 20: True, "S" + "A" * 21: False, "S1": False, "s0123abcd": False}
SETTINGS = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}


def _command(user_id: str) -> dict:
    return {"command": "/awskeys", "text": "help", "user_id": user_id, "response_url": "https://hooks.slack.com/x"}


def _accepts_rule(approver: str) -> bool:
    try:
        Rule(name="r", approvers=(approver,))
    except ValidationError:
        return False
    return True


def _accepts_setting(name: str, value: str) -> bool:
    try:
        Settings.from_env({**SETTINGS, name: value})
    except SettingsError:
        return False
    return True


class _Index:
    def __init__(self, owner: str) -> None:
        self.owner = owner

    def get(self, account: str, user: str) -> OwnedUser:
        return OwnedUser(account, user, self.owner, {})


def test_every_place_reads_a_slack_user_id_with_one_shape() -> None:
    directory = SlackDirectory(WebClient(base_url="http://127.0.0.1:9/"))  # an id or a non-email never calls Slack
    for value, is_id in USER_IDS.items():
        assert slack_ids.is_user_id(value) is is_id, value
        assert (payloads.problem(_command(value)) is None) is is_id, value  # the edge
        assert (who(value) == f"<@{value}>") is is_id, value  # a mention, or inert text
        assert (directory.user_id_for(value) == value) is is_id, value
        assert _accepts_setting("APPROVER_IDS", value) is is_id, value
        if not value.startswith("S"):
            assert _accepts_rule(value) is is_id, value  # policy approvers (S… is a group there)
    # An owner tag is typed by people and kept lower-case: read as an id in any case, then written as Slack does.
    assert owner_slack_id(_Index("u0123abcd"), directory, "a", "ci") == "U0123ABCD"  # type: ignore[arg-type]
    assert owner_slack_id(_Index("w" + "a" * 21), directory, "a", "ci") is None  # type: ignore[arg-type]


def test_every_place_reads_a_slack_user_group_id_with_one_shape() -> None:
    for value, is_id in GROUP_IDS.items():
        assert slack_ids.is_group_id(value) is is_id, value
        assert _accepts_setting("APPROVER_GROUP", value) is is_id, value
        assert _accepts_rule(value) is is_id, value


def test_a_button_about_one_key_is_written_and_read_by_one_pair() -> None:
    value = ids.key_value("prod", KEY)
    assert ids.parse_key_value(value) == ("prod", KEY)
    assert ids.parse_key_value("prod") == ("prod", "")  # no key: the handler refuses it
    assert {b["value"] for b in exposure_blocks.response_buttons("prod", KEY)} == {value}
    assert not hasattr(scans, "key_value")
    writers = [
        path.relative_to(ROOT).as_posix()
        for package in ("bot/slack", "handlers")  # ACCOUNTS (bot/settings) has its own `arn|external id`
        for path in (ROOT / package).rglob("*.py")
        if "}|{" in path.read_text() or '.partition("|")' in path.read_text()
    ]
    assert writers == ["bot/slack/ids.py"]
