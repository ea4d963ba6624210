"""The events queue on moto's SQS: AWS Health exposures and CloudTrail key changes, each handled once."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import time_machine
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.domain.rotation import RotationState
from bot.entrypoints.scheduler import ClockProcess
from bot.services.event_intake import EventIntake
from bot.slack import ids
from bot.store.aws_events import EventIds
from bot.store.models import AwsEventSeen, Exposure, KnownKey
from tests.support.aws_events import health_exposed, key_call
from tests.support.aws_faults import aws_error
from tests.support.flows import buttons, key_made, rotate, rotation
from tests.support.harness import BotServer
from tests.support.slack_text import fallback_text

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


def intake_for(bot: BotServer, url: str, backoff_seconds: int = 30) -> EventIntake:
    s = bot.services
    return EventIntake(
        queue=s.aws.queue(url, wait_seconds=0),
        events=EventIds(s.db),
        clock=s.clock,
        exposures=s.exposures,
        key_changes=s.key_changes,
        backoff_seconds=backoff_seconds,
    )


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


@pytest.mark.parametrize(
    ("code", "what", "how"),
    [
        ("AWS_RISK_CREDENTIALS_COMPROMISED", "compromised", "AWS Health reports the key was abused"),
        ("AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED", "suspected exposed", "AWS Health suspects the key was exposed"),
        (
            "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
            "suspected compromised",
            "AWS Health suspects the key was abused",
        ),
        ("AWS_RISK_IAM_QUARANTINE", "quarantined by AWS", "AWS attached a quarantine policy"),
    ],
)
def test_every_health_risk_event_gets_the_exposure_response(
    bot: BotServer, ci_key: str, queues, code: str, what: str, how: str
) -> None:
    """As Health's organisational view delivers them: to the management account, about a member account."""
    url, _ = queues
    start = datetime(2016, 6, 5, 15, 10, 9, tzinfo=UTC)
    send(url, health_exposed(ci_key, "999999999999", code=code, affected_account="123456789012", start=start))
    assert intake_for(bot, url).poll_once() == 1
    [alert] = bot.slack.posts_to("CALERTS")
    shown = json.dumps(json.loads(alert.raw), ensure_ascii=False)
    assert f"*Critical: AWS access key {what}* — {how}" in shown and f"(`{code}`)" in shown and ci_key in shown
    assert "AWS Health: since 2016-06-05 15:10 UTC" in fallback_text(shown)  # Health's startTime, read as RFC 1123
    assert "<!date^1465139409^{date_short_pretty} {time}|2016-06-05 15:10 UTC>" in shown  # in the reader's zone
    assert buttons(alert) == [
        (ids.EXPOSURE_DEACTIVATE, f"default|{ci_key}"),
        (ids.EXPOSURE_ROTATE, f"default|{ci_key}"),
    ]
    [dm] = bot.slack.posts_to(OWNER)
    assert f"*Your AWS access key was {what}*" in json.dumps(json.loads(dm.raw)) and buttons(dm) == buttons(alert)
    assert waiting(url) == 0
    [audit] = [e for e in bot.services.audit.all() if e.action == "exposed"]
    assert code in audit.detail and audit.outcome == "critical" and audit.account == "default"
    bot.command("list ci", user_id=OWNER)
    assert f"reported {what} by AWS Health" in bot.slack.wait_calls("response_url")[-1].raw


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
    assert f"Key `{new}` of *ci* was created outside Keywarden" in json.loads(alert.raw)["text"]
    assert "arn:aws:iam::123456789012:user/bob" in alert.raw and "203.0.113.7" in alert.raw
    assert len(bot.slack.posts_to(OWNER)) == 1
    [audit] = [e for e in bot.services.audit.all() if e.action == "changed_outside"]
    assert (audit.key_id, audit.iam_user, audit.account) == (new, "ci", "default")
    with bot.services.db.session() as session:
        known = session.get(KnownKey, new)
        assert known is not None and (known.account, known.iam_user, known.gone) == ("default", "ci", False)

    iam.delete_access_key(UserName="ci", AccessKeyId=new)
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
    shown = json.loads(bot.slack.posts_to("CALERTS")[-1].raw)["blocks"]
    assert f"Rotation {rid} ended: grace period → cancelled." in json.dumps(shown, ensure_ascii=False)  # no codes


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


