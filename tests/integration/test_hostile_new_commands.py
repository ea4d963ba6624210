"""This wave's commands as a hostile workspace member would use them: broadcasts and mentions in the text are inert
wherever the text is shown, someone else's key gets nothing, and a secret typed into a time-bound request is kept
nowhere."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.models import AuditEvent
from tests.support.flows import filed_id, wait_ephemeral
from tests.support.harness import BotServer
from tests.support.remote import encoded_forms

BROADCASTS = ("<!channel>", "<!here>", "<!everyone>", "<@UBOSS>")


def _slack_text(bot: BotServer) -> str:
    return "\n".join(c.raw for c in bot.slack.calls)


def test_broadcasts_in_a_time_bound_request_and_a_retirement_are_inert(bot: BotServer, iam, ci_user: str) -> None:
    bot.command("create ci --for 8h <!channel> <!here> <@UBOSS> for the <!everyone> release")
    filed_id(bot)
    bot.command(f"retire {ci_user} --role app-role <!channel> please")
    bot.slack.wait_for(lambda calls: "retire" in _slack_text(bot) or len(bot.slack.calls_to("response_url")) >= 2)
    shown = _slack_text(bot)
    for broadcast in BROADCASTS:
        assert broadcast not in shown, broadcast  # escaped (&lt;!channel&gt;) wherever the reason is written


def test_replace_and_retire_of_someone_elses_key_give_a_stranger_nothing(bot: BotServer, iam, ci_user: str) -> None:
    ack = bot.command(f"replace {ci_user}", user_id="UMALLORY").json()["text"]
    assert "if you may see its workload" in ack  # the ack, before the check, promises nothing
    refusal = wait_ephemeral(bot, "UMALLORY", "Only the owner")
    assert "Only the owner of `ci`" in refusal and "Nothing was read from CloudTrail" in refusal
    assert "AWSTemplateFormatVersion" not in _slack_text(bot)  # no template reached anyone
    assert not bot.slack.files  # and no file was uploaded
    with bot.services.db.session() as s:
        refused = s.scalars(select(AuditEvent).where(AuditEvent.actor == "UMALLORY")).all()
    assert refused, "the stranger's attempt is in the audit"


def test_a_secret_typed_into_a_time_bound_request_is_kept_nowhere(bot: BotServer, iam, ci_user: str) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"  # the shape of a secret access key
    bot.command(f"create ci --for 8h because {secret}")
    bot.slack.wait_for(lambda calls: len(calls) >= 1)
    with bot.services.db.session() as s:
        stored = "\n".join(repr(e.detail) + repr(e.action) for e in s.scalars(select(AuditEvent)).all())
    shown = _slack_text(bot)
    for form, encoded in encoded_forms(secret).items():
        assert encoded not in shown, f"the secret reached Slack ({form})"
        assert encoded not in stored, f"the secret reached the audit ({form})"
