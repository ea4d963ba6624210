"""A web process killed (SIGKILL) after its AWS call reached AWS and before it recorded the outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.harness import RemoteBot
from tests.support.processes import Process
from tests.support.remote import file_request, start_bot
from tests.support.slack_text import fallback_text

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL


def _restart_clock(env: dict[str, str], tmp_path: Path) -> Process:
    """The clock process, as the Procfile starts it; a new leader reconciles at once."""
    return Process("clock", env | {"RECONCILE_AFTER_MINUTES": "0"}, tmp_path, tmp_path / "clock.log")


def test_killed_after_deactivating_is_reconciled_not_repeated(
    slack, shared_db, proxy, remote_iam, start_web, tmp_path
) -> None:
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    key = remote_iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    env, process, web, db = start_bot(start_web, slack, shared_db, proxy.url)
    rid = file_request(web, f"deactivate {key}")
    db.wait(rid, lambda r: r.message_ts is not None)

    proxy.after["UpdateAccessKey"] = process.kill
    web.click(ids.APPROVE, rid, "UBOSS")
    stuck = db.wait(rid, lambda r: r.status is Status.EXECUTING and process.proc.poll() is not None)
    assert stuck.result is None
    assert remote_iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"

    clock = _restart_clock(env, tmp_path)
    try:
        done = db.wait(rid, lambda r: r.status is Status.SUCCEEDED)
    finally:
        clock.stop()
    assert "confirmed in AWS" in done.result
    assert proxy.calls["UpdateAccessKey"] == 1  # never run twice
    assert slack.wait_for(
        lambda calls: [c for c in calls if c.method == "chat.postMessage" and c.params["channel"] == "UALICE"]
    )
    db.db.dispose()


def test_killed_after_creating_a_key_deletes_the_orphan(
    slack, shared_db, proxy, remote_iam, start_web, tmp_path
) -> None:
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    env, process, web, db = start_bot(start_web, slack, shared_db, proxy.url)
    rid = file_request(web, "create ci")
    db.wait(rid, lambda r: r.message_ts is not None)
    web.click(ids.APPROVE, rid, "UBOSS")
    db.wait(rid, lambda r: r.status is Status.APPROVED and r.notified_status == "approved")

    proxy.after["CreateAccessKey"] = process.kill
    web.click(ids.REVEAL, rid, "UALICE", channel="DUALICE")
    db.wait(rid, lambda r: r.status is Status.EXECUTING and process.proc.poll() is not None)
    (orphan,) = remote_iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]

    clock = _restart_clock(env, tmp_path)
    try:
        released = db.wait(rid, lambda r: r.status is Status.APPROVED)
    finally:
        clock.stop()
    assert remote_iam.list_access_keys(UserName="ci")["AccessKeyMetadata"] == []
    assert proxy.calls["CreateAccessKey"] == 1 and proxy.calls["DeleteAccessKey"] == 1
    assert released.new_key_id is None
    reveal_dms = slack.wait_for(
        lambda calls: [c for c in calls if c.params.get("channel") == "UALICE" and ids.REVEAL in c.raw]
    )
    assert len(reveal_dms) == 2  # the first Reveal, and the one offered again after the crash
    db.db.dispose()
    assert orphan["AccessKeyId"]


def test_a_break_glass_after_the_crash_is_not_undone_by_recovery(
    slack, shared_db, proxy, remote_iam, start_web, tmp_path
) -> None:
    remote_iam.create_user(UserName="ci", Tags=[{"Key": "owner", "Value": "UALICE"}])
    key = remote_iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    remote_iam.update_access_key(UserName="ci", AccessKeyId=key, Status="Inactive")
    env, process, web, db = start_bot(start_web, slack, shared_db, proxy.url)
    rid = file_request(web, f"reactivate {key}")
    db.wait(rid, lambda r: r.message_ts is not None)

    proxy.after["UpdateAccessKey"] = process.kill  # reactivated in AWS, never recorded
    web.click(ids.APPROVE, rid, "UBOSS")
    db.wait(rid, lambda r: r.status is Status.EXECUTING and process.proc.poll() is not None)
    # Meanwhile an approver suspects a compromise and switches the key off at once, through another process.
    other = RemoteBot(start_web(env, name="web2").url, slack)
    glass = file_request(other, f"deactivate {key} --now leaked", user="UCARL")
    db.wait(glass, lambda r: r.status is Status.SUCCEEDED)

    clock = _restart_clock(env, tmp_path)
    try:
        stale = db.wait(rid, lambda r: r.status is Status.FAILED)
    finally:
        clock.stop()
    assert remote_iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert proxy.calls["UpdateAccessKey"] == 2  # the reactivation and the break-glass; recovery changed nothing
    assert stale.result.startswith("not finished: the key was deactivated at once by <@UCARL>")
    assert "file a new request" in stale.result
    # Slack shows the time in the reader's zone; the audit log keeps plain UTC.
    [detail] = [e.detail for e in db.store.audit.recent(rid) if e.action == "failed"]
    assert fallback_text(stale.result) == detail and "<!date^" in stale.result and " UTC (break-glass" in detail
    assert slack.wait_for(
        lambda calls: [
            c for c in calls if c.params.get("channel") != "CAPPROVE" and "not finished" in c.raw and rid in c.raw
        ]
    )  # the requester is told, in their DM
    db.db.dispose()