# Events are claims: anyone allowed to send to the queue can write one.

CAROL = "arn:aws:iam::123456789012:user/carol"


def remembered(bot: BotServer, key_id: str, user: str = "ci") -> None:
    now = bot.services.clock()
    with bot.services.db.session() as session:
        session.add(KnownKey(key_id=key_id, account="default", iam_user=user, first_seen=now, last_seen=now))


def test_a_forged_deletion_of_a_live_key_is_not_believed(bot: BotServer, ci_key: str, queues, caplog) -> None:
    caplog.set_level(logging.INFO)
    url, _ = queues
    intake = intake_for(bot, url, backoff_seconds=0)
    remembered(bot, ci_key)
    sent = datetime.now(UTC)
    send(url, key_call("DeleteAccessKey", ci_key, "ci", CAROL, at=sent, event_id="forged-1"))
    intake.poll_once()  # a minute's grace, by IAM's clock: IAM may not show a deletion made seconds ago
    assert waiting(url) == 1 and bot.slack.calls == []
    with time_machine.travel(sent + timedelta(minutes=2)):
        intake.poll_once()
    assert waiting(url) == 0  # judged: not believed, not kept
    assert bot.slack.posts_to("CALERTS") == [] and bot.slack.posts_to(OWNER) == []
    with bot.services.db.session() as session:
        assert session.get(KnownKey, ci_key).gone is False
        assert session.get(AwsEventSeen, "forged-1").done_at is not None
    events = bot.services.audit.all()
    assert not [e for e in events if e.action == "changed_outside"]
    assert not [e for e in events if "carol" in f"{e.actor} {e.detail}"]  # nobody is framed
    [doubt] = [e for e in events if e.action == "event_not_confirmed"]
    assert (doubt.key_id, doubt.iam_user) == (ci_key, "ci") and "IAM still lists the key" in doubt.detail
    assert any(r.levelname == "WARNING" and "not confirmed" in r.getMessage() for r in caplog.records)
    assert iam_status(bot, ci_key) == "Active"


def iam_status(bot: BotServer, key_id: str) -> str:
    keys = bot.services.aws.account("default").list_access_keys("ci")
    return next(k.status for k in keys if k.key_id == key_id)


def test_claims_are_told_as_iam_shows_them_not_as_the_event_says(bot: BotServer, ci_key: str, queues, iam) -> None:
    url, _ = queues
    intake = intake_for(bot, url, backoff_seconds=0)
    old = bot.services.clock() - timedelta(minutes=10)
    send(url, key_call("UpdateAccessKey", ci_key, "ci", CAROL, status="Inactive", at=old))  # the key is Active
    send(url, key_call("CreateAccessKey", ci_key, "ci", CAROL, at=old))  # a 30-day-old key "created" now
    send(url, key_call("DeleteAccessKey", ci_key, "bob", CAROL, at=old))  # Keywarden knows it as ci's
    remembered(bot, ci_key)
    iam.create_user(UserName="bob")
    while intake.poll_once():
        pass
    assert waiting(url) == 0 and bot.slack.posts_to("CALERTS") == []
    assert len([e for e in bot.services.audit.all() if e.action == "event_not_confirmed"]) == 3

    iam.update_access_key(UserName="ci", AccessKeyId=ci_key, Status="Inactive")
    send(url, key_call("UpdateAccessKey", ci_key, "ci", CAROL, status="Inactive"))
    intake.poll_once()
    [alert] = bot.slack.posts_to("CALERTS")
    text = json.loads(alert.raw)["text"]
    assert f"Key `{ci_key}` of *ci* was deactivated outside Keywarden" in text
    assert "IAM shows the key *Inactive*" in alert.raw and f"CloudTrail reports the call by `{CAROL}`" in alert.raw


