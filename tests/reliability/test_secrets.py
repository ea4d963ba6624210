"""The secret access key, after every flow that makes a key, in a real process logging at DEBUG:
only in the modal (or in Secrets Manager), never in another Slack call, a table, a log line or a file,
in any encoding (JSON-escaped as Slack writes it, URL-encoded, base64)."""

from __future__ import annotations

import base64
import json
import logging
import re
import string
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk import WebClient
from sqlalchemy import create_engine, select

from bot.domain.delivery import secret_name
from bot.domain.requests import Status
from bot.logs import KnownSecrets, install_secret_redaction, redact, remember_secret
from bot.settings import Settings
from bot.settings.reader import SettingsError
from bot.slack import ids
from bot.slack.client import make_web_client
from bot.store.models import Base
from tests.conftest import base_env
from tests.support.aws_faults import aws_error
from tests.support.fake_slack import FakeSlack, Fault
from tests.support.flows import dms, filed_id, request, request_store, wait_ephemeral, wait_status
from tests.support.harness import BotServer, RemoteBot
from tests.support.remote import Requests, bot_env, encoded_forms, file_request


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keywarden.db'}"
    return request.getfixturevalue("pg_url")


def _everywhere_but_the_modal(slack, db_url: str, tmp_path: Path) -> dict[str, str]:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        tables = "\n".join(repr(conn.execute(select(t)).all()) for t in Base.metadata.sorted_tables)
    engine.dispose()
    files = "\n".join(p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file())
    slack_calls = "\n".join(c.raw for c in slack.calls if c.method != "views.update")
    return {"tables": tables, "files (database, logs)": files, "slack": slack_calls}


def _assert_nowhere(secret: str, places: dict[str, str]) -> None:
    for where, text in places.items():
        for form, encoded in encoded_forms(secret).items():
            assert encoded not in text, f"the secret leaked into {where} ({form})"


@pytest.mark.both_databases  # the secret in no stored row, on either database
@pytest.mark.parametrize("flow", ["create ci", "rotate ci"])
def test_revealed_secret_is_nowhere_else(
    slack, db_url, proxy, remote_iam, start_web, tmp_path, slashed_secrets, flow
) -> None:
    """LOG_LEVEL=DEBUG: the root logger, slack_sdk, botocore and urllib3 all log at DEBUG to the process's log
    file; Slack (the fake, as real Slack does) escapes `/` as `\\/` and echoes the Reveal modal back."""
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    if flow.startswith("rotate"):
        remote_iam.create_access_key(UserName="ci")  # the key the rotation replaces
    web = RemoteBot(start_web(bot_env(slack, db_url, proxy.url, LOG_LEVEL="DEBUG")).url, slack)
    db = Requests(db_url)
    rid = file_request(web, flow)
    web.click(ids.APPROVE, rid, "UBOSS")
    db.wait(rid, lambda r: r.status is Status.APPROVED)
    web.click(ids.REVEAL, rid, "UALICE")
    db.wait(rid, lambda r: r.status is Status.SUCCEEDED and r.notified_status == "succeeded")
    modal = json.loads(slack.wait_calls("views.update")[0].raw)["view"]["blocks"][1]["text"]["text"]
    secret = re.search(r"`([A-Za-z0-9/+]{40})`", modal).group(1)
    assert "/" in secret and "+" in secret
    db.db.dispose()
    places = _everywhere_but_the_modal(slack, db_url, tmp_path)
    log = places["files (database, logs)"]
    for logger in ("DEBUG slack_sdk.web.base_client", "DEBUG botocore", "DEBUG urllib3"):
        assert logger in log  # every one of them wrote at DEBUG
    assert "views.update: Received the following response (views.* bodies are not logged)" in log
    _assert_nowhere(secret, places)


@pytest.mark.both_databases  # the secret in no stored row, on either database
def test_secrets_manager_secret_is_nowhere_else(
    slack, db_url, proxy, remote_iam, moto_url, start_web, tmp_path, slashed_secrets
) -> None:
    remote_iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "UALICE"}])
    env = bot_env(slack, db_url, proxy.url, LOG_LEVEL="DEBUG", SECRET_DELIVERY="secretsmanager")
    web = RemoteBot(start_web(env).url, slack)
    db = Requests(db_url)
    rid = file_request(web, "create deployer")
    web.click(ids.APPROVE, rid, "UBOSS")
    db.wait(rid, lambda r: r.status is Status.SUCCEEDED and r.notified_status == "succeeded")
    db.db.dispose()
    stored = boto3.client(
        "secretsmanager",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    ).get_secret_value(SecretId="keywarden/default/deployer")["SecretString"]
    secret = json.loads(stored)["aws_secret_access_key"]
    assert "/" in secret
    _assert_nowhere(secret, _everywhere_but_the_modal(slack, db_url, tmp_path))


