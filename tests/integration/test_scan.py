"""Scans end to end: moto with keys made in the past, owners in fake Slack, memory in the database."""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from bot.domain.findings import INACTIVE_KEY, KEY_AGE_WARNING, KEY_TOO_OLD, KEY_UNUSED, ROOT_KEY, TWO_ACTIVE_KEYS
from bot.domain.report import parse_credential_report
from bot.domain.requests import Status
from bot.entrypoints.cli_scan import run_scan
from bot.services.credential_report import fetch_credential_report
from bot.services.ownership import EXEMPT_REASON_TAG, EXEMPT_TAG
from bot.slack import ids
from bot.store.db import Database
from bot.store.scan_runs import Claimed, DigestClaim, ScanRuns
from tests.support.credential_report import AwsLikeReports, with_root_keys
from tests.support.fake_slack import Fault
from tests.support.flows import filed_id, make_key, tagged, wait_status
from tests.support.harness import BotServer


@pytest.fixture
def estate(bot: BotServer, iam) -> dict[str, str]:
    """A small account with one key for every kind of finding, owned by people Slack knows (or not)."""
    now = bot.services.clock()
    bot.slack.add_user("UALICE", email="alice@example.com")
    bot.slack.add_user("UBOB", email="bob@example.com")
    tagged(iam, "old-svc", owner="Alice@Example.com")
    tagged(iam, "warn-svc", owner="UBOB")
    tagged(iam, "fresh-svc", owner="alice@example.com")
    tagged(iam, "pair-svc")
    tagged(iam, "ghost-svc", owner="ghost@example.com")
    iam.create_user(
        UserName="exempt-svc", Tags=[{"Key": EXEMPT_TAG, "Value": "true"}, {"Key": EXEMPT_REASON_TAG, "Value": "HSM"}]
    )
    tagged(iam, "left-svc", owner="bob@example.com")
    keys = {
        "old": make_key(iam, "old-svc", 120, now),
        "warn": make_key(iam, "warn-svc", 85, now, used_days_ago=1),
        "fresh": make_key(iam, "fresh-svc", 10, now, used_days_ago=1),
        "pair1": make_key(iam, "pair-svc", 20, now, used_days_ago=2),
        "pair2": make_key(iam, "pair-svc", 5, now, used_days_ago=1),
        "ghost": make_key(iam, "ghost-svc", 100, now, used_days_ago=3),
        "exempt": make_key(iam, "exempt-svc", 300, now, used_days_ago=3),
        "left": make_key(iam, "left-svc", 30, now),
    }
    iam.update_access_key(UserName="left-svc", AccessKeyId=keys["left"], Status="Inactive")
    return keys


def codes(report) -> set[tuple[str, str]]:
    return {(f.subject, f.code) for f in report.findings}


def digests(bot: BotServer) -> list:
    return bot.slack.posts_to("CALERTS")


