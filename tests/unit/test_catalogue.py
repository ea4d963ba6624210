"""The finding catalogue is the one source of a finding's name and advice."""

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import settings as settings_module
from bot.domain import findings
from bot.domain.catalogue import CatalogueEntry, Scope
from bot.domain.finding_rules import Evidence
from bot.domain.findings import (
    ADMIN_KEY,
    AWS_QUARANTINE,
    CATALOGUE,
    CONSOLE_AND_KEY,
    INACTIVE_KEY,
    INITIAL_KEY_UNUSED,
    KEY_AGE_WARNING,
    KEY_NOT_VIA_GROUP,
    KEY_TOO_OLD,
    KEY_UNUSED,
    REPLACEABLE_BY_ROLE,
    ROOT_KEY,
    TWO_ACTIVE_KEYS,
    Severity,
    Thresholds,
    UserFacts,
    findings_for_user,
    judge,
    key_findings,
)
from bot.domain.keys import KeyFacts
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
    # The rules are the catalogue's own (each entry carries its rule), and the findings made outside them
    # (the root user's, from the account summary) name a code constant.
    emitted = [(p, c) for p, c in _calls("catalogued") if not isinstance(c.args[0], ast.Attribute)]
    assert emitted, "findings outside the rules are made through catalogued()"
    codes = {code for code, entry in CATALOGUE.items() if entry.rule}
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
    defaults = settings_module.Settings.model_fields
    for code, entry in CATALOGUE.items():
        assert entry.code == code and entry.title and entry.rationale and entry.remediation
        if entry.threshold:
            field = entry.threshold.lower()
            assert field in defaults, entry.threshold
            assert defaults[field].default == entry.default
            assert getattr(Thresholds(), field) == entry.default


def test_digest_names_come_from_the_catalogue() -> None:
    assert {code: e.label for code, e in CATALOGUE.items()} == FINDING_NAMES
    assert FINDING_NAMES["root-key"] == "Root access key (IAM.4)"
    assert FINDING_NAMES["two-active-keys"] == "Two active keys"


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEY_ID = "AKIA" + "A" * 16


def _key(age_days: int, used_days_ago: int | None = 0, status: str = "Active", **kw) -> KeyFacts:
    last = None if used_days_ago is None else NOW - timedelta(days=used_days_ago)
    return KeyFacts("default", "u", kw.pop("key_id", KEY_ID), status, NOW - timedelta(days=age_days), last, **kw)


# One example per entry in which its rule applies: (keys, what is known of the user, thresholds).
EXAMPLES = {
    ROOT_KEY: ([_key(1, is_root=True)], UserFacts(), Thresholds()),
    KEY_TOO_OLD: ([_key(100)], UserFacts(), Thresholds()),
    KEY_AGE_WARNING: ([_key(85)], UserFacts(), Thresholds()),
    KEY_UNUSED: ([_key(60, used_days_ago=50)], UserFacts(), Thresholds()),
    TWO_ACTIVE_KEYS: ([_key(1), _key(2, key_id="AKIA" + "B" * 16)], UserFacts(), Thresholds()),
    INACTIVE_KEY: ([_key(1, status="Inactive")], UserFacts(), Thresholds()),
    AWS_QUARANTINE: ([_key(1)], UserFacts(quarantine=("AWSCompromisedKeyQuarantineV3",)), Thresholds()),
    ADMIN_KEY: ([_key(1)], UserFacts(admin_reason="`AdministratorAccess` attached directly"), Thresholds()),
    CONSOLE_AND_KEY: ([_key(1)], UserFacts(password_enabled=True), Thresholds()),
    INITIAL_KEY_UNUSED: (
        [_key(50, used_days_ago=None)],
        UserFacts(created=NOW - timedelta(days=50), password_enabled=True),
        Thresholds(),
    ),
    KEY_NOT_VIA_GROUP: ([_key(1)], UserFacts(direct_policies=("p",)), Thresholds(strict_policy_findings=True)),
    REPLACEABLE_BY_ROLE: (
        [_key(1)],
        UserFacts(replaceable=((KEY_ID, "all 60 calls from AWS Lambda in us-east-1, over 30 days"),)),
        Thresholds(),
    ),
}


def test_each_entry_carries_its_rule_and_scope_and_the_rule_applies_in_its_example() -> None:
    assert set(EXAMPLES) == set(CATALOGUE)
    for code, entry in CATALOGUE.items():
        keys, user, policy = EXAMPLES[code]
        judged = judge(keys, user, policy, NOW)
        where = judged.per_key[0] if entry.scope is Scope.KEY else judged.user
        assert code in [f.code for f in where], code
        other = judged.user if entry.scope is Scope.KEY else [f for fs in judged.per_key for f in fs]
        assert code not in [f.code for f in other], code


def test_a_new_finding_is_one_catalogue_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def z_key(e: Evidence) -> str | None:
        return "A key ending in Z." if e.key is not None and e.key.key_id.endswith("Z") else None

    monkeypatch.setitem(
        CATALOGUE,
        "z-key",
        CatalogueEntry("z-key", "Key ending in Z", Severity.HIGH, (), "why", "what", scope=Scope.KEY, rule=z_key),
    )
    plain, z = _key(1), _key(1, key_id="AKIA" + "Z" * 16)
    found = findings_for_user([plain, z], Thresholds(), NOW)
    assert [f.code for f in found[z.key_id]] == ["z-key", TWO_ACTIVE_KEYS]
    assert [f.code for f in found[plain.key_id]] == [TWO_ACTIVE_KEYS]
    (only,) = key_findings(z, Thresholds(), NOW)
    assert (only.code, only.severity, only.message) == ("z-key", Severity.HIGH, "A key ending in Z.")
