"""The policy file: validation with lines, first-match rules, and `python -m bot policy check`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain.requests import Operation
from bot.policy import Facts, PolicyError, parse

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "docs" / "policy.md").read_text().split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_documented_example_is_valid_and_first_match_wins() -> None:
    policy = parse(GOOD, "docs/policy.md")
    payments = Facts(Operation.ROTATE, "prod-eu", {"team": "payments"}, False, False)
    assert policy.decide(payments).rule.name == "prod-payments"
    own = Facts(Operation.DEACTIVATE, "prod-eu", {"team": "payments"}, False, True)
    assert policy.decide(own).rule.name == "owners-deactivate-own-keys"
    sandbox = Facts(Operation.CREATE, "sandbox-1", {}, False, True)
    assert policy.decide(sandbox).rule.auto_approve


def test_errors_name_the_line_and_field_and_unknown_keys_are_errors() -> None:
    text = "rules:\n  - name: a\n    operations: [deactivate, fly]\n    auto_approve: true\n  - name: b\n    approvers: [bob]\n    approvalz: 2\n"
    with pytest.raises(PolicyError) as e:
        parse(text, "p.yaml")
    assert e.value.lines == [
        "p.yaml:3: rules.0.operations.1: Input should be 'create', 'rotate', 'deactivate', 'reactivate', 'delete' or 'retire'",
        "p.yaml:6: rules.1.approvers: 'bob' is not a Slack user id (U…, W…), a user group id (S…) or `owner`",
        "p.yaml:7: rules.1.approvalz: unknown key",
    ]


def test_a_rule_that_decides_nothing_and_bad_yaml() -> None:
    with pytest.raises(PolicyError) as e:
        parse("rules:\n  - name: x\n    approvals: 2\n", "p.yaml")
    assert e.value.lines == [
        "p.yaml:2: rules.0: a rule must name `approvers`, or say `auto_approve: true` or `deny: <message>`"
    ]
    with pytest.raises(PolicyError) as e:
        parse("rules: [\n", "p.yaml")
    assert e.value.lines[0].startswith("p.yaml:2: yaml:")


def test_policy_check_exits_2_with_one_line_per_error(tmp_path, slack) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: a\n    deny: no\n    auto_approve: true\n    colour: red\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "POLICY_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/db.sqlite"
    env["SLACK_API_URL"] = slack.api_url
    done = subprocess.run(
        [sys.executable, "-m", "bot", "policy", "check", str(bad)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [  # `no` is YAML for false, not a message
        f"{bad}:3: rules.0.deny: Input should be a valid string",
        f"{bad}:5: rules.0.colour: unknown key",
    ]
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "policy", "check", str(good)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0 and "9 rules, valid" in done.stdout
    slack.groups.update({"S0SECURITY": [], "S0PAYLEADS": []})
    slack.calls.clear()
    env["SLACK_BOT_TOKEN"] = "xoxb-test"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "policy", "check", str(good)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr  # an unknown group is reported, not fatal
    assert done.stdout.splitlines()[1:] == [
        "warning: user group S0DATALEADS (rule prod-data, staging) is not a Slack user group of this workspace"
    ]
    assert len(slack.calls_to("usergroups.list")) == 1


def test_a_malformed_policy_stops_start_up_with_exit_code_2(tmp_path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("rules:\n  - name: a\n    approvers: [nobody]\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "APPROVAL_CHANNEL": "CAPPROVE",
        "ALERT_CHANNEL": "CALERTS",
        "APPROVER_IDS": "UBOSS",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        "POLICY_FILE": str(bad),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{bad}:3: rules.0.approvers: 'nobody' is not a Slack user id (U…, W…), a user group id (S…) or `owner`"
    ]


def test_a_key_written_twice_is_refused_not_silently_replaced() -> None:
    text = (
        "rules:\n  - name: strict\n    approvers: [U01ALICE]\n    approvals: 2\n"
        "rules:\n  - name: lax\n    auto_approve: true\n"
        "  - name: twice\n    approvers: [U01ALICE]\n    approvers: [U02BOB]\n"
    )
    with pytest.raises(PolicyError) as e:
        parse(text, "p.yaml")
    assert e.value.lines == [
        "p.yaml:5: rules: duplicate key (first written on line 1)",
        "p.yaml:10: rules.1.approvers: duplicate key (first written on line 9)",
    ]
