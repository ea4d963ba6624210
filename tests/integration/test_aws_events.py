"""The events queue on moto's SQS: AWS Health exposures and CloudTrail key changes, each handled once."""

from __future__ import annotations

import json
import logging
import threading
import time

import boto3
import pytest
from sqlalchemy import select

from bot.domain.rotation import RotationState
from bot.entrypoints.scheduler import ClockProcess
from bot.services.event_intake import EventIntake
from bot.slack import ids
from bot.store.db import AwsEventSeen, Exposure, KnownKey
from tests.support.aws_events import health_exposed, key_call
from tests.support.flows import buttons, key_made, rotate, rotation
from tests.support.harness import BotServer

OWNER = "UALICE"
KEYWARDEN = "arn:aws:iam::123456789012:user/moto"  # who moto says Keywarden's credentials belong to


@pytest.fixture
def queues(aws) -> tuple[str, str]:
    """The events queue (messages visible again at once when not deleted) and its dead-letter queue."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="keywarden-events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="keywarden-events",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"]
    return url, dlq


def send(url: str, body: dict | str) -> None:
    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body)
    )


def waiting(url: str) -> int:
    attrs = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def intake_for(bot: BotServer, url: str) -> EventIntake:
    s = bot.services
    return EventIntake(s.aws.queue(url, wait_seconds=0), s.db, s.clock, s.exposures, s.key_changes)


@pytest.fixture
def ci_key(bot: BotServer, iam) -> str:
    bot.slack.add_user(OWNER, email="alice@example.com")
    iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    return key_made(iam, "ci", 30, bot.services.clock())


def test_health_exposure_gets_the_exposure_response_once(bot: BotServer, ci_key: str, queues) -> None:
    url, _ = queues
    intake = intake_for(bot, url)
    event = health_exposed(ci_key, event_id="health-1")
    send(url, event)
    assert intake.poll_once() == 1
    [alert] = bot.slack.posts_to("CALERTS")
    assert "AWS Health" in alert.raw and ci_key in alert.raw
    assert buttons(alert) == [
        (ids.EXPOSURE_DEACTIVATE, f"default|{ci_key}"),
        (ids.EXPOSURE_ROTATE, f"default|{ci_key}"),
    ]
    assert len(bot.slack.posts_to(OWNER)) == 1
    assert waiting(url) == 0  # deleted once handled

    send(url, event)  # SQS delivers at least once: the same event again
    assert intake.poll_once() == 1 and waiting(url) == 0
    assert len(bot.slack.posts_to("CALERTS")) == 1 and len(bot.slack.posts_to(OWNER)) == 1
    with bot.services.db.session() as session:
        [row] = session.scalars(select(Exposure))
        assert (row.source, row.key_id, row.account, row.iam_user) == ("aws-health", ci_key, "default", "ci")
        assert session.get(AwsEventSeen, "health-1").done_at is not None
    [audit] = [e for e in bot.services.audit.all() if e.action == "exposed"]
    assert audit.actor == "aws-health" and "health-1" in audit.detail


def test_key_changes_outside_keywarden_are_told(bot: BotServer, ci_key: str, queues, iam) -> None:
    url, _ = queues
    intake = intake_for(bot, url)
    new = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    send(url, key_call("CreateAccessKey", new, "ci"))
    send(url, key_call("UpdateAccessKey", ci_key, "ci", KEYWARDEN, status="Inactive"))  # Keywarden's own change
    send(url, key_call("DeleteAccessKey", ci_key, "ci", error="AccessDenied"))  # a failed call changed nothing
    while intake.poll_once():
        pass
    assert waiting(url) == 0
    [alert] = bot.slack.posts_to("CALERTS")
    assert f"Key `{new}` of *default:ci* was created outside Keywarden" in json.loads(alert.raw)["text"]
    assert "arn:aws:iam::123456789012:user/bob" in alert.raw and "203.0.113.7" in alert.raw
    assert len(bot.slack.posts_to(OWNER)) == 1
    [audit] = [e for e in bot.services.audit.all() if e.action == "changed_outside"]
    assert (audit.key_id, audit.iam_user, audit.account) == (new, "ci", "default")
    with bot.services.db.session() as session:
        known = session.get(KnownKey, new)
        assert known is not None and (known.account, known.iam_user, known.gone) == ("default", "ci", False)

    send(url, key_call("DeleteAccessKey", new, "ci"))
    intake.poll_once()
    with bot.services.db.session() as session:
        assert session.get(KnownKey, new).gone
    assert "was deleted outside Keywarden" in bot.slack.posts_to("CALERTS")[-1].raw


def test_a_new_key_deleted_by_hand_cancels_its_rotation_now(bot: BotServer, iam, old, queues) -> None:
    url, _ = queues
    rid = rotate(bot)
    new_key = rotation(bot, rid).new_key_id
    iam.delete_access_key(UserName="ci", AccessKeyId=new_key)
    send(url, key_call("DeleteAccessKey", new_key, "ci", "arn:aws:sts::123456789012:assumed-role/Admin/carol"))
    intake_for(bot, url).poll_once()
    assert rotation(bot, rid).state is RotationState.CANCELLED  # at once, not at the next daily check
    assert f"Rotation {rid} ended" in bot.slack.posts_to("CALERTS")[-1].raw


def test_malformed_and_unknown_messages_are_left_for_the_redrive_policy(bot: BotServer, queues, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    url, dlq = queues
    intake = intake_for(bot, url)
    secretish = "q8Vw+3rKpZ/5nYtL0xHbE2aUcJ7mFs9dGi4oR1eN"
    bodies = [
        "not json " + secretish,
        json.dumps(
            {"id": "e-unknown", "detail-type": "EC2 Spot Interruption", "account": "123456789012", "detail": {}}
        ),
        json.dumps(health_exposed("nothing-here", event_id="e-nokey")),
        "{" * 5000,
    ]
    for body in bodies:
        send(url, body)
    for _ in range(4):  # maxReceiveCount 3: the fourth receive finds them moved aside
        intake.poll_once()
    assert waiting(url) == 0 and waiting(dlq) == 4
    assert bot.slack.calls == []
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.services.event_intake"]
    assert any("not JSON" in line for line in lines) and any("e-unknown" in line for line in lines)
    assert any("dead-letter" in line for line in lines)
    assert secretish not in caplog.text and "EC2 Spot Interruption" in caplog.text
    with bot.services.db.session() as session:
        assert session.scalars(select(AwsEventSeen)).all() == []  # nothing of them was claimed or stored


def test_the_scheduler_reads_the_queue(make_services, queues, iam, slack) -> None:
    url, _ = queues
    services = make_services(EVENTS_QUEUE_URL=url)
    iam.create_user(UserName="ci")
    key_id = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    clock = ClockProcess(services, poll_seconds=0.1, events_wait_seconds=1)
    thread = threading.Thread(target=clock.run, daemon=True)
    thread.start()
    try:
        assert clock.active.wait(15)
        sent = time.monotonic()
        send(url, health_exposed(key_id))
        alert = slack.wait_posts("CALERTS")[0]
        assert key_id in alert.raw and time.monotonic() - sent < 15
    finally:
        clock.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