# A secret typed into Keywarden's own command or forms: not a piece of it anywhere

TYPED = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY+XAMPLEKEY"


def _pieces_of(secret: str) -> dict[str, str]:
    """Every 8-character piece of a secret, in each form text may hold it (as Slack's JSON, URL-encoded)."""
    pieces = {}
    for start in range(len(secret) - 7):
        piece = secret[start : start + 8]
        for form, encoded in encoded_forms(piece).items():
            if not form.startswith("base64"):
                pieces[f"{form} {piece!r}"] = encoded
    return pieces


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("flow", ["reason", "deny reason", "check"])
def test_a_typed_secret_leaves_no_piece_anywhere(
    slack, proxy, remote_iam, start_web, tmp_path, flow: str, log_format: str
) -> None:
    """LOG_LEVEL=DEBUG: a secret typed as a request reason, a Deny reason, or after `check <key id>` is refused
    and alerted as an exposure; no 8 characters of it reach a log line, a Slack call, a table or a reply."""
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    key_id = remote_iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    db_url = f"sqlite:///{tmp_path / 'keywarden.db'}"
    env = bot_env(slack, db_url, proxy.url, LOG_LEVEL="DEBUG", LOG_FORMAT=log_format)
    web = RemoteBot(start_web(env).url, slack)
    if flow == "reason":
        reply = web.command(f"deactivate {key_id} --now aws_secret_access_key={TYPED}", user_id="UALICE")
        assert "nothing was done" in reply.json()["text"]
    elif flow == "check":
        reply = web.command(f"check {key_id} {TYPED}", user_id="UALICE")
        assert "Never paste a secret" in reply.json()["text"]
    else:
        rid = file_request(web, f"deactivate {key_id} rotating soon")
        reason = {ids.BLOCK_REASON: {ids.INPUT: {"type": "plain_text_input", "value": f"use {key_id} {TYPED}"}}}
        reply = web.submit_view(ids.DENY_MODAL, reason, "UBOSS", private_metadata=json.dumps({"request_id": rid}))
        assert "nothing was saved" in reply.json()["errors"][ids.BLOCK_REASON]
    alert = slack.wait_posts("CALERTS")[0]
    assert key_id in alert.raw and ids.EXPOSURE_DEACTIVATE in alert.raw
    slack.wait_for(lambda calls: slack.posts_to("UALICE"))  # the owner's DM: the response is complete
    places = _everywhere_but_the_modal(slack, db_url, tmp_path) | {"the reply": reply.body}
    log = places["files (database, logs)"]
    assert ('"level": "DEBUG"' if log_format == "json" else "DEBUG slack_sdk") in log
    if flow == "deny reason":
        assert Requests(db_url).get(rid).status is Status.PENDING
    for where, text in places.items():
        for form, encoded in _pieces_of(TYPED).items():
            assert encoded not in text, f"a piece of the secret leaked into {where} ({form})"


# The pieces, one at a time


