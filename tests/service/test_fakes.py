"""The fakes at the service tests' edges keep to what they stand for: the real classes' methods and signatures,
IAM's rules, the adapter's errors, and the notifier's way of reporting Slack failures."""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest

from bot.aws import AccountClient, AwsGateway, AwsLimitExceeded, AwsNotFound, AwsPermissionDenied, AwsUnavailable
from bot.clock import Clock
from bot.domain.keys import ACCESS_KEY_ID, ACTIVE, INACTIVE
from bot.slack.client import SlackDirectory
from bot.slack.notifier import Notifier
from tests.support.fake_iam import FakeAccountClient, FakeAwsGateway
from tests.support.fake_notifier import FakeDirectory, FakeNotifier

# What the fakes add for the tests themselves: setting the world up, changing it outside Keywarden, faults.
CONTROLS = {
    FakeAccountClient: {
        "add_user",
        "add_key",
        "use_key",
        "set_status_by_hand",
        "delete_by_hand",
        "statuses",
        "runs_as_user",
        "fail",
    },
    FakeAwsGateway: set(),
    FakeNotifier: {"fail", "in_channel", "in_thread", "dms"},
    FakeDirectory: {"add_person"},
}
REAL = {
    FakeAccountClient: AccountClient,
    FakeAwsGateway: AwsGateway,
    FakeNotifier: Notifier,
    FakeDirectory: SlackDirectory,
}


def public_methods(cls: type) -> dict[str, object]:
    return {name: member for name, member in vars(cls).items() if not name.startswith("_") and callable(member)}


def parameters(function: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]  # type: ignore[arg-type]


@pytest.mark.parametrize("fake", list(REAL), ids=lambda c: c.__name__)
def test_each_fake_method_is_the_real_one_or_a_declared_control(fake: type) -> None:
    real = public_methods(REAL[fake])
    for name, method in public_methods(fake).items():
        if name in CONTROLS[fake]:
            assert name not in real, f"{fake.__name__}.{name} is a real method, not a control"
            continue
        assert name in real, f"{fake.__name__}.{name} is neither a method of {REAL[fake].__name__} nor a control"
        assert parameters(method) == parameters(real[name]), f"{fake.__name__}.{name} takes other parameters"


def test_the_fake_notifier_has_every_method_of_the_notifier() -> None:
    assert set(public_methods(Notifier)) <= set(public_methods(FakeNotifier))
    assert set(public_methods(SlackDirectory)) <= set(public_methods(FakeDirectory))


def test_iam_keeps_to_two_keys_per_user_and_real_looking_keys(clock: Clock) -> None:
    iam = FakeAwsGateway(clock).account("default")
    iam.add_user("ci")
    first = iam.create_access_key("ci")
    assert ACCESS_KEY_ID.match(first.key_id) and len(first.secret) == 40 and first.secret not in repr(first)
    second = iam.add_key("ci", age_days=3)
    with pytest.raises(AwsLimitExceeded, match="Cannot exceed quota for AccessKeysPerUser: 2"):
        iam.create_access_key("ci")
    iam.delete_access_key("ci", first.key_id)  # active, and IAM deletes it all the same
    assert iam.statuses("ci") == {second: ACTIVE}
    assert [k.created for k in iam.list_access_keys("ci")] == [clock() - timedelta(days=3)]
    assert iam.calls == {"iam:CreateAccessKey": 2, "iam:DeleteAccessKey": 1, "iam:ListAccessKeys": 1}


def test_iam_answers_with_the_adapters_errors(clock: Clock) -> None:
    aws = FakeAwsGateway(clock)
    iam = aws.account("default")
    with pytest.raises(AwsNotFound, match="No account `prod`"):
        aws.account("prod")
    with pytest.raises(AwsNotFound, match="Not found in account `default`: The user with name ghost cannot be found"):
        iam.list_access_keys("ghost")
    iam.add_user("ci")
    key = iam.add_key("ci")
    with pytest.raises(AwsNotFound, match="The Access Key with id AKIAZZZZZZZZZZZZZZZZ cannot be found"):
        iam.set_key_status("ci", "AKIAZZZZZZZZZZZZZZZZ", INACTIVE)

    iam.fail("iam:UpdateAccessKey", AwsPermissionDenied)
    with pytest.raises(AwsPermissionDenied) as denied:
        iam.set_key_status("ci", key, INACTIVE)
    assert denied.value.permission == "iam:UpdateAccessKey" and "docs/iam/member-policy.json" in denied.value.message
    assert iam.statuses("ci") == {key: ACTIVE}

    iam.fail("iam:UpdateAccessKey", AwsUnavailable, applied=True)
    with pytest.raises(AwsUnavailable, match="Could not reach AWS for account `default`"):
        iam.set_key_status("ci", key, INACTIVE)
    assert iam.statuses("ci") == {key: INACTIVE}  # AWS did it; only the answer was lost
    iam.set_key_status("ci", key, ACTIVE)
    assert aws.call_counts()["iam:UpdateAccessKey"] == 4


def test_the_notifier_fails_as_the_real_one_reports_slack_failures() -> None:
    slack = FakeNotifier()
    assert slack.dm("UALICE", ("hello", [])) is not None
    [dm] = slack.dms("UALICE")
    assert dm.channel == "DALICE" and slack.update(dm.channel, dm.ts, ("hello again", [])) and dm.versions == 2
    assert slack.update("DALICE", "1.000100", ("no such message", [])) is False

    slack.fail("post", channel="UALICE")
    assert slack.dm("UALICE", ("lost", [])) is None and slack.post("CAPPROVE", ("shown", [])) is not None
    slack.fail("update")
    assert slack.update(dm.channel, dm.ts, ("lost", [])) is False and dm.text == "hello again"
    slack.fail("open_view")
    assert slack.open_view("T-1", {"blocks": []}) is None and slack.views == {}