def test_text_from_an_event_is_inert_in_slack(bot: BotServer, ci_key: str, queues, iam) -> None:
    url, _ = queues
    intake = intake_for(bot, url)
    new = iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    caller = "arn:aws:iam::123456789012:user/x` <!here> <https://evil.example|click> <@UBOSS> &amp;"
    send(url, key_call("CreateAccessKey", new, "ci", caller, source_ip="<!channel> <https://evil.example|login>"))
    send(url, key_call("DeleteAccessKey", ci_key, "<!here>", CAROL))  # not an IAM user name: refused
    for _ in range(3):
        intake.poll_once()
    [alert] = bot.slack.posts_to("CALERTS")
    body = json.loads(alert.raw)
    shown = json.dumps([body["text"], body["blocks"]])
    for live in ("<!here>", "<!channel>", "<https://evil", "<@UBOSS>"):
        assert live not in shown
    assert "&lt;!here&gt;" in shown and "&lt;!channel&gt;" in shown and "&lt;@UBOSS&gt;" in shown
    assert "&lt;https://evil.example|click&gt;" in shown and "&amp;amp;" in shown
    [dm] = bot.slack.posts_to(OWNER)
    assert "<!here>" not in dm.raw and "<https://evil" not in dm.raw


def test_a_claim_iam_cannot_confirm_now_is_kept_for_later(bot: BotServer, ci_key: str, queues, iam) -> None:
    url, _ = queues
    intake = intake_for(bot, url, backoff_seconds=0)
    remembered(bot, ci_key)
    iam.update_access_key(UserName="ci", AccessKeyId=ci_key, Status="Inactive")
    iam.delete_access_key(UserName="ci", AccessKeyId=ci_key)  # a real deletion
    client = bot.services.aws.account("default").client("iam")
    for told, (code, status) in enumerate((("AccessDenied", 403), ("Throttling", 400))):
        fault = aws_error(code, status)
        client.meta.events.register_first("before-call.iam.ListAccessKeys", fault, unique_id="fault")
        send(url, key_call("DeleteAccessKey", ci_key, "ci", CAROL, event_id=f"real-{code}"))
        said = len(bot.slack.calls)
        intake.poll_once()
        client.meta.events.unregister("before-call.iam.ListAccessKeys", unique_id="fault")
        assert waiting(url) == 1 and len(bot.slack.calls) == said  # nothing said, the message kept
        with bot.services.db.session() as session:
            assert session.get(KnownKey, ci_key).gone is False
            assert session.get(AwsEventSeen, f"real-{code}").done_at is None
        assert len([e for e in bot.services.audit.all() if e.action == "changed_outside"]) == told
        intake.poll_once()  # IAM answers again: the same message, verified now
        assert waiting(url) == 0
        assert f"Key `{ci_key}` of *ci* was deleted outside Keywarden" in bot.slack.posts_to("CALERTS")[-1].raw
        with bot.services.db.session() as session:
            assert session.get(KnownKey, ci_key).gone is True
            session.get(KnownKey, ci_key).gone = False  # as it was, for the next fault
    assert not [e for e in bot.services.audit.all() if e.action == "event_not_confirmed"]
    assert len(bot.slack.posts_to("CALERTS")) == 2


class StopOnWait(threading.Event):
    """The reader's stop signal: records each pause it is asked for, and ends the loop there."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        self.set()
        return True


def test_the_reader_pauses_while_iam_cannot_be_read(bot: BotServer, ci_key: str, queues) -> None:
    url, _ = queues
    client = bot.services.aws.account("default").client("iam")
    client.meta.events.register_first("before-call.iam.ListAccessKeys", aws_error("Throttling", 400), unique_id="f")
    send(url, key_call("DeleteAccessKey", ci_key, "ci", CAROL))
    stopping = StopOnWait()
    intake_for(bot, url, backoff_seconds=45).run(stopping)  # SQS counts every receive: no new one for a while
    assert stopping.pauses == [45] and waiting(url) == 1 and bot.slack.calls == []


class PausesThenStops(threading.Event):
    """The reader's stop signal: records each pause, and ends the loop at the `polls`-th."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.polls = polls
        self.pauses: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) >= self.polls:
            self.set()
        return self.is_set()


