"""deploy/aws/ passes cfn-lint in every partition; the image, compose.yaml, ECS and Heroku run the Procfile's commands."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from bot.domain.aws_events import HEALTH_RISK_TYPES
from tests.support.iam_actions import ROOT, template_strings

TEMPLATES = sorted((ROOT / "deploy" / "aws").glob("*.yaml"))
PARTITION_REGIONS = ["us-east-1", "us-gov-west-1", "cn-north-1"]  # aws, aws-us-gov, aws-cn


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines if line)}


def test_there_are_templates() -> None:
    assert {p.name for p in TEMPLATES} >= {"hub.yaml", "member-role.yaml", "service.yaml"}


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


def dockerfile_instructions(name: str) -> list[str]:
    return re.findall(rf"^{name} (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)


def test_the_image_runs_the_whole_bot_on_sqlite_in_a_data_volume() -> None:
    """`docker run` with no command: `python -m bot` (web and scheduler), its database file in /data, also when
    .env leaves DATABASE_URL empty (the default file is relative to the working directory)."""
    (cmd,) = dockerfile_instructions("CMD")
    assert json.loads(cmd) == ["python", "-m", "bot"]
    assert not dockerfile_instructions("ENTRYPOINT")
    assert dockerfile_instructions("VOLUME") == ['["/data"]']
    assert dockerfile_instructions("WORKDIR")[-1] == "/data"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "DATABASE_URL=sqlite:////data/keywarden.db" in dockerfile and "PYTHONPATH=/app" in dockerfile
    (user,) = dockerfile_instructions("USER")
    assert f"chown {user} /data" in dockerfile  # the user may write it


def test_the_image_has_a_health_check_and_oci_labels() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (check,) = dockerfile_instructions("HEALTHCHECK")
    assert json.loads(check.split(" CMD ", 1)[1]) == ["python", "/app/healthcheck.py"]
    assert re.search(r"^COPY .*deploy/healthcheck\.py \./$", dockerfile, re.MULTILINE)  # WORKDIR /app then
    labels = set(re.findall(r"(org\.opencontainers\.image\.[a-z.]+)=", dockerfile))
    assert labels >= {f"org.opencontainers.image.{k}" for k in ("title", "description", "version", "revision")}


def test_the_container_runs_exactly_the_procfile_commands() -> None:
    commands = procfile()
    assert set(commands) == {"release", "web", "clock", "worker"}
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
    # An exact tag (3.11.13, a Debian release), or a digest: a rebuild gets the same Python.
    (base,) = dockerfile_instructions("FROM")
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base
    users = dockerfile_instructions("USER")
    # Numeric, so that Kubernetes' runAsNonRoot can check it (deploy/kubernetes runs as 10001).
    assert users and re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), users
    installs = re.findall(r"pip install .*", dockerfile)
    assert installs == ["pip install -r requirements.txt"]
    assert "requirements-dev.txt" not in dockerfile


# --- compose.yaml ---------------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_gives_slack_one_url_a_proxy_in_front_of_the_web_replicas() -> None:
    services = compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}  # the web replicas are reached through it only
    (mount,) = services["proxy"]["volumes"]
    config = (ROOT / mount.split(":")[0]).read_text()
    (listen,) = re.findall(r"listen (\d+);", config)
    assert services["proxy"]["ports"] == [f"3000:{listen}"]
    routes = re.findall(r"location (= )?(\S+) \{(.*?)\n    \}", config, re.DOTALL)
    forwarded = {path for _, path, body in routes if "proxy_pass" in body}
    assert forwarded == {"/slack/events"}  # /healthz and /metrics stay inside
    assert "set $web http://web:3000;" in config and "resolver 127.0.0.11" in config  # every replica, re-resolved
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_compose_checks_the_health_of_every_long_running_service() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if name == "release":
            assert service["healthcheck"] == {"disable": True}  # a one-off step
            continue
        assert service["healthcheck"]["test"], name
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "/app/healthcheck.py"]
    # The clock serves nothing on PORT: its check asks METRICS_PORT (compose's $$ is the container's $).
    assert '/app/healthcheck.py "$$METRICS_PORT"' in services["clock"]["healthcheck"]["test"][1]
    assert services["clock"]["environment"]["METRICS_PORT"] == "9100"


def test_compose_writes_the_database_password_nowhere_but_in_env() -> None:
    text = (ROOT / "compose.yaml").read_text()
    services = compose()["services"]
    references = re.findall(r"\$\{POSTGRES_PASSWORD[^}]*\}", text)
    assert references and all(r.startswith("${POSTGRES_PASSWORD:?") for r in references)  # no default password
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == references[0]
    for name in ("release", "web", "clock"):
        env = services[name]["environment"]
        assert env["PGPASSWORD"] == references[0], name  # libpq reads it: the URL carries no password
        assert re.fullmatch(r"postgresql://keywarden@postgres:5432/keywarden", env["DATABASE_URL"]), name
    assert not re.search(r"://[^/@\s]+:[^/@\s]+@", text)  # no user:password@ anywhere
    assert re.search(r"^# POSTGRES_PASSWORD=", (ROOT / ".env.example").read_text(), re.MULTILINE)


# --- the container's health check ------------------------------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    answers: dict[str, int] = {}

    def do_GET(self) -> None:
        self.send_response(self.answers.get(self.path, 404))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, dict[str, int]]]:
    answers: dict[str, int] = {}
    handler = type("Handler", (_Health,), {"answers": answers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], answers
    server.shutdown()
    server.server_close()
    thread.join()


def healthcheck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "deploy" / "healthcheck.py"
    return subprocess.run(
        [sys.executable, str(script), *args], env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("answers", "healthy", "said"),
    [
        ({"/livez": 200}, True, "healthy: /livez answered 200"),
        ({"/livez": 500, "/healthz": 200}, False, "/livez on port"),
        ({"/healthz": 200}, True, "healthy: /healthz answered 200"),  # a version without /livez
        ({"/healthz": 503}, False, "/healthz on port"),
    ],
)
def test_the_health_check_asks_the_process_on_port(
    health_server: tuple[int, dict[str, int]], answers: dict[str, int], healthy: bool, said: str
) -> None:
    port, served = health_server
    served.update(answers)
    done = healthcheck({"PORT": str(port)})
    assert (done.returncode == 0) is healthy and said in done.stdout, done
    assert done.stderr == ""  # one line, no traceback


def test_the_health_check_asks_metrics_port_in_socket_mode_or_the_port_given(
    health_server: tuple[int, dict[str, int]],
) -> None:
    port, served = health_server
    served["/livez"] = 200
    free = _free_port()
    assert healthcheck({"PORT": str(free), "SLACK_APP_TOKEN": "xapp-1", "METRICS_PORT": str(port)}).returncode == 0
    assert healthcheck({"PORT": str(free)}, str(port)).returncode == 0  # the clock: its METRICS_PORT
    refused = healthcheck({"PORT": str(free)})
    assert refused.returncode == 1 and f"nothing answers on port {free}" in refused.stdout
    assert refused.stderr == ""
    unchecked = healthcheck({"SLACK_APP_TOKEN": "xapp-1"})  # Socket Mode serves nothing without METRICS_PORT
    assert unchecked.returncode == 0 and "set METRICS_PORT" in unchecked.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- ECS on Fargate (deploy/aws/service.yaml) -------------------------------------------------------------------


def service_template() -> dict[str, Any]:
    body, problems = decode(str(ROOT / "deploy" / "aws" / "service.yaml"))
    assert not problems
    return body


def test_ecs_runs_two_web_tasks_and_one_clock_with_the_procfile_commands() -> None:
    resources = service_template()["Resources"]
    commands = procfile()
    services = {
        r["Properties"]["ServiceName"]: r["Properties"] for r in resources.values() if r["Type"] == "AWS::ECS::Service"
    }
    assert {name: s["DesiredCount"] for name, s in services.items()} == {"keywarden-web": 2, "keywarden-clock": 1}
    web = resources["WebTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    clock = resources["ClockTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert web["Command"] == ["sh", "-c", "exec " + commands["web"]]
    assert " ".join(clock["Command"]) == commands["clock"]
    assert web["StopTimeout"] == 30 and web["ReadonlyRootFilesystem"] and clock["ReadonlyRootFilesystem"]
    assert web["HealthCheck"]["Command"] == ["CMD", "python", "/app/healthcheck.py"]
    assert clock["HealthCheck"]["Command"] == ["CMD", "python", "/app/healthcheck.py", "9100"]
    assert {"Name": "METRICS_PORT", "Value": "9100"} in clock["Environment"]


def test_ecs_load_balancer_checks_healthz_and_publishes_only_slack_events() -> None:
    resources = service_template()["Resources"]
    group = resources["WebTargetGroup"]["Properties"]
    assert (group["HealthCheckPath"], group["Matcher"]["HttpCode"], group["Port"]) == ("/healthz", "200", 3000)
    rule = resources["SlackEventsRule"]["Properties"]
    paths = [c["PathPatternConfig"]["Values"] for c in rule["Conditions"] if c["Field"] == "path-pattern"]
    assert paths == [["/slack/events"]]
    listener = resources["HttpsListener"]["Properties"]
    assert listener["Protocol"] == "HTTPS" and listener["DefaultActions"][0]["Type"] == "fixed-response"
    web = resources["WebService"]["Properties"]["LoadBalancers"][0]
    assert web["TargetGroupArn"] == {"Ref": "WebTargetGroup"}


def test_ecs_tasks_run_on_the_hub_role_with_tokens_from_secrets_manager_and_logs_in_a_group() -> None:
    template = service_template()
    resources = template["Resources"]
    assert "hub.yaml" in template["Parameters"]["TaskRoleArn"]["Description"]
    assert resources["LogGroup"]["Type"] == "AWS::Logs::LogGroup"
    for name in ("WebTaskDefinition", "ClockTaskDefinition"):
        task = resources[name]["Properties"]
        assert task["TaskRoleArn"] == {"Ref": "TaskRoleArn"}, name
        assert task["RequiresCompatibilities"] == ["FARGATE"], name
        (container,) = task["ContainerDefinitions"]
        secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
        assert secrets == {
            key: {"Fn::Sub": "${SecretArn}:" + key + "::"}
            for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL")
        }, name
        plain = {e["Name"] for e in container["Environment"]}
        assert not plain & {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL", "SLACK_ADMIN_TOKEN"}, name
        assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "LogGroup"}, name
    (read,) = resources["ExecutionRole"]["Properties"]["Policies"]
    first = read["PolicyDocument"]["Statement"][0]
    assert (first["Action"], first["Resource"]) == ("secretsmanager:GetSecretValue", {"Ref": "SecretArn"})


# --- Heroku (app.json) ------------------------------------------------------------------------------------------


def test_heroku_app_runs_the_procfile_on_postgres() -> None:
    app = json.loads((ROOT / "app.json").read_text())
    commands = procfile()
    assert commands["release"] == "python -m bot db upgrade"  # before each release goes live
    assert set(app["formation"]) <= set(commands) and {"web", "clock"} <= set(app["formation"])
    assert app["formation"]["clock"]["quantity"] == 1
    assert [a["plan"].split(":")[0] for a in app["addons"]] == ["heroku-postgresql"]
    assert app["addons"][0]["as"] == "DATABASE"  # DATABASE_URL (postgres://, read as PostgreSQL)
    assert app["buildpacks"] == [{"url": "heroku/python"}]
    required = {name for name, spec in app["env"].items() if spec.get("required")}
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= required
    example = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert set(app["env"]) - example <= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # boto3's own
    # The buildpack's Python is the image's.
    (base,) = dockerfile_instructions("FROM")
    assert base.startswith("python:" + (ROOT / ".python-version").read_text().strip() + ".")


# --- deploy/aws/README.md -------------------------------------------------------------------------------------


def test_stackset_commands_work_from_a_delegated_administrator() -> None:
    """Service-managed StackSets live in the management account: from a delegated administrator every StackSet
    command needs --call-as DELEGATED_ADMIN, so each one in the guide carries it."""
    readme = (ROOT / "deploy" / "aws" / "README.md").read_text()
    commands = re.findall(r"^aws cloudformation (\S*stack-(?:set|instances)\S*)((?:.*\\\n)*.*)$", readme, re.MULTILINE)
    assert {name for name, _ in commands} >= {"create-stack-set", "create-stack-instances"}
    for name, arguments in commands:
        assert '--call-as "$CALL_AS"' in arguments, name
    assert "CALL_AS=DELEGATED_ADMIN" in readme


def _events() -> dict:
    body, problems = decode(str(ROOT / "deploy" / "aws" / "events.yaml"))
    assert not problems
    return body


def _rule_value(node: object, refs: dict[str, str]) -> object:
    """The value of a CloudFormation rule expression (the functions Rules allow that events.yaml uses)."""
    if isinstance(node, dict):
        ((name, args),) = node.items()
        if name == "Ref":
            return refs[args]
        values = [_rule_value(a, refs) for a in args] if isinstance(args, list) else [_rule_value(args, refs)]
        if name == "Fn::Equals":
            return values[0] == values[1]
        if name == "Fn::And":
            return all(values)
        if name == "Fn::Or":
            return any(values)
        if name == "Fn::Not":
            return not values[0]
        if name == "Fn::Contains":
            return values[1] in values[0]
        raise AssertionError(f"no evaluator for {name}")
    if isinstance(node, list):
        return [_rule_value(n, refs) for n in node]
    return node


def _refused(partition: str, region: str, **parameters: str) -> list[str]:
    """The AssertDescription of every rule events.yaml would fail with in this partition and region."""
    refs = {"AWS::Partition": partition, "AWS::Region": region, "Mode": "single-account"} | parameters
    refs |= {"OrganizationId": "o-abc123def4", "CentralEventBusArn": "arn:aws:events:us-east-1:1:event-bus/k"}
    refused = []
    for rule in _events()["Rules"].values():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], refs):
            continue
        refused += [a["AssertDescription"] for a in rule["Assertions"] if not _rule_value(a["Assert"], refs)]
    return refused


@pytest.mark.parametrize("mode", ["single-account", "central", "member"])
def test_the_events_stack_refuses_a_region_iam_events_never_reach(mode: str) -> None:
    """IAM's CloudTrail events arrive in one region per partition: us-east-1, us-gov-west-1, cn-north-1."""
    for partition, region in (("aws", "us-east-1"), ("aws-us-gov", "us-gov-west-1"), ("aws-cn", "cn-north-1")):
        assert _refused(partition, region, Mode=mode) == [], region
    for partition, region, where in (
        ("aws", "eu-west-1", "us-east-1"),
        ("aws", "us-west-2", "us-east-1"),
        ("aws-us-gov", "us-gov-east-1", "us-gov-west-1"),
        ("aws-cn", "cn-northwest-1", "cn-north-1"),
    ):
        (refusal,) = _refused(partition, region, Mode=mode)
        assert f"arrive in {where} only" in refusal, region


def test_the_events_stack_alarms_when_events_wait_in_the_dead_letter_queue() -> None:
    body = _events()
    resources = body["Resources"]
    (alarm,) = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    props = alarm["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}]
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["Condition"] == resources["DeadLetterQueue"]["Condition"]  # wherever there is a queue
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert props["AlarmActions"] == topic and props["OKActions"] == topic
    assert body["Parameters"]["AlarmTopicArn"]["Default"] == ""  # optional
    assert "EVENTS_DLQ_URL" in body["Outputs"]["DeadLetterQueueUrl"]["Description"]


def test_every_health_rule_routes_every_risk_event_about_a_key() -> None:
    rules = [r for r in _events()["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    health = [
        r["Properties"]["EventPattern"] for r in rules if r["Properties"]["EventPattern"]["source"] == ["aws.health"]
    ]
    assert len(health) == 3  # single-account, central, forwarding
    for pattern in health:
        assert sorted(pattern["detail"]["eventTypeCode"]) == sorted(HEALTH_RISK_TYPES)
