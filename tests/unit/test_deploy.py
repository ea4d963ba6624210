"""deploy/aws/ passes cfn-lint in every partition; the container runs exactly the Procfile's commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from tests.support.iam_actions import ROOT, template_strings

TEMPLATES = sorted((ROOT / "deploy" / "aws").glob("*.yaml"))
PARTITION_REGIONS = ["us-east-1", "us-gov-west-1", "cn-north-1"]  # aws, aws-us-gov, aws-cn


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines if line)}


def test_there_are_templates() -> None:
    assert {p.name for p in TEMPLATES} >= {"hub.yaml", "member-role.yaml"}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_is_clean_in_every_partition(template: Path) -> None:
    matches = lint_file(template, config=ManualArgs(regions=PARTITION_REGIONS))
    assert not matches, "\n".join(str(m) for m in matches)


def test_cfn_lint_does_find_problems(tmp_path: Path) -> None:
    """The check above is not vacuous: a role with a hard-coded partition and a bad property is reported."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {}\n"
        "      ManagedPolicyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n      Colour: red\n"
    )
    rules = {m.rule.id for m in lint_file(bad, config=ManualArgs(regions=PARTITION_REGIONS))}
    assert "E3002" in rules  # Colour is not a property of a role


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_arn_is_built_with_the_partition(template: Path) -> None:
    body, problems = decode(str(template))
    assert not problems
    arns = [s for s in template_strings(body.get("Resources", {})) if "arn:" in s]
    assert arns or template.name not in {"hub.yaml", "member-role.yaml"}, "the template builds ARNs"
    for text in arns:
        assert not re.search(r"arn:aws[\w-]*:", text), f"hard-coded partition in {text!r}"
        assert text.count("arn:") == text.count("arn:${AWS::Partition}:"), text


def test_the_container_runs_exactly_the_procfile_commands() -> None:
    commands = procfile()
    assert set(commands) == {"release", "web", "clock", "worker"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (.+)$", dockerfile, re.MULTILINE)
    assert json.loads(cmd) == ["sh", "-c", "exec " + commands["web"]]  # web is the image's default
    assert "ENTRYPOINT" not in dockerfile
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    for name, command in commands.items():
        shell, flag, line = services[name]["command"]
        # compose reads $$ as a literal $: the container's shell expands ${PORT:-3000}, as with the Procfile.
        assert [shell, flag, line.replace("$$", "$")] == ["sh", "-c", "exec " + command], name
    assert services["web"]["deploy"]["replicas"] == 2
    assert "replicas" not in services["clock"].get("deploy", {})  # one clock (standbys would be safe too)
    assert services["web"]["depends_on"]["release"]["condition"] == "service_completed_successfully"
    assert services["postgres"]["image"].startswith("postgres:")


def test_the_image_is_slim_runs_as_a_user_and_installs_only_runtime_dependencies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    installs = re.findall(r"pip install .*", dockerfile)
    assert installs == ["pip install -r requirements.txt"]
    assert "requirements-dev.txt" not in dockerfile