def test_fake_slack_answers_like_slack(slack: FakeSlack) -> None:
    """Every `/` escaped, and views.* answer with the whole view they were given (what makes the leaks above visible)."""
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "a/b"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "c/d"}}],
    }
    for method, params in (("views.open", {"trigger_id": "T1"}), ("views.update", {"view_id": "V9"})):
        call = urllib.request.Request(
            slack.api_url + method,
            data=json.dumps({**params, "view": view}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(call) as reply:
            raw = reply.read().decode()
        assert '"a\\/b"' in raw and "/" not in raw.replace("\\/", "")
        echoed = json.loads(raw)["view"]
        assert echoed["title"] == view["title"] and echoed["id"] and echoed["hash"]
    assert json.loads(raw)["view"]["id"] == "V9"


@pytest.fixture
def debug_log() -> Iterator[list[str]]:
    """Every record of every logger at DEBUG, as a handler formats it."""
    install_secret_redaction()
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(previous)


def test_every_encoding_of_a_handled_secret_is_redacted(debug_log: list[str]) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY+EXAMPLE/Y"
    remember_secret(secret)
    log = logging.getLogger("tests.secrets")
    texts = [encoded for form, encoded in encoded_forms(secret).items() if not form.startswith("base64")]
    for offset in range(3):  # a payload holding the secret, base64-encoded: the secret at each alignment
        payload = b"p" * offset + secret.encode() + b"&tail"
        texts += [base64.b64encode(payload).decode(), base64.urlsafe_b64encode(payload).decode()]
    for text in texts:
        log.debug('a body: {"text":"%s"}', text)
    escaped = secret.replace("/", "\\/")
    try:
        raise ValueError(f"a Slack error answer echoing {escaped}")
    except ValueError:
        log.exception("an exception's text is cleaned too")
    # Counted in what the test wrote, not in the traceback's file paths: a checkout path can hold a run of
    # 40 path characters, which the shape pattern rightly redacts too.
    bodies = [line for line in debug_log if line.startswith("DEBUG tests.secrets a body:")]
    assert len(bodies) == len(texts) and all(line.count("[redacted]") == 1 for line in bodies)
    (failure,) = [line for line in debug_log if line.startswith("ERROR tests.secrets an exception's text")]
    assert failure.splitlines()[-1] == "ValueError: a Slack error answer echoing [redacted]"
    logged = "\n".join(debug_log)
    for form, encoded in encoded_forms(secret).items():
        assert encoded not in logged, form


def test_any_piece_of_a_handled_secret_is_redacted(debug_log: list[str]) -> None:
    """A reply that quoted the first 40 characters typed (`<key id> <19 characters of the secret>`), as slash
    command replies do, in every way a body writes it; ordinary words around it stay."""
    secret = "Zq8Vw+3rKpZ/5nYtL0xHbE2aUcJ7mFs9dGi4oR1e"
    remember_secret(secret)
    log = logging.getLogger("tests.secrets")
    quoted = f"AKIAZ2N6KQXJ7PLMWXYZ {secret[:19]}"
    for text in (quoted, quoted.replace("/", "\\/"), quote(quoted, safe=""), secret[12:20], secret[-9:]):
        log.debug('{"text":"Problems with how `%s` is written"}', text)
    bodies = debug_log[-5:]
    assert all("[redacted]" in line and "Problems with how" in line for line in bodies)
    assert "AKIAZ2N6KQXJ7PLMWXYZ" in bodies[0]  # the key id is no secret
    for line in bodies:
        for start in range(len(secret) - 7):
            piece = secret[start : start + 8]
            assert piece not in line and piece.replace("/", "\\/") not in line and quote(piece, safe="") not in line
    log.debug("shorter pieces and other words stay: %s", secret[:7])
    assert debug_log[-1].endswith(secret[:7])


def test_handled_secrets_are_remembered_briefly_and_boundedly() -> None:
    now = [0.0]
    known = KnownSecrets(ttl_seconds=900, limit=2, monotonic=lambda: now[0])
    first, second, third = ("a/" * 20, "b+" * 20, "c/" * 20)
    known.add(first)
    assert known.pattern().search(first.replace("/", "\\/"))
    known.add(second)
    known.add(third)  # over the limit: the oldest is forgotten
    assert len(known) == 2 and not known.pattern().search(first)
    now[0] = 900.0  # and all of them after the time to live
    assert known.pattern() is None and len(known) == 0


def test_the_secret_shape_is_redacted_with_escaped_slashes(debug_log: list[str]) -> None:
    """A secret the bot never saw (say, pasted by someone), written by Slack's JSON: caught by its shape alone."""
    unseen = "AbCdEfGhIj/KlMnOpQrS/TuVwXyZ0123+456789a"
    logging.getLogger("tests.secrets").debug(
        'body: {"text":"%s", "repr": "%s"}', unseen.replace("/", "\\/"), unseen.replace("/", "\\\\/")
    )
    assert "[redacted]" in debug_log[-1] and "KlMnOpQrS" not in debug_log[-1]


UNSEEN = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # 40 characters, as AWS's documentation shows one


@pytest.mark.parametrize(
    "text",
    [
        f"AWS_SECRET_ACCESS_KEY={UNSEEN}",
        f"export AWS_SECRET_ACCESS_KEY={UNSEEN} AWS_REGION=eu-west-1",
        f"aws_secret_access_key={UNSEEN}",
        f"aws_secret_access_key ={UNSEEN}",
        f"aws_secret_access_key= {UNSEEN}",
        f"aws_secret_access_key = {UNSEEN}",
        f'"SecretAccessKey": "{UNSEEN}"',
        f"Action=X&SecretAccessKey={UNSEEN}&Version=2010-05-08",
        '{"text":"AWS_SECRET_ACCESS_KEY=' + UNSEEN.replace("/", "\\/") + '"}',  # as Slack's JSON writes it
    ],
)
def test_a_secret_after_a_name_and_an_equals_sign_is_redacted(debug_log: list[str], text: str) -> None:
    """A secret the bot never saw, written as an assignment: `=` in front of it is not part of its run."""
    logging.getLogger("tests.secrets").debug("pasted: %s", text)
    assert "[redacted]" in debug_log[-1] and "K7MDENG" not in debug_log[-1] and "EXAMPLEKEY" not in debug_log[-1]


def test_a_longer_base64_run_is_not_taken_for_a_secret() -> None:
    long_run = "QUJD" * 15  # 60 characters of base64: no 40-character piece of it is redacted
    assert redact(f"data={long_run}==") == f"data={long_run}=="


@pytest.mark.parametrize("client", ["the bot's client", "a client as Bolt makes per request"])
def test_views_bodies_are_never_logged(slack: FakeSlack, debug_log: list[str], client: str) -> None:
    install_secret_redaction()
    if client == "the bot's client":
        web = make_web_client("xoxb-test", slack.api_url)
    else:
        web = WebClient(token="xoxb-test", base_url=slack.api_url)  # Bolt's per-request copy: a plain WebClient
    marker = "unlogged-" + "q" * 12
    web.views_open(trigger_id="T1", view={"type": "modal", "blocks": [{"type": "section", "text": marker}]})
    web.views_update(view_id="V1", view={"type": "modal", "blocks": [{"type": "section", "text": marker}]})
    web.chat_postMessage(channel="C1", text="logged-" + "p" * 12)
    text = "\n".join(line for line in debug_log if "slack_sdk" in line)
    assert "views.open: Sending a request (views.* bodies are not logged)" in text
    assert "views.update: Received the following response (views.* bodies are not logged)" in text
    assert marker not in text and "q" * 12 not in text
    assert "logged-" + "p" * 12 in text  # other methods' bodies are still there to debug with


# SECRET_DELIVERY=secretsmanager: never a Reveal


def test_secrets_manager_mode_never_offers_or_performs_a_reveal(make_bot, aws, iam, clock) -> None:
    bot: BotServer = make_bot(SECRET_DELIVERY="secretsmanager")
    iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "UALICE"}])
    bot.command("create deployer")
    rid = filed_id(bot)
    # The process that took the approval died before it delivered: the approval is committed, nothing else.
    assert request_store(bot).approve(rid, "UBOSS")[0] == "approved"
    clock.advance(minutes=3)
    assert bot.services.recovery.resync() == 1  # housekeeping tells the requester where the request is
    dm = bot.slack.wait_for(lambda calls: dms(bot, "UALICE"))[0]
    assert ids.REVEAL not in dm and "Secrets Manager" in dm and "never shown in Slack" in dm

    bot.click(ids.REVEAL, rid, "UALICE", channel="DUALICE")  # a Reveal button from before, or a forged one
    assert wait_ephemeral(bot, "UALICE", "delivered through AWS Secrets Manager")
    assert "nothing was revealed" in wait_ephemeral(bot, "UALICE", "Secrets Manager")
    assert bot.slack.calls_to("views.open") == [] and bot.slack.calls_to("views.update") == []
    assert iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"] == []
    assert request(bot, rid).status is Status.APPROVED

    # A crash after the claim: housekeeping settles it by delivering to Secrets Manager, never with a Reveal.
    store = request_store(bot)
    assert store.transition(rid, Status.APPROVED, Status.EXECUTING, actor="keywarden", action="executing")
    clock.advance(minutes=11)
    assert bot.services.recovery.reconcile_stuck() == 1
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"]] == [
        done.new_key_id
    ]
    bot.slack.wait_for(lambda calls: request(bot, rid).notified_status == "succeeded")
    assert all(ids.REVEAL not in d for d in dms(bot, "UALICE"))
    assert not any(ids.REVEAL in c.raw for c in bot.slack.calls)


