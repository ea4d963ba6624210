"""Request rules: approvals needed, and which identity is Keywarden's own IAM user."""

from __future__ import annotations

import pytest

from bot.domain.requests import Operation, Status, approvals_needed, check_transition, iam_user_of
from bot.domain.transitions import TransitionError


def test_a_requester_who_does_not_own_the_user_needs_one_more_approval() -> None:
    assert approvals_needed(Operation.CREATE, {}) == 1
    assert approvals_needed(Operation.CREATE, {}, requester_owns=False) == 2
    assert approvals_needed(Operation.DELETE, {}, requester_owns=False) == 3
    assert approvals_needed(Operation.ROTATE, {"rotate": 2}, requester_owns=False) == 3


@pytest.mark.parametrize(
    ("arn", "user"),
    [
        ("arn:aws:iam::123456789012:user/keywarden", "keywarden"),
        ("arn:aws:iam::123456789012:user/service/bots/keywarden", "keywarden"),
        ("arn:aws-us-gov:iam::123456789012:user/keywarden", "keywarden"),
        ("arn:aws-cn:iam::123456789012:user/kw", "kw"),
        ("arn:aws:sts::123456789012:assumed-role/keywarden/session", None),  # a role: no user to protect
        ("arn:aws:sts::123456789012:federated-user/bob", None),
        ("arn:aws:iam::123456789012:root", None),
    ],
)
def test_keywardens_own_user_from_its_caller_identity(arn: str, user: str | None) -> None:
    assert iam_user_of(arn) == user


def test_a_break_glass_can_cancel_an_approved_request_not_a_running_one() -> None:
    check_transition(Status.APPROVED, Status.CANCELLED)
    with pytest.raises(TransitionError):
        check_transition(Status.EXECUTING, Status.CANCELLED)  # running: it finishes