def test_scan_finds_notifies_owners_once_and_remembers(bot: BotServer, estate: dict[str, str]) -> None:
    report, delivery = bot.services.scan(post=True)
    assert codes(report) == {
        (estate["old"], KEY_TOO_OLD),
        (estate["old"], KEY_UNUSED),
        (estate["warn"], KEY_AGE_WARNING),
        ("user:pair-svc", TWO_ACTIVE_KEYS),
        (estate["ghost"], KEY_TOO_OLD),
        (estate["exempt"], KEY_TOO_OLD),
        (estate["left"], INACTIVE_KEY),
    }
    exempt = next(f for f in report.findings if f.key_id == estate["exempt"])
    assert exempt.exempt_reason == "HSM"
    users_with_findings = len({f.user for f in report.findings})
    assert report.iam_calls <= 5 + users_with_findings

    dms = {c.params["channel"]: c.raw for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"][0] == "U"}
    assert set(dms) == {"UALICE", "UBOB"}  # one DM per owner, resolved by email and by Slack id
    assert estate["old"] in dms["UALICE"] and estate["fresh"] not in dms["UALICE"]
    assert estate["warn"] in dms["UBOB"] and estate["left"] in dms["UBOB"]
    for action in (ids.ALERT_ROTATE, ids.ALERT_DEACTIVATE, ids.ALERT_SNOOZE):
        assert action in dms["UALICE"]
    assert delivery.owners_messaged == 2

    (digest,) = digests(bot)
    text = digest.raw
    assert "ghost@example.com" in text and "matches no Slack user" in text
    assert "no owner tag" in text and "1 exempt" in text
    thread = bot.slack.posts_to("CALERTS", in_thread=True)
    assert len(thread) == 1 and estate["ghost"] in thread[0].raw

    calls_before = len(bot.slack.calls)
    _, again = bot.services.scan(post=True)  # the same findings the same day: nobody is told anything again
    new_calls = bot.slack.calls[calls_before:]
    assert [c.method for c in new_calls if c.method != "users.lookupByEmail"] == []
    assert again.owners_messaged == 0 and not again.digest_posted
    assert again.digest_already_posted_at is not None


def test_scan_post_run_twice_posts_its_digest_once_unless_forced(bot: BotServer, estate) -> None:
    settings = bot.services.settings
    first, second, forced = io.StringIO(), io.StringIO(), io.StringIO()
    assert run_scan(settings, post=True, out=io.StringIO(), err=first) == 1
    assert "posted: digest sent" in first.getvalue() and len(digests(bot)) == 1
    assert run_scan(settings, post=True, out=io.StringIO(), err=second) == 1
    line = next(x for x in second.getvalue().splitlines() if x.startswith("posted:"))
    assert re.fullmatch(
        r"posted: digest not sent again \(the same digest was posted at \d{4}-\d\d-\d\d \d\d:\d\d UTC; --force sends "
        r"it\), 0 owner\(s\) messaged",
        line,
    ), line
    assert len(digests(bot)) == 1
    assert run_scan(settings, post=True, force=True, out=io.StringIO(), err=forced) == 1
    assert "posted: digest sent" in forced.getvalue() and len(digests(bot)) == 2
    alone = io.StringIO()
    assert run_scan(settings, post=False, force=True, out=io.StringIO(), err=alone) == 2
    assert alone.getvalue() == "keywarden: scan: --force goes with --post (it posts the digest again)\n"


@pytest.mark.both_databases  # the claim is a database behaviour
def test_a_digest_claimed_by_several_runs_at_once_is_posted_by_one(database_url: str, clock) -> None:
    db = Database(database_url)
    runs, now = ScanRuns(db), clock()
    claim = DigestClaim("CALERTS", now.date().isoformat(), "f" * 32)
    results: list[Claimed] = []

    def deliver() -> None:
        results.append(runs.claim_digest(now, now, "cli", claim, now))

    together = [threading.Thread(target=deliver) for _ in range(4)]
    for t in together:
        t.start()
    for t in together:
        t.join()
    try:
        assert sorted(r.posted_at is None for r in results) == [False, False, False, True]
        (mine,) = [r for r in results if r.posted_at is None]
        runs.digest_done(mine.run_id, posted=False, now=now)  # Slack refused it: the next run posts it
        assert runs.claim_digest(now, now, "cli", claim, now).posted_at is None
        assert runs.claim_digest(now, now, "cli", replace(claim, day="2026-01-02"), now).posted_at is None
    finally:
        db.dispose()


def test_key_ids_seen_before_spare_list_access_keys(bot: BotServer, estate: dict[str, str], iam) -> None:
    client = bot.services.aws.account(bot.services.aws.aliases[0])

    def listings() -> int:
        return client.calls["iam:ListAccessKeys"]

    first, _ = bot.services.scan(post=False)
    flagged = {f.user for f in first.findings}
    assert listings() == len(flagged)

    before = listings()
    second, _ = bot.services.scan(post=False)
    assert listings() == before  # every flagged user's key ids were known from the first scan
    assert codes(second) == codes(first)

    new = make_key(iam, "old-svc", 0, bot.services.clock())  # a key the memory has never seen
    before = listings()
    third, _ = bot.services.scan(post=False)
    assert listings() == before + 1  # old-svc alone is listed again
    assert (estate["old"], KEY_TOO_OLD) in codes(third) and ("user:old-svc", TWO_ACTIVE_KEYS) in codes(third)
    assert new not in {f.subject for f in third.findings}  # the new key itself has no finding

    iam.delete_access_key(UserName="old-svc", AccessKeyId=estate["old"])
    fourth, _ = bot.services.scan(post=False)
    assert estate["old"] not in {f.subject for f in fourth.findings}


def test_reminders_come_back_after_the_interval_and_when_worse(bot: BotServer, estate, clock) -> None:
    bot.services.scan(post=True)
    clock.advance(days=6)  # warn-svc's key is now 91 days old: worse (reminder -> overdue)
    calls_before = len(bot.slack.calls)
    report, delivery = bot.services.scan(post=True)
    assert (estate["warn"], KEY_TOO_OLD) in codes(report)
    dms = [
        c for c in bot.slack.calls[calls_before:] if c.method == "chat.postMessage" and c.params["channel"][0] == "U"
    ]
    assert [c.params["channel"] for c in dms] == ["UBOB"]
    clock.advance(days=2)
    _, delivery = bot.services.scan(post=True)
    assert delivery.owners_messaged == 2  # 8 days after the first notice: everyone is reminded


def test_resolved_findings_are_counted(bot: BotServer, estate, iam) -> None:
    bot.services.scan(post=True)
    iam.delete_access_key(UserName="left-svc", AccessKeyId=estate["left"])
    _, delivery = bot.services.scan(post=True)
    assert delivery.resolved == 1
    assert "1 resolved since the last scan" in digests(bot)[-1].raw


def test_snooze_silences_a_key(bot: BotServer, estate, clock) -> None:
    bot.services.scan(post=True)
    bot.click(ids.ALERT_SNOOZE, f"default|{estate['old']}", "UBOB", channel="DUBOB")
    reply = bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "response_url"])[0]
    assert "Only the key's owner or an approver" in reply.raw
    bot.click(ids.ALERT_SNOOZE, f"default|{estate['old']}", "UALICE", channel="DALICE")
    bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "response_url" and "snoozed until" in c.raw])
    clock.advance(days=6)
    report, _ = bot.services.scan(post=True)
    assert all(f.snoozed for f in report.findings if f.key_id == estate["old"])
    assert "2 snoozed" in digests(bot)[-1].raw  # too old and unused: two findings on one key
    clock.advance(days=2)  # the snooze is over, and so is the reminder interval
    before = len(bot.slack.calls)
    report, _ = bot.services.scan(post=True)
    assert not any(f.snoozed for f in report.findings)
    assert [c for c in bot.slack.calls[before:] if c.params.get("channel") == "UALICE"]


