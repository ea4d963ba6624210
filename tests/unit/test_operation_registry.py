"""One registry of request operations: the parser, help, routes, the request form and settings derive from it."""

import pytest

from bot.domain.commands import USAGE, parse
from bot.domain.keys import InputError
from bot.domain.operations import REQUEST_OPERATIONS, Operation
from bot.domain.requests import MAKES_KEY, approvals_needed
from bot.settings import Settings
from bot.settings.reader import SettingsError
from bot.slack.messages.help import build_help
from bot.slack.messages.requests import build_request_modal
from handlers.commands import ROUTES

ALIASES = ["default"]


def test_every_operation_is_everywhere() -> None:
    names = [spec.name for spec in REQUEST_OPERATIONS.values()]
    assert set(REQUEST_OPERATIONS) == set(Operation)
    assert all(name in USAGE and name in ROUTES for name in names)
    options = build_request_modal()["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == names
    assert [o["text"]["text"] for o in options] == [s.label for s in REQUEST_OPERATIONS.values()]
    _, blocks = build_help("/awskeys", approver=True)
    assert all(f"`/awskeys {spec.example}`" in blocks[0]["text"]["text"] for spec in REQUEST_OPERATIONS.values())


def test_defaults_and_settings_come_from_the_registry() -> None:
    assert {op: approvals_needed(op, {}) for op in Operation} == {
        op: spec.default_approvals for op, spec in REQUEST_OPERATIONS.items()
    }
    assert approvals_needed(Operation.DELETE, {}) == 2
    assert {Operation.CREATE, Operation.ROTATE} == MAKES_KEY
    env = {"DATABASE_URL": "sqlite://", "APPROVALS_REQUIRED": ",".join(f"{n}=3" for n in Operation)}
    assert set(Settings.from_env(env, slack=False).approvals_required) == {op.value for op in Operation}
    with pytest.raises(SettingsError, match="create, deactivate, delete, reactivate, retire, rotate"):
        Settings.from_env({"DATABASE_URL": "sqlite://", "APPROVALS_REQUIRED": "destroy=2"}, slack=False)


def test_how_each_operation_picks_its_key() -> None:
    key = "AKIAIOSFODNN7EXAMPLE"
    assert parse("create ci why", ALIASES).user is not None
    assert parse(f"rotate {key}", ALIASES).key_id == key and parse("rotate ci", ALIASES).user is not None
    for name in ("deactivate", "reactivate", "delete"):
        assert parse(f"{name} {key} why", ALIASES).key_id == key
    assert parse(f"deactivate {key} --now", ALIASES).now
    with pytest.raises(InputError, match=r"`--now` works only with `deactivate`\."):
        parse(f"delete {key} --now", ALIASES)


def test_the_rotation_workflow_hooks_come_from_the_registry() -> None:
    """The approval workflow asks the registry, never an operation's name, when a rotation starts or ends."""
    starts = {op for op, spec in REQUEST_OPERATIONS.items() if spec.starts_rotation}
    turns_off = {op for op, spec in REQUEST_OPERATIONS.items() if spec.deactivates_key}
    assert starts == {Operation.ROTATE} and starts <= MAKES_KEY
    assert turns_off == {Operation.DEACTIVATE}