def test_a_database_outage_does_not_send_an_exposure_to_the_dead_letter_queue(
    bot: BotServer, ci_key: str, queues, caplog
) -> None:
    caplog.set_level(logging.INFO)
    url, dlq = queues  # maxReceiveCount 3, and a message not deleted is visible again at once
    send(url, health_exposed(ci_key, event_id="during-outage"))
    engine = bot.services.db.engine

    def database_down(*_: object, **__: object) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    stopping = PausesThenStops(5)
    intake = intake_for(bot, url, backoff_seconds=45)
    receives: list[str] = []

    def received(**_: object) -> None:  # five polls at most, paused or not
        receives.append("ReceiveMessage")
        if len(receives) >= 5:
            stopping.set()

    intake.queue._sqs.meta.events.register("after-call.sqs.ReceiveMessage", received)
    sqlalchemy_event.listen(engine, "before_cursor_execute", database_down)
    try:
        intake.run(stopping)  # five polls while the database is down
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", database_down)
    assert receives == [] and stopping.pauses == [45] * 5  # SQS would count each receive towards the DLQ
    assert waiting(dlq) == 0 and waiting(url) == 1 and bot.slack.calls == []
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.services.event_intake"]
    assert sum("database does not answer" in line for line in lines) == 1  # said once, not every poll

    assert intake.poll_once() == 1  # the database is back: the exposure is answered
    assert waiting(url) == 0 and waiting(dlq) == 0
    [alert] = bot.slack.posts_to("CALERTS")
    assert ci_key in alert.raw and buttons(alert)[0] == (ids.EXPOSURE_DEACTIVATE, f"default|{ci_key}")


def test_events_of_accounts_keywarden_does_not_serve_are_ignored(bot: BotServer, ci_key: str, queues, caplog) -> None:
    caplog.set_level(logging.INFO)
    url, _ = queues
    intake = intake_for(bot, url)
    stranger = "999999999999"
    send(url, key_call("DeleteAccessKey", ci_key, "ci", f"arn:aws:iam::{stranger}:user/carol", account=stranger))
    send(url, health_exposed(ci_key, account=stranger))
    intake.poll_once()
    assert waiting(url) == 0 and bot.slack.calls == []
    with bot.services.db.session() as session:
        assert session.scalars(select(Exposure)).all() == []
    assert not [e for e in bot.services.audit.all() if e.action in ("changed_outside", "exposed")]
    assert sum("does not serve" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 2


def test_healthz_and_metrics_show_the_dead_letter_queue_depth(make_bot, queues, caplog) -> None:
    url, dlq = queues
    bot = make_bot(EVENTS_QUEUE_URL=url, EVENTS_DLQ_URL=dlq)
    assert bot.get("/healthz").json()["events_dlq"] == {"depth": 0}
    assert "keywarden_events_dlq_depth 0.0" in bot.get("/metrics").body
    for n in range(2):  # events SQS gave up on: never handled
        send(dlq, health_exposed("AKIA" + "Q" * 16, event_id=f"lost-{n}"))
    healthy = bot.get("/healthz")
    assert healthy.status == 200 and healthy.json()["events_dlq"] == {"depth": 2}  # told, not a failed probe
    assert "keywarden_events_dlq_depth 2.0" in bot.get("/metrics").body

    gone = make_bot(EVENTS_DLQ_URL=dlq.rsplit("/", 1)[0] + "/no-such-queue")
    assert gone.get("/healthz").json()["events_dlq"] == "unknown"
    assert "keywarden_events_dlq_depth" not in gone.get("/metrics").body
    assert any("events dead-letter queue" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "events_dlq" not in make_bot().get("/healthz").json()  # without EVENTS_DLQ_URL, nothing is said
