"""The finding catalogue is the one source of a finding's name and advice."""

import ast
from pathlib import Path

from bot import settings as settings_module
from bot.domain import findings
from bot.domain.findings import CATALOGUE, Policy
from bot.slack.messages.scans import FINDING_NAMES

BOT = Path(findings.__file__).resolve().parents[1]


def _calls(name: str) -> list[tuple[Path, ast.Call]]:
    found = []
    for path in BOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name:
                found.append((path, node))
    return found


def test_every_code_the_rules_can_emit_is_catalogued() -> None:
    emitted = _calls("catalogued")
    assert emitted, "the rules make findings through catalogued()"
    codes = set()
    for path, call in emitted:
        first = call.args[0]
        assert isinstance(first, ast.Name), f"{path}: catalogued() takes a code constant"
        codes.add(getattr(findings, first.id))
    assert codes <= set(CATALOGUE)
    # Every code constant is emitted somewhere, so nothing in the catalogue is stale.
    assert codes == set(CATALOGUE)


def test_no_finding_is_built_outside_the_catalogue() -> None:
    # The only Finding(...) is the one in catalogued() itself.
    assert [p.relative_to(BOT).as_posix() for p, _ in _calls("Finding")] == ["domain/findings.py"]


def test_entries_are_complete_and_thresholds_name_real_settings() -> None:
    defaults = settings_module.Settings.__dataclass_fields__
    for code, entry in CATALOGUE.items():
        assert entry.code == code and entry.title and entry.rationale and entry.remediation
        if entry.threshold:
            field = entry.threshold.lower()
            assert field in defaults, entry.threshold
            assert defaults[field].default == entry.default
            assert getattr(Policy(), field) == entry.default


def test_digest_names_come_from_the_catalogue() -> None:
    assert {code: e.label for code, e in CATALOGUE.items()} == FINDING_NAMES
    assert FINDING_NAMES["root_key"] == "Root access key (IAM.4)"
    assert FINDING_NAMES["two_active_keys"] == "Two active keys"
