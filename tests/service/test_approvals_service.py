"""The approval workflow called directly: filing, decisions, execution, Reveal and recovery, as bootstrap wires
them, with IAM and Slack in memory (tests/support/fake_iam.py, fake_notifier.py) and time from the test clock.

The same workflow through signed HTTP requests into a running bot: tests/integration/test_approvals.py.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy

from bot.aws import AwsPermissionDenied, AwsThrottled, AwsUnavailable
from bot.domain.keys import ACTIVE, INACTIVE, InputError
from bot.domain.outcomes import (
    AlreadyCounted,
    AlreadyDecided,
    AlreadyRevealed,
    Cancelled,
    Counted,
    Denied,
    Executed,
    ExpiredBeforeClick,
    NotApprover,
    NotRequester,
    NotShown,
    NotYours,
    OwnRequest,
    Shown,
    StoredNotShown,
    WindowNotOpened,
)
from bot.domain.requests import Status
from bot.slack import ids
from tests.support.flows import BOSS, CARL, MALLORY, REQUESTER
from tests.support.service_world import APPROVAL_CHANNEL, ServiceWorld

UPDATE, DELETE, CREATE = "iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:CreateAccessKey"


def writes(world: ServiceWorld) -> int:
    """AWS calls that change a key, in every account."""
    counts = world.aws.call_counts()
    return counts[UPDATE] + counts[DELETE] + counts[CREATE]


def dm_texts(world: ServiceWorld, user: str = REQUESTER) -> list[str]:
    return [m.raw for m in world.slack.dms(user)]


# Filing


def test_filing_checks_the_live_key_state_and_refuses_with_the_reason(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci", age_days=30)
    refusals = {
        f"delete {key}": "is active: deactivate it first",
        f"reactivate {key}": f"`{key}` is already active.",
        "deactivate AKIAZZZZZZZZZZZZZZZZ": "was not found in any configured account",
        "create ghost": "No IAM user `ghost`.",
    }
    for text, reason in refusals.items():
        with pytest.raises(InputError, match=re.escape(reason)):
            world.file(text)

    world.iam.set_status_by_hand("ci", key, INACTIVE)  # changed in AWS since anyone looked
    with pytest.raises(InputError, match="is already inactive"):
        world.file(f"deactivate {key}")
    second = world.iam.add_key("ci", age_days=1)
    with pytest.raises(InputError, match=f"Delete the inactive one first: `delete {key}`"):
        world.file("create ci")
    world.iam.set_status_by_hand("ci", key, ACTIVE)
    with pytest.raises(InputError, match="already has two active keys"):
        world.file("create ci")
    with pytest.raises(InputError, match="has two active keys"):
        world.file(f"rotate {second}")

    assert world.services.filing.open_requests(REQUESTER) == []
    assert world.slack.messages == [] and writes(world) == 0


def test_a_request_is_stored_and_posted_once_per_key(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci", age_days=30)
    filed = world.file(f"deactivate {key} leaving the team")
    assert (filed.status, filed.key_id, filed.approvals_needed, filed.requester) == (Status.PENDING, key, 1, REQUESTER)
    [post] = world.slack.in_channel(APPROVAL_CHANNEL)
    assert "leaving the team" in post.raw and "30 days old" in post.raw
    assert post.buttons == [(ids.APPROVE, filed.id), (ids.DENY, filed.id)]
    assert (world.request(filed.id).channel, world.request(filed.id).message_ts) == (post.channel, post.ts)

    with pytest.raises(InputError, match=f"Request {filed.id} is already open for this key"):
        world.file(f"deactivate {key} again", requester=BOSS)
    assert len(world.slack.in_channel(APPROVAL_CHANNEL)) == 1 and writes(world) == 0


def test_keywardens_own_iam_user_is_refused(world: ServiceWorld) -> None:
    world.iam.add_user("keywarden")
    own = world.iam.add_key("keywarden")
    world.iam.runs_as_user("keywarden")
    for text, requester in (("create keywarden", REQUESTER), (f"deactivate {own} --now", BOSS)):
        with pytest.raises(InputError, match="is the IAM user Keywarden itself runs as"):
            world.file(text, requester)
    refused = [e for e in world.services.audit.all() if e.action == "refused"]
    assert [e.iam_user for e in refused] == ["keywarden", "keywarden"]
    assert world.iam.statuses("keywarden") == {own: ACTIVE} and writes(world) == 0


# Deciding


def test_approval_needs_distinct_approvers_and_never_the_requester(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci", age_days=30, status=INACTIVE)
    filed = world.file(f"delete {key} replaced")
    assert filed.approvals_needed == 2
    decisions = world.services.decisions

    assert isinstance(decisions.approve(filed.id, REQUESTER), OwnRequest)
    assert isinstance(decisions.approve(filed.id, MALLORY), NotApprover)
    counted = decisions.approve(filed.id, BOSS)
    assert isinstance(counted, Counted) and (counted.request.approvers, counted.dropped) == ((BOSS,), ())
    assert isinstance(decisions.approve(filed.id, BOSS), AlreadyCounted)
    assert world.request(filed.id).status is Status.PENDING and world.iam.calls[DELETE] == 0
    assert "Approved by <@UBOSS> (1 of 2)" in world.slack.in_channel(APPROVAL_CHANNEL)[0].raw

    assert isinstance(decisions.approve(filed.id, CARL), Executed)  # the approval that completes the count executes
    done = world.request(filed.id)
    assert (done.status, done.approvers, done.decided_by) == (Status.SUCCEEDED, (BOSS, CARL), CARL)
    assert world.iam.statuses("ci") == {} and world.iam.calls[DELETE] == 1
    trail = ["requested", "refused", "refused", "approval", "approval", "approved", "executing", "executed"]
    assert world.actions(filed.id) == trail


def test_an_approver_cannot_approve_their_own_request(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}", requester=BOSS)
    assert filed.approvals_needed == 2  # Boss does not own `ci`
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), OwnRequest)
    assert isinstance(world.services.decisions.deny(filed.id, BOSS, "no"), OwnRequest)
    assert world.request(filed.id).approvers == () and world.iam.calls[UPDATE] == 0


def test_deny_ends_the_request_with_the_reason(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    decisions = world.services.decisions
    assert isinstance(decisions.deny(filed.id, MALLORY, "mine"), NotApprover)
    assert isinstance(decisions.deny(filed.id, BOSS, "still in use by prod"), Denied)

    denied = world.request(filed.id)
    assert (denied.status, denied.decided_by, denied.deny_reason) == (Status.DENIED, BOSS, "still in use by prod")
    assert any("Denied" in d and "still in use by prod" in d for d in dm_texts(world))
    assert ids.APPROVE not in world.slack.in_channel(APPROVAL_CHANNEL)[0].raw  # the buttons are gone
    late = decisions.approve(filed.id, CARL)  # the words: tests/unit/test_replies.py
    assert isinstance(late, AlreadyDecided) and (late.request.status, late.request.decided_by) == (Status.DENIED, BOSS)
    assert world.iam.statuses("ci") == {key: ACTIVE} and writes(world) == 0


def test_undecided_requests_expire(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    decisions = world.services.decisions
    world.clock.advance(hours=23)
    assert decisions.expire_due() == 0
    world.clock.advance(hours=2)
    assert decisions.expire_due() == 1 and decisions.expire_due() == 0
    assert world.request(filed.id).status is Status.EXPIRED
    assert "Expired" in world.slack.in_channel(APPROVAL_CHANNEL)[0].raw
    assert any("Expired" in d for d in dm_texts(world))
    late = decisions.approve(filed.id, BOSS)
    assert isinstance(late, AlreadyDecided) and late.request.status is Status.EXPIRED
    assert writes(world) == 0


def test_an_approval_after_the_expiry_expires_the_request_instead(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    world.clock.advance(hours=24, seconds=1)  # no sweep has run
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), ExpiredBeforeClick)
    expired = world.request(filed.id)
    assert (expired.status, expired.approvers) == (Status.EXPIRED, ())
    assert world.iam.statuses("ci") == {key: ACTIVE} and writes(world) == 0


def test_the_requester_cancels(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    decisions = world.services.decisions
    assert decisions.cancel(filed.id, BOSS) == NotYours(filed.id)
    assert isinstance(decisions.cancel(filed.id, REQUESTER), Cancelled)
    assert world.request(filed.id).status is Status.CANCELLED
    again = decisions.cancel(filed.id, REQUESTER)  # who ended it and when, for the words
    assert isinstance(again, AlreadyDecided) and again.request == world.request(filed.id)
    late = decisions.approve(filed.id, BOSS)
    assert isinstance(late, AlreadyDecided) and late.request.status is Status.CANCELLED
    assert world.services.filing.open_requests(REQUESTER) == [] and writes(world) == 0


# Executing


def test_the_aws_call_runs_once_however_often_the_request_is_run(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Executed)
    assert world.request(filed.id).status is Status.SUCCEEDED
    late = world.services.decisions.approve(filed.id, CARL)
    assert isinstance(late, AlreadyDecided) and (late.request.status, late.request.decided_by) == (
        Status.SUCCEEDED,
        BOSS,
    )
    world.clock.advance(minutes=11)
    assert world.services.recovery.reconcile_stuck() == 0
    assert world.iam.calls[UPDATE] == 1 and world.iam.statuses("ci") == {key: INACTIVE}
    assert [d for d in dm_texts(world) if "Done" in d]


def test_a_decision_left_unrun_is_run_once_by_either_of_two_processes(make_world, world: ServiceWorld) -> None:
    other = make_world(aws=world.aws)  # a second process: the same database, the same AWS
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    assert world.store.approve(filed.id, BOSS).outcome == "approved"  # then the process died

    assert world.services.recovery.reconcile_stuck() == 0  # too recent: it may still be running
    world.clock.advance(minutes=11)
    assert other.services.recovery.reconcile_stuck() == 1
    assert world.services.recovery.reconcile_stuck() == 0
    assert world.request(filed.id).status is Status.SUCCEEDED
    assert world.iam.calls[UPDATE] == 1 and world.iam.statuses("ci") == {key: INACTIVE}


def test_a_lost_answer_is_settled_by_asking_aws_and_never_repeated(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    world.iam.fail(UPDATE, AwsUnavailable, applied=True)  # AWS deactivated it; the answer never came back
    listed = world.iam.calls["iam:ListAccessKeys"]

    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Executed)
    done = world.request(filed.id)
    assert done.status is Status.SUCCEEDED and "confirmed in AWS after a connection error" in done.result
    assert world.iam.calls[UPDATE] == 1 and world.iam.calls["iam:ListAccessKeys"] == listed + 1
    assert world.iam.statuses("ci") == {key: INACTIVE}
    world.clock.advance(minutes=11)
    world.services.recovery.reconcile_stuck()
    assert world.iam.calls[UPDATE] == 1


def test_a_call_that_never_reached_aws_fails_without_a_retry(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    world.iam.fail(UPDATE, AwsUnavailable)  # lost on the way: AWS changed nothing
    world.services.decisions.approve(filed.id, BOSS)
    failed = world.request(filed.id)
    assert failed.status is Status.FAILED and "AWS shows that nothing was changed" in failed.result
    assert world.iam.calls[UPDATE] == 1 and world.iam.statuses("ci") == {key: ACTIVE}
    assert [d for d in dm_texts(world) if "Failed" in d]


def test_an_outcome_aws_cannot_tell_yet_is_settled_later_by_recovery(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    world.iam.fail(UPDATE, AwsUnavailable, applied=True)
    world.iam.fail("iam:ListAccessKeys", AwsThrottled)  # asking what happened fails too
    world.services.decisions.approve(filed.id, BOSS)
    assert world.request(filed.id).status is Status.EXECUTING
    assert any("Running" in d for d in dm_texts(world))

    world.clock.advance(minutes=11)
    assert world.services.recovery.reconcile_stuck() == 1
    done = world.request(filed.id)
    assert done.status is Status.SUCCEEDED and "confirmed in AWS after an interruption" in done.result
    assert world.iam.calls[UPDATE] == 1


def test_access_denied_ends_the_request_failed_naming_the_permission_in_the_log(world: ServiceWorld, caplog) -> None:
    key = world.iam.add_key("ci")
    filed = world.file(f"deactivate {key}")
    world.iam.fail(UPDATE, AwsPermissionDenied)
    world.services.decisions.approve(filed.id, BOSS)
    failed = world.request(filed.id)
    assert failed.status is Status.FAILED
    # People read what happened and whom to ask; the permission and policy file are in the log under the reference.
    assert "AWS does not allow Keywarden to do this" in failed.result and "iam:UpdateAccessKey" not in failed.result
    reference = failed.result.split("reference `")[1].split("`")[0]
    assert any(reference in r.getMessage() and "docs/iam/member-policy.json" in r.getMessage() for r in caplog.records)
    assert any("Failed" in d and f"reference `{reference}`" in d for d in dm_texts(world))
    assert world.iam.calls[UPDATE] == 1 and world.iam.statuses("ci") == {key: ACTIVE}


def test_break_glass_deactivates_at_once_and_is_refused_to_others(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    world.directory.add_person("UBOB", email="bob@example.com")
    with pytest.raises(InputError, match="Only the key's owner or an approver may use `--now`"):
        world.file(f"deactivate {key} --now", requester="UBOB")
    assert world.iam.calls[UPDATE] == 0

    glass = world.file(f"deactivate {key} --now pasted in a public gist")
    assert world.request(glass.id).status is Status.SUCCEEDED and world.iam.statuses("ci") == {key: INACTIVE}
    [notice] = world.slack.in_channel(APPROVAL_CHANNEL)
    assert "Break-glass" in notice.raw and "gist" in notice.raw and notice.buttons == []
    assert world.actions(glass.id)[0] == "break_glass" and world.iam.calls[UPDATE] == 1


def test_recovery_that_cannot_read_what_happened_since_waits_then_lets_a_break_glass_win(
    world: ServiceWorld,
) -> None:
    key = world.iam.add_key("ci", status=INACTIVE)
    filed = world.file(f"reactivate {key} back to work")
    world.iam.fail(UPDATE, AwsUnavailable, applied=True)  # reactivated; the answer is lost
    world.iam.fail("iam:ListAccessKeys", AwsThrottled)  # and asking AWS fails too: left executing
    world.services.decisions.approve(filed.id, BOSS)
    assert world.request(filed.id).status is Status.EXECUTING and world.iam.statuses("ci") == {key: ACTIVE}
    glass = world.file(f"deactivate {key} --now leaked", requester=CARL)
    assert world.request(glass.id).status is Status.SUCCEEDED and world.iam.statuses("ci") == {key: INACTIVE}
    updates = world.iam.calls[UPDATE]

    world.clock.advance(minutes=11)
    with world.services.db.engine.begin() as conn:  # the audit log cannot be read for now
        conn.execute(sqlalchemy.text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    assert world.services.recovery.reconcile_stuck() == 1
    assert world.request(filed.id).status is Status.EXECUTING  # not sure: nothing done, tried again later
    with world.services.db.engine.begin() as conn:
        conn.execute(sqlalchemy.text("ALTER TABLE audit_events_away RENAME TO audit_events"))

    world.services.recovery.reconcile_stuck()
    stale = world.request(filed.id)
    assert stale.status is Status.FAILED
    assert stale.result.startswith(f"not finished: the key was deactivated at once by <@{CARL}>")
    assert world.iam.calls[UPDATE] == updates and world.iam.statuses("ci") == {key: INACTIVE}
    assert world.actions(filed.id)[-1] == "failed"
    assert any("not finished" in d for d in dm_texts(world))


# Reveal


def approved_create(world: ServiceWorld) -> str:
    filed = world.file("create ci for the new pipeline")
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Executed)
    assert world.request(filed.id).status is Status.APPROVED
    return filed.id


def test_reveal_creates_the_key_once_and_shows_its_secret_once(world: ServiceWorld) -> None:
    world.iam.add_key("ci", age_days=30)
    rid = approved_create(world)
    [dm] = world.slack.dms(REQUESTER)
    assert (ids.REVEAL, rid) in dm.buttons and world.iam.calls[CREATE] == 0  # nothing made before the Reveal
    reveal = world.services.secret_delivery

    assert isinstance(reveal.reveal(rid, MALLORY), NotRequester)
    assert isinstance(reveal.reveal(rid, REQUESTER, trigger_id="T-reveal"), Shown)
    [new] = world.iam.created
    done = world.request(rid)
    assert (done.status, done.new_key_id) == (Status.SUCCEEDED, new.key_id)
    assert world.slack.opened == ["T-reveal"]
    [view] = world.slack.views.values()
    assert new.secret in view.raw and new.key_id in view.raw

    assert isinstance(reveal.reveal(rid, REQUESTER), AlreadyRevealed)
    assert world.iam.calls[CREATE] == 1 and len(world.iam.statuses("ci")) == 2
    assert all(new.secret not in m.raw for m in world.slack.messages)
    assert all(new.secret not in (e.detail or "") for e in world.services.audit.all())
    assert new.secret not in (done.result or "")
    assert world.actions(rid)[-2:] == ["reveal_started", "revealed"]


def test_reveal_when_slack_cannot_show_the_window(world: ServiceWorld) -> None:
    rid = approved_create(world)
    reveal = world.services.secret_delivery
    world.slack.fail("open_view")
    assert reveal.reveal(rid, REQUESTER) == WindowNotOpened(rid)
    assert world.iam.calls[CREATE] == 0 and world.request(rid).status is Status.APPROVED

    world.slack.fail("update_view")
    not_shown = reveal.reveal(rid, REQUESTER)
    assert isinstance(not_shown, NotShown) and not_shown.reference is None  # deleted again, Reveal offered again
    assert world.iam.calls[CREATE] == 1 and world.iam.calls[DELETE] == 1 and world.iam.statuses("ci") == {}
    assert world.request(rid).status is Status.APPROVED

    assert isinstance(reveal.reveal(rid, REQUESTER), Shown)
    assert world.request(rid).status is Status.SUCCEEDED and world.iam.calls[CREATE] == 2


def test_a_key_whose_creation_answer_was_lost_is_deleted_and_offered_again(world: ServiceWorld) -> None:
    rid = approved_create(world)
    world.iam.fail(CREATE, AwsUnavailable, applied=True)  # the key exists; nobody saw its secret
    assert isinstance(world.services.secret_delivery.reveal(rid, REQUESTER), Shown)
    [orphan] = world.iam.created
    assert world.iam.statuses("ci") == {} and world.iam.calls[DELETE] == 1
    assert world.request(rid).status is Status.APPROVED
    assert any(orphan.key_id in (e.detail or "") for e in world.services.audit.all() if e.action == "reconciled")
    assert "Click *Reveal* again" in next(iter(world.slack.views.values())).raw

    assert isinstance(world.services.secret_delivery.reveal(rid, REQUESTER), Shown)
    assert world.request(rid).new_key_id in world.iam.statuses("ci") and world.iam.calls[CREATE] == 2


def test_an_approved_key_never_revealed_expires(world: ServiceWorld) -> None:
    rid = approved_create(world)
    world.clock.advance(hours=25)
    assert world.services.decisions.expire_due() == 1
    expired = world.services.secret_delivery.reveal(rid, REQUESTER)  # the words: tests/unit/test_replies.py
    assert isinstance(expired, AlreadyDecided) and expired.request.status is Status.EXPIRED
    assert world.iam.calls[CREATE] == 0 and world.request(rid).status is Status.EXPIRED


def test_secrets_manager_delivery_stores_the_key_and_shows_nothing(make_world) -> None:
    world = make_world(SECRET_DELIVERY="secretsmanager", SECRET_PREFIX="kw")
    world.directory.add_person(REQUESTER, email="alice@example.com")
    world.iam.add_user("deployer", owner="alice@example.com")
    filed = world.file("create deployer for the pipeline")
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Executed)

    [new] = world.iam.created
    done = world.request(filed.id)
    assert (done.status, done.new_key_id) == (Status.SUCCEEDED, new.key_id)
    assert new.secret in world.iam.secrets["kw/default/deployer"]
    assert any("aws secretsmanager get-secret-value --secret-id kw/default/deployer" in d for d in dm_texts(world))
    assert all(new.secret not in m.raw for m in world.slack.messages) and world.slack.views == {}
    assert isinstance(world.services.secret_delivery.reveal(filed.id, REQUESTER), StoredNotShown)
    assert world.iam.calls[CREATE] == 1


def test_slack_failures_leave_the_request_to_be_synced_later(world: ServiceWorld) -> None:
    key = world.iam.add_key("ci")
    world.slack.fail("post", channel=APPROVAL_CHANNEL)
    filed = world.file(f"deactivate {key}")
    assert world.slack.in_channel(APPROVAL_CHANNEL) == [] and world.request(filed.id).message_ts is None
    world.clock.advance(minutes=3)
    assert world.services.recovery.resync() == 1
    [post] = world.slack.in_channel(APPROVAL_CHANNEL)
    assert world.request(filed.id).message_ts == post.ts
    world.clock.advance(minutes=3)
    assert world.services.recovery.resync() == 0 and len(world.slack.in_channel(APPROVAL_CHANNEL)) == 1