# Secrets Manager delivery: where the secret is, and names that are valid and distinct


def test_secrets_manager_dm_names_region_and_account_even_when_sent_again(make_bot, aws, iam, clock) -> None:
    bot: BotServer = make_bot(SECRET_DELIVERY="secretsmanager", SECRET_PREFIX="team/keys")
    # IAM allows `,` in user names; Secrets Manager names do not
    iam.create_user(UserName="svc,deploy", Tags=[{"Key": "owner", "Value": "UALICE"}])
    bot.command("create svc,deploy")
    rid = filed_id(bot)
    bot.slack.fail("chat.postMessage", Fault(200, {"ok": False, "error": "fatal_error"}))  # the first DM is lost
    bot.click(ids.APPROVE, rid, "UBOSS")
    done = wait_status(bot, rid, Status.SUCCEEDED)
    assert request(bot, rid).notified_status != "succeeded"
    clock.advance(minutes=3)
    bot.services.recovery.resync()
    dm = bot.slack.wait_for(lambda calls: dms(bot, "UALICE"))[0]

    name = "team/keys/default/svc/deploy"
    command = f"aws secretsmanager get-secret-value --secret-id {name} --region us-east-1"
    assert command in dm and "123456789012" in dm  # moto's account id
    assert re.fullmatch(r"[A-Za-z0-9/_+=.@-]+", name)  # the characters Secrets Manager allows
    stored = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=name)
    assert json.loads(stored["SecretString"])["aws_access_key_id"] == done.new_key_id


