"""GET /healthz for orchestrators (Slack, AWS and the scheduler's lease, asked at most every 30 s), GET /livez,
and what the web app says when requests fail their signature."""

from __future__ import annotations

import logging

import pytest

from bot.entrypoints.probes import Dependencies
from bot.entrypoints.scheduler import make_lease
from bot.entrypoints.web import SignatureWarning
from tests.support.harness import BotServer, healthy_body


@pytest.fixture
def probed(make_bot, aws) -> tuple[BotServer, list[float]]:
    """The bot, its dependency probes on a clock the test moves."""
    bot = make_bot()
    now = [0.0]
    bot.wsgi.ops.dependencies = Dependencies.of(bot.services.settings, bot.services.aws, monotonic=lambda: now[0])
    return bot, now


def test_healthz_asks_slack_and_aws_at_most_every_30_seconds_and_livez_asks_nothing(probed) -> None:
    bot, now = probed
    for _ in range(5):  # a storm of probes
        reply = bot.get("/healthz")
        assert reply.status == 200
        assert reply.json() == healthy_body()  # a web process: no scheduler of its own, and nobody holds the lease
    assert len(bot.slack.calls_to("auth.test")) == 1

    bot.slack.refused_tokens.add(bot.services.settings.slack_bot_token.get_secret_value())  # the token is revoked
    now[0] += 29
    assert bot.get("/healthz").status == 200  # the answer of 29 s ago still stands
    now[0] += 2
    down = bot.get("/healthz")
    assert down.status == 503
    assert (down.json()["status"], down.json()["slack"], down.json()["aws"]) == ("error", "invalid_auth", "ok")
    assert len(bot.slack.calls_to("auth.test")) == 2
    calls = len(bot.slack.calls)
    live = bot.get("/livez")
    assert (live.status, live.json()) == (200, {"status": "ok"})  # alive: restarting it would not help
    assert len(bot.slack.calls) == calls


def test_healthz_of_a_web_process_says_whether_any_scheduler_holds_the_lease(probed) -> None:
    bot, _ = probed
    assert bot.get("/healthz").json()["scheduler"] == "none"
    lease = make_lease(bot.services)  # a clock process elsewhere (SQLite: the lease row; PostgreSQL: the lock)
    assert lease.acquire()
    try:
        assert bot.get("/healthz").json()["scheduler"] == "elsewhere"
    finally:
        lease.release()
    assert bot.get("/healthz").json()["scheduler"] == "none"


def test_a_wrong_signing_secret_is_one_warning_a_minute_naming_it(
    make_bot, aws, caplog: pytest.LogCaptureFixture
) -> None:
    bot = make_bot()
    now = [1000.0]
    bot.wsgi.signatures = SignatureWarning(monotonic=lambda: now[0])
    body = "command=%2Fawskeys&text=help&user_id=UALICE&response_url=x"
    forged = bot.signed_headers(body) | {"X-Slack-Signature": "v0=" + "0" * 64}
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert bot.post(body, forged).status == 401
        now[0] += 61
        assert bot.post(body, forged).status == 401
    # (waitress may add "Task queue depth" warnings of its own on a busy machine)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("bot.")]
    assert len(warnings) == 2
    assert warnings[0].startswith("1 request(s) to /slack/events refused")
    assert warnings[1].startswith("3 request(s) to /slack/events refused")
    assert all("SLACK_SIGNING_SECRET" in w for w in warnings)


def test_bolt_does_not_warn_at_every_start_that_the_token_is_unused(
    make_bot, aws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")  # as every deployment sets it; Bolt reads it too
    with caplog.at_level(logging.WARNING):
        make_bot()
    assert not [r for r in caplog.records if "will be unused" in r.getMessage()]