def test_alert_deactivate_button_files_a_request(bot: BotServer, estate) -> None:
    bot.services.scan(post=True)
    bot.click(ids.ALERT_DEACTIVATE, f"default|{estate['old']}", "UALICE", channel="DALICE")
    filed = bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "response_url" and "filed" in c.raw])
    assert estate["old"] in filed[0].raw
    approvals = [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "CAPPROVE"]
    assert approvals and estate["old"] in approvals[0].raw


def test_configured_exemptions(make_bot, aws, iam, slack) -> None:
    bot = make_bot(EXEMPT="old-svc")
    tagged(iam, "old-svc", owner="alice@example.com")
    make_key(iam, "old-svc", 120, bot.services.clock(), used_days_ago=1)
    report, delivery = bot.services.scan(post=True)
    assert [f.exempt_reason for f in report.findings] == ["exempt by configuration"]
    assert delivery.owners_messaged == 0


def test_rate_limited_digest_is_retried(bot: BotServer, estate) -> None:
    bot.slack.fail("chat.postMessage", Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}))
    _, delivery = bot.services.scan(post=True)
    assert delivery.digest_posted and len(digests(bot)) == 1
    assert bot.slack.attempts["chat.postMessage"] > len(bot.slack.calls_to("chat.postMessage"))


def test_failed_dm_is_sent_at_the_next_scan(bot: BotServer, estate) -> None:
    bot.slack.fail("chat.postMessage", *[Fault(200, {"ok": False, "error": "channel_not_found"})])
    _, first = bot.services.scan(post=True)
    assert first.failed_dms == 1 and first.owners_messaged == 1
    _, second = bot.services.scan(post=True)
    assert second.owners_messaged == 1  # only the owner whose DM failed hears again


def _deny_assume_role_for(role_arn: str):
    def handler(params, **_):
        if params.get("body", {}).get("RoleArn") == role_arn:
            response = AWSResponse("https://sts.amazonaws.com/", 403, {}, None)
            return response, {"Error": {"Code": "AccessDenied", "Message": "not authorized to assume"}}
        return None

    return handler


