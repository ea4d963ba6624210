"""The IAM actions Keywarden's code calls, read from the code itself, and the actions a policy grants.

Every module of the AWS adapter (`bot/aws/`) and every other module of `bot/` that imports boto3 or
botocore is parsed. An AWS call is recognised in any of the forms the adapter uses, and botocore's
service models turn the method name into the API operation (`list_access_keys` -> `iam:ListAccessKeys`):

- a call whose first two arguments are a service name and one of its methods:
  `self._call("iam", "get_user", ...)`, `self._pages("iam", "list_access_keys", ...)`;
- a method called on a client: `sts = base.client("sts")` then `sts.assume_role(...)`, or
  `self.client("sqs").receive_message(...)`;
- a paginator or waiter of a client: `sts.get_paginator("list_roles")`.

A method named like an operation of a service the module uses, called on anything but `self` and
not recognised above, is reported as unreadable, so a new call written another way fails loudly
instead of being missed.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]

# API operations whose IAM action has another name (none of Keywarden's calls so far).
_ACTION_NAMES: dict[str, str] = {"s3:ListObjectsV2": "s3:ListBucket"}


@cache
def _botocore() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _services() -> frozenset[str]:
    return frozenset(_botocore().get_available_services())


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method -> API operation name."""
    model = _botocore().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


@cache
def _prefix(service: str) -> str:
    model = _botocore().get_service_model(service)
    return model.signing_name or model.endpoint_prefix


def action_of(service: str, method: str) -> str:
    operation = _operations(service)[method]
    action = f"{_prefix(service)}:{operation}"
    return _ACTION_NAMES.get(action, action)


@dataclass
class Scan:
    actions: dict[str, list[str]]  # IAM action -> where it is called ("bot/aws/account.py:123")
    unreadable: list[str]  # calls that look like AWS calls the scan could not attribute


def aws_modules(root: Path = ROOT) -> list[Path]:
    """Every module of the adapter (bot/aws/: some call AWS through an `AccountClient` without importing boto3)
    and every other module of bot/ that imports boto3 or botocore."""
    found = []
    for path in sorted((root / "bot").rglob("*.py")):
        if path.is_relative_to(root / "bot" / "aws"):
            found.append(path)
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] in {"boto3", "botocore"} for n in names):
                found.append(path)
                break
    return found


def code_actions(paths: Iterable[Path] | None = None) -> Scan:
    actions: dict[str, list[str]] = defaultdict(list)
    unreadable: list[str] = []
    for path in aws_modules() if paths is None else paths:
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        tree = ast.parse(path.read_text(), str(path))
        clients = _client_bindings(tree)
        used = set(clients.values()) | _service_literals(tree)
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            found = _recognise(call, clients)
            if found is not None:
                service, method = found
                actions[action_of(service, method)].append(f"{where}:{call.lineno}")
            elif _looks_like_aws(call, used):
                unreadable.append(f"{where}:{call.lineno}: {ast.unparse(call.func)}(...)")
    return Scan(dict(actions), unreadable)


def _client_service(node: ast.AST) -> str | None:
    """`<anything>.client("svc", ...)` -> "svc"."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in _services()
    ):
        return node.args[0].value
    return None


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _client_bindings(tree: ast.AST) -> dict[str, str]:
    """Names bound to a client: `sts = base.client("sts")`, `self.sqs = session.client("sqs")`."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            service = _client_service(node.value)
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = _name(target)
                if service and name:
                    bound[name] = service
    return bound


def _service_literals(tree: ast.AST) -> set[str]:
    """Services named as the first argument of a call: `.client("sts")`, `_call("iam", ...)`."""
    return {
        n.args[0].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and n.args
        and isinstance(n.args[0], ast.Constant)
        and isinstance(n.args[0].value, str)
        and n.args[0].value in _services()
    }


def _recognise(call: ast.Call, clients: dict[str, str]) -> tuple[str, str] | None:
    args = call.args
    if (
        len(args) >= 2
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args[:2])
        and args[0].value in _services()
        and args[1].value in _operations(args[0].value)
    ):
        return args[0].value, args[1].value
    if not isinstance(call.func, ast.Attribute):
        return None
    receiver = call.func.value
    service = _client_service(receiver) or clients.get(_name(receiver) or "")
    if service is None:
        return None
    method = call.func.attr
    if method in {"get_paginator", "get_waiter"} and args and isinstance(args[0], ast.Constant):
        return (service, args[0].value) if args[0].value in _operations(service) else None
    return (service, method) if method in _operations(service) else None


def _looks_like_aws(call: ast.Call, services: set[str]) -> bool:
    if not isinstance(call.func, ast.Attribute):
        return False
    if isinstance(call.func.value, ast.Name) and call.func.value.id == "self":
        return False  # the adapter's own methods share the operations' names
    return any(call.func.attr in _operations(s) for s in services)


# Policies


def statements(policy: dict[str, Any]) -> Iterator[dict[str, Any]]:
    body = policy.get("Statement", [])
    yield from [body] if isinstance(body, dict) else body


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted_actions(policy: dict[str, Any]) -> set[str]:
    """Actions an identity policy allows (exact names: Keywarden's policies use no wildcards in actions)."""
    actions: set[str] = set()
    for statement in statements(policy):
        assert statement.get("Effect") == "Allow", f"unexpected statement {statement}"
        assert "NotAction" not in statement, "NotAction grants more than the code calls"
        for action in _listed(statement["Action"]):
            assert "*" not in action, f"{action}: a wildcard grants more than the code calls"
            actions.add(action)
    return actions


def resources_of(policy: dict[str, Any], action: str) -> list[str]:
    found: list[str] = []
    for statement in statements(policy):
        if action in _listed(statement["Action"]):
            found += _listed(statement["Resource"])
    return found


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def template_actions(template: dict[str, Any]) -> set[str]:
    """Actions the permission policies of a CloudFormation template grant (trust policies aside).

    Reads every `PolicyDocument` (inline role policies, AWS::IAM::RolePolicy, managed policies), whether
    under a condition (`Fn::If`) or a loop (`Fn::ForEach`), so that nothing a deployment may grant is missed.
    """
    actions: set[str] = set()

    def statements_in(value: Any) -> Iterator[dict[str, Any]]:
        if isinstance(value, list):
            for item in value:
                yield from statements_in(item)
        elif isinstance(value, dict):
            if "Fn::If" in value:
                yield from statements_in(value["Fn::If"][1:])
            elif "Effect" in value:
                yield value

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "PolicyDocument":
                    for statement in statements_in(value.get("Statement", [])):
                        assert statement.get("Effect") == "Allow" and "NotAction" not in statement, statement
                        actions.update(_listed(statement["Action"]))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(template.get("Resources", {}))
    return actions


def template_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from template_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from template_strings(item)
