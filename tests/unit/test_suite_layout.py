"""Shared test helpers live in tests/support: no test module imports another test module or a conftest; the
service tests reach the services directly, never through HTTP, boto3 or a Slack client."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# What tests/service modules must not import: transports, emulators, the entry points, and the helpers that run a bot.
NOT_IN_SERVICE_TESTS = (
    "boto3",
    "botocore",
    "moto",
    "http",
    "urllib",
    "socket",
    "waitress",
    "slack_sdk",
    "slack_bolt",
    "handlers",
    "bot.entrypoints",
    "tests.support.fake_slack",
    "tests.support.aws_proxy",
    "tests.support.processes",
    "tests.support.remote",
    "tests.support.socket_mode",
)


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
    return names


def test_tests_import_only_tests_support() -> None:
    offenders = []
    for path in TESTS.rglob("*.py"):
        for name in _imports(path):
            if name.startswith("tests.") and not name.startswith("tests.support") and name != "tests.conftest":
                offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert offenders == []


def test_service_tests_call_the_services_directly() -> None:
    modules = list((TESTS / "service").glob("*.py"))
    offenders = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in modules
        for name in _imports(path)
        if any(name == banned or name.startswith(banned + ".") for banned in NOT_IN_SERVICE_TESTS)
    ]
    assert len(modules) > 3 and offenders == []
