"""Listeners called directly, as Bolt calls them: a hand-made body, a recording `respond` and `ack`, and a context
holding a Wiring over small fakes that expose only what the listener uses."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from types import SimpleNamespace
from typing import Any

from slack_bolt import BoltContext

from bot.domain.outcomes import Approval, DenyRefusal, Missing
from bot.slack.messages.help import build_help
from handlers import actions, commands
from handlers.lanes import Lanes
from handlers.wiring import CONTEXT_KEY, Wiring, wiring
from tests.support.fake_notifier import FakeNotifier

APPROVER = "U0APPROVER"


class Recorder:
    """Stands for `respond` or `ack`: keeps the keyword arguments of each call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


class HeldLane(Executor):
    """An executor that keeps what is submitted to it, to be run by the test."""

    def __init__(self) -> None:
        self.submitted: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        self.submitted.append((fn, args, kwargs))
        return Future()

    def run_all(self) -> None:
        for fn, args, kwargs in self.submitted:
            fn(*args, **kwargs)


NO_SUCH_REQUEST = Missing("R-ABC123")


class FakeDecisions:
    def __init__(self, outcome: Approval = NO_SUCH_REQUEST) -> None:
        self.outcome = outcome
        self.approved: list[tuple[str, str]] = []

    def approve(self, request_id: str, user_id: str) -> Approval:
        self.approved.append((request_id, user_id))
        return self.outcome

    def deny_refusal(self, request_id: str, user_id: str) -> DenyRefusal | None:
        return None


class Held(Lanes):
    """Lanes whose work waits for the test to run it."""

    work: HeldLane
    views: HeldLane


def context_over(services: Any) -> tuple[BoltContext, Held]:
    lanes = Held(work=HeldLane(), views=HeldLane())
    return BoltContext({CONTEXT_KEY: Wiring(services, lanes)}), lanes


def click(value: str) -> dict[str, Any]:
    return {"user": {"id": APPROVER}, "trigger_id": "T.1", "actions": [{"value": value}]}


def test_a_button_that_names_no_request_is_answered_without_calling_the_service() -> None:
    decisions = FakeDecisions()
    context, _ = context_over(SimpleNamespace(decisions=decisions))
    respond = Recorder()

    actions.approve(click("drop table requests"), respond=respond, context=context)

    assert decisions.approved == []
    assert respond.calls == [
        {
            "text": "This button does not belong to a Keywarden request.",
            "response_type": "ephemeral",
            "replace_original": False,
        }
    ]


def test_approve_decides_as_the_clicker_and_relays_the_reply() -> None:
    decisions = FakeDecisions(NO_SUCH_REQUEST)  # what the service says happened; the words are the builder's
    context, _ = context_over(SimpleNamespace(decisions=decisions))
    respond = Recorder()

    actions.approve(click("R-ABC123"), respond=respond, context=context)

    assert decisions.approved == [("R-ABC123", APPROVER)]
    assert [c["text"] for c in respond.calls] == ["Request R-ABC123 does not exist (any more)."]
    assert respond.calls[0]["response_type"] == "ephemeral"


def test_an_error_in_the_service_becomes_a_reply_not_a_lost_exception() -> None:
    class Broken(FakeDecisions):
        def approve(self, request_id: str, user_id: str) -> Approval:
            raise RuntimeError("database is down")

    context, _ = context_over(SimpleNamespace(decisions=Broken()))
    respond = Recorder()

    actions.approve(click("R-ABC123"), respond=respond, context=context)

    assert len(respond.calls) == 1
    assert respond.calls[0]["text"].startswith("Something went wrong on our side")
    assert "database is down" not in respond.calls[0]["text"]


def test_deny_acks_then_opens_its_form_on_the_views_lane() -> None:
    notifier = FakeNotifier()
    context, lanes = context_over(SimpleNamespace(decisions=FakeDecisions(), notifier=notifier))
    ack, respond = Recorder(), Recorder()

    actions.ack_deny(ack, click("R-ABC123"), respond, context)

    assert ack.calls == [{}]
    assert notifier.opened == []  # nothing opened in the ack: the views lane does it
    lanes.views.run_all()
    assert notifier.opened == ["T.1"]
    assert respond.calls == []
    assert lanes.work.submitted == []


def test_help_is_answered_in_the_ack_with_nothing_left_for_later() -> None:
    access_rules = SimpleNamespace(is_guest=lambda user: False, is_approver=lambda user: user == APPROVER)
    services = SimpleNamespace(
        aws=SimpleNamespace(list_aliases=lambda: ["prod"]),
        settings=SimpleNamespace(slash_command="/keys"),
        access_rules=access_rules,
    )
    context, lanes = context_over(services)
    ack, respond = Recorder(), Recorder()

    commands.ack_command(ack, {"text": "help", "user_id": APPROVER}, respond, context)

    text, blocks = build_help("/keys", approver=True)
    assert ack.calls == [{"response_type": "ephemeral", "text": text, "blocks": blocks}]
    assert respond.calls == []
    assert lanes.views.submitted == [] and lanes.work.submitted == []


def test_the_wiring_is_the_same_object_in_a_lazy_listeners_copy_of_the_context() -> None:
    context, _ = context_over(SimpleNamespace())

    copied = context.to_copyable()

    assert wiring(copied) is wiring(context)