_IAM_USER = st.text(alphabet=string.ascii_letters + string.digits + "+=,.@_-", min_size=1, max_size=64)


@given(st.lists(_IAM_USER, min_size=2, max_size=2, unique_by=str.lower))
def test_secret_names_are_valid_and_distinct_for_every_iam_user_name(users: list[str]) -> None:
    names = [secret_name("keywarden", "prod", user) for user in users]
    assert all(re.fullmatch(r"[A-Za-z0-9/_+=.@-]{1,512}", n) for n in names)
    assert names[0] != names[1]


@pytest.mark.parametrize("prefix", ["/keys", "keys/", "a//b", "kéys", "k,eys", "k" * 201])
def test_a_secret_prefix_secrets_manager_cannot_hold_is_refused_at_start(slack: FakeSlack, prefix: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(base_env(slack, "sqlite://", SECRET_DELIVERY="secretsmanager", SECRET_PREFIX=prefix))
    assert "SECRET_PREFIX is malformed" in str(refused.value)
    assert "arn:<partition>:secretsmanager:*:*:secret:<SECRET_PREFIX>/*" in str(refused.value)


def test_a_prefix_outside_the_policy_fails_with_the_resource_to_allow(make_bot, aws, iam) -> None:
    bot: BotServer = make_bot(SECRET_DELIVERY="secretsmanager", SECRET_PREFIX="team/keys")
    iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "UALICE"}])
    bot.services.aws.account("default").client("secretsmanager").meta.events.register_first(
        "before-call.secrets-manager.CreateSecret", aws_error("AccessDeniedException", 400)
    )
    bot.command("create deployer")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, "UBOSS")
    wait_status(bot, rid, Status.FAILED)
    # The requester is told in people's words; the resource to allow is for whoever runs Keywarden (log, audit).
    assert "arn:aws:secretsmanager:*:*:secret:team/keys/*" in _failure_detail(bot, rid)
    assert iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"] == []  # the new key was deleted again


def _failure_detail(bot: BotServer, rid: str) -> str:
    """What the audit keeps of a failed request: the operator's detail, under the reference the requester saw."""
    [failed] = [e for e in bot.services.audit.all() if e.request_id == rid and e.action == "failed"]
    return failed.detail


@pytest.mark.parametrize(("region", "partition"), [("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")])
def test_the_resource_to_allow_is_in_the_accounts_partition(make_bot, aws, region: str, partition: str) -> None:
    bot: BotServer = make_bot(SECRET_DELIVERY="secretsmanager", SECRET_PREFIX="team/keys", AWS_REGION=region)
    account = bot.services.aws.account("default")
    iam = account.client("iam")  # the partition's own IAM
    iam.create_user(UserName="deployer", Tags=[{"Key": "owner", "Value": "UALICE"}])
    account.client("secretsmanager").meta.events.register_first(
        "before-call.secrets-manager.CreateSecret", aws_error("AccessDeniedException", 400)
    )
    bot.command("create deployer")
    rid = filed_id(bot)
    bot.click(ids.APPROVE, rid, "UBOSS")
    wait_status(bot, rid, Status.FAILED)
    detail = _failure_detail(bot, rid)
    assert f"arn:{partition}:secretsmanager:*:*:secret:team/keys/*" in detail
    assert "arn:aws:" not in detail
    assert iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"] == []