def test_two_accounts_one_failing(slack, database_url, clock, aws) -> None:
    from bot.bootstrap import bootstrap
    from bot.settings import Settings
    from tests.conftest import base_env

    denied = "arn:aws:iam::222222222222:role/keywarden"

    def session() -> boto3.Session:
        s = boto3.Session(region_name="us-east-1")
        s.events.register("before-call.sts.AssumeRole", _deny_assume_role_for(denied))
        return s

    env = base_env(slack, database_url, ACCOUNTS=f"prod=arn:aws:iam::111111111111:role/keywarden,dev={denied}")
    services = bootstrap(Settings.from_env(env), clock=clock, session_factory=session)
    prod_iam = boto3.client("iam", region_name="us-east-1", **_assumed("arn:aws:iam::111111111111:role/keywarden"))
    prod_iam.create_user(UserName="prod-ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    make_key(prod_iam, "prod-ci", 100, clock())
    report, delivery = services.scan(post=True)
    assert [a.account for a in report.accounts] == ["prod", "dev"]
    assert report.accounts[0].error is None and report.accounts[0].findings
    assert "sts:AssumeRole" in report.accounts[1].error
    assert delivery.digest_posted
    digest = json.dumps([c.params for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "CALERTS"])
    assert "could not be scanned" in digest and "dev" in digest
    services.close()


def _assumed(role_arn: str) -> dict[str, str]:
    creds = boto3.client("sts", region_name="us-east-1").assume_role(RoleArn=role_arn, RoleSessionName="test")[
        "Credentials"
    ]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def test_scan_command_is_for_approvers(bot: BotServer, estate) -> None:
    bot.command("scan")
    assert "Only approvers" in bot.slack.wait_calls("response_url")[0].raw
    bot.command("scan", user_id="UBOSS")
    done = bot.slack.wait_for(lambda calls: [c for c in calls if c.method == "response_url" and "Scan done" in c.raw])
    assert "digest posted" in done[0].raw and len(digests(bot)) == 1
    bot.command("scan", user_id="UBOSS")  # again, the same day: the digest in the channel still holds
    again = bot.slack.wait_for(lambda calls: _scans_done(calls)[1:])[0]
    assert "the same digest is already in <#CALERTS> (posted <!date^" in again.raw
    assert "not posted again" in again.raw and len(digests(bot)) == 1


def _scans_done(calls: list) -> list:
    return [c for c in calls if c.method == "response_url" and "Scan done" in c.raw]


def key_status(iam, user: str, key_id: str) -> str | None:
    keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    return keys.get(key_id)


def aws_like_reports(bot: BotServer, **kw) -> AwsLikeReports:
    return AwsLikeReports(bot.services.aws.account("default").client("iam"), bot.services.clock, **kw)


def test_reused_report_does_not_bring_back_what_keywarden_changed(bot: BotServer, estate, iam, clock) -> None:
    reports = aws_like_reports(bot)
    first, _ = bot.services.scan(post=True)
    assert {(estate["old"], KEY_TOO_OLD), (estate["left"], INACTIVE_KEY)} <= codes(first)

    # Keywarden changes two keys: a break-glass deactivation, and an approved deletion.
    bot.command(f"deactivate {estate['old']} --now leaked in a gist", user_id="UBOSS")
    bot.slack.wait_for(lambda _: key_status(iam, "old-svc", estate["old"]) == "Inactive")
    bot.command(f"delete {estate['left']} not needed any more", user_id="UBOB")
    rid = filed_id(bot, 2)  # the first post in the approval channel was the break-glass notice
    bot.click(ids.APPROVE, rid, "UBOSS")
    bot.click(ids.APPROVE, rid, "UCARL")
    wait_status(bot, rid, Status.SUCCEEDED)
    assert key_status(iam, "left-svc", estate["left"]) is None

    clock.advance(hours=1)  # AWS still answers with the report made before both changes
    listed_before = bot.services.aws.account("default").calls["iam:ListAccessKeys"]
    second, _ = bot.services.scan(post=True)
    assert reports.served_again >= 1
    stale = {u.user: u for u in parse_credential_report(reports.content, "default")}
    assert stale["old-svc"].keys[0].active and stale["left-svc"].keys  # the report still shows both keys as before
    found = codes(second)
    assert (estate["old"], KEY_TOO_OLD) not in found and (estate["old"], KEY_UNUSED) not in found
    assert (estate["old"], INACTIVE_KEY) in found  # what the key is now: deactivated, left behind
    assert estate["left"] not in {f.subject for f in second.findings}
    assert not any(f.subject.startswith("left-svc#") for f in second.findings)
    # Both users were listed again, although their key ids were known from the first scan.
    assert bot.services.aws.account("default").calls["iam:ListAccessKeys"] - listed_before == 2
    alice = [c.raw for c in bot.slack.posts_to("UALICE")]
    assert not any("Older than the limit" in dm for dm in alice[1:])


def test_listed_keys_are_judged_live_and_gone_keys_are_dropped(bot: BotServer, estate, iam) -> None:
    reports = aws_like_reports(bot)
    client = bot.services.aws.account("default")
    fetch_credential_report(client, bot.services.clock, lambda _: None)  # the report of the day is made
    # Changed outside Keywarden after the report; the scan lists these users (it has never seen their keys).
    iam.update_access_key(UserName="old-svc", AccessKeyId=estate["old"], Status="Inactive")
    iam.delete_access_key(UserName="ghost-svc", AccessKeyId=estate["ghost"])
    report, _ = bot.services.scan(post=False)
    assert reports.served_again == 1
    found = codes(report)
    assert (estate["old"], KEY_TOO_OLD) not in found and (estate["old"], INACTIVE_KEY) in found
    assert not [f for f in report.findings if f.user == "ghost-svc"]  # the slot's key is gone: no finding
    assert (estate["warn"], KEY_AGE_WARNING) in found  # untouched keys are judged as before


def test_a_change_made_during_the_scan_is_seen_before_alerting(bot: BotServer, estate, iam) -> None:
    aws_like_reports(bot)
    client = bot.services.aws.account("default")
    changed = threading.Event()

    def break_glass_now(**_) -> None:
        # GetAccountSummary comes after the account's keys were judged: Keywarden acts right then.
        if not changed.is_set():
            changed.set()
            bot.command(f"deactivate {estate['old']} --now leaked", user_id="UBOSS")
            bot.slack.wait_for(lambda _: [r for r in bot.services.audit.all() if r.action == "executed"])

    client.client("iam").meta.events.register("after-call.iam.GetAccountSummary", break_glass_now)
    report, _ = bot.services.scan(post=True)
    assert changed.is_set() and key_status(iam, "old-svc", estate["old"]) == "Inactive"
    found = codes(report)
    assert (estate["old"], KEY_TOO_OLD) not in found and (estate["old"], INACTIVE_KEY) in found
    alice = " ".join(c.raw for c in bot.slack.posts_to("UALICE"))
    assert "Older than the limit" not in alice


def test_root_with_two_keys_is_one_finding_naming_both(bot: BotServer, iam) -> None:
    now = bot.services.clock()
    aws_like_reports(
        bot,
        edit=with_root_keys(
            {"active": "true", "last_rotated": (now - timedelta(days=400)).isoformat(), "last_used_date": "N/A"},
            {
                "active": "true",
                "last_rotated": (now - timedelta(days=30)).isoformat(),
                "last_used_date": (now - timedelta(days=2)).isoformat(),
            },
        ),
    )
    report, _ = bot.services.scan(post=True)
    roots = [f for f in report.findings if f.subject == "root"]
    assert [f.code for f in roots] == [ROOT_KEY]
    message = roots[0].finding.message
    assert "2 access keys" in message
    assert f"created {now - timedelta(days=400):%Y-%m-%d}, never used" in message
    assert f"created {now - timedelta(days=30):%Y-%m-%d}, last used {now - timedelta(days=2):%Y-%m-%d}" in message
    (digest,) = digests(bot)
    assert digest.raw.count("Root access key") == 1


def test_an_owner_tag_holding_a_slack_user_id_gets_the_scan_dm(bot: BotServer, iam) -> None:
    """The ownership index keeps owner tags lower-case (for matching emails); the scan resolves the tag as
    written, so a Slack user id (upper-case, as SlackDirectory.user_id_for requires) still reaches its owner."""
    now = bot.services.clock()
    bot.slack.add_user("U024BE7LH", email="lee@example.com")
    bot.slack.add_user("W012A3CDE", email="grid@example.com")  # an Enterprise Grid id
    tagged(iam, "lee-svc", owner="U024BE7LH")
    tagged(iam, "grid-svc", owner=" W012A3CDE ")
    keys = {"lee": make_key(iam, "lee-svc", 120, now), "grid": make_key(iam, "grid-svc", 120, now)}
    _, delivery = bot.services.scan(post=True)
    assert bot.services.index.get("default", "lee-svc").owner == "u024be7lh"  # what the suspicion rests on
    assert keys["lee"] in bot.slack.posts_to("U024BE7LH")[0].raw
    assert keys["grid"] in bot.slack.posts_to("W012A3CDE")[0].raw
    assert delivery.owners_messaged == 2 and "matches no Slack user" not in digests(bot)[0].raw
