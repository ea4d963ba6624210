"""Names say what they hold: no two things a reader meets side by side share a name."""

import ast
import importlib
import re
from collections import defaultdict
from dataclasses import fields
from pathlib import Path

from bot.bootstrap import Services

ROOT = Path(__file__).resolve().parents[2]


def _definitions() -> dict[str, list[str]]:
    """Each top-level class and function of bot/ and handlers/, with the modules that define it."""
    found: dict[str, list[str]] = defaultdict(list)
    for package in ("bot", "handlers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef | ast.FunctionDef):
                    found[node.name].append(path.relative_to(ROOT).as_posix())
    return found


def test_the_services_name_who_may_act_apart_from_what_a_user_needs() -> None:
    names = {f.name for f in fields(Services)}
    assert {"access_rules", "access_advisor"} <= names  # bot/access.py's rules; IAM Access Advisor
    assert not {"rules", "access"} & names


def test_classes_and_functions_once_named_twice_are_defined_once() -> None:
    definitions = _definitions()
    twice = {
        name: definitions[name]
        for name in ("Policy", "Rotation", "Decision", "parse_event", "build_owner_dm")
        if len(definitions[name]) > 1
    }
    assert twice == {}
    assert definitions["Policy"] == ["bot/policy.py"]  # the approval policy file
    assert definitions["Thresholds"] == ["bot/domain/finding_rules.py"]  # what the finding rules compare against
    assert definitions["Rotation"] == ["bot/domain/rotation.py"]  # the plain snapshot the services read
    assert definitions["RotationRow"] == ["bot/store/models.py"]  # its table
    assert definitions["Decision"] == ["bot/access.py"]  # what applies to a request being filed
    assert definitions["NextStep"] == ["bot/domain/rotation.py"]  # a scheduled rotation's next step
    assert definitions["parse_event"] == ["bot/domain/aws_events.py"]  # an EventBridge message from the queue
    assert definitions["parse_trail_event"] == ["bot/domain/activity.py"]  # one CloudTrail LookupEvents record
    assert definitions["build_owner_dm"] == ["bot/slack/messages/exposures.py"]  # an exposed key's owner is told
    assert definitions["build_findings_dm"] == ["bot/slack/messages/scans.py"]  # an owner's findings after a scan


def test_every_module_logs_under_its_own_name() -> None:
    named_by_hand = [
        path.relative_to(ROOT).as_posix()
        for package in ("bot", "handlers")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"getLogger\(\s*[\"']keywarden", path.read_text())
    ]
    assert named_by_hand == []
    for name in (
        "bot.slack.observe",
        "bot.slack.payloads",
        "bot.entrypoints.cli",
        "bot.entrypoints.worker",
        "bot.entrypoints.work",
        "handlers.errors",
        "handlers.events",
    ):
        assert importlib.import_module(name).log.name == name
