"""A CloudFormation template as CloudFormation would deploy it for given parameters: conditions decided,
intrinsic functions resolved (the ones deploy/aws/ uses), `Fn::ForEach` loops expanded. Refs to resources
resolve to their logical ids."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

_NO_VALUE = object()
IAM_INLINE_POLICY_QUOTA = 10_240  # characters, all inline policies of one role together, whitespace not counted


def load(path: Path) -> dict[str, Any]:
    template, problems = decode(str(path))
    assert not problems, problems
    return json.loads(json.dumps(template))  # plain dicts and strings


class Renderer:
    def __init__(self, template: dict[str, Any], parameters: dict[str, str], partition: str = "aws") -> None:
        self.template = template
        self.values: dict[str, Any] = {"AWS::Partition": partition, "AWS::AccountId": "999999999999"}
        self.values["AWS::Region"] = "us-east-1"
        for name, spec in template.get("Parameters", {}).items():
            value = parameters.get(name, spec.get("Default"))
            assert value is not None, f"parameter {name} has no value"
            self.values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
        unknown = set(parameters) - set(template.get("Parameters", {}))
        assert not unknown, f"the template has no parameter {unknown}"
        self.conditions = {name: self.resolve(c) for name, c in template.get("Conditions", {}).items()}

    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources that are created, with their properties resolved."""
        expanded = self._expand(self.template["Resources"])
        for name in expanded:
            self.values.setdefault(name, name)
        return {
            name: self.resolve(resource)
            for name, resource in expanded.items()
            if "Condition" not in resource or self.conditions[resource["Condition"]]
        }

    def _expand(self, resources: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in resources.items():
            if key.startswith("Fn::ForEach::"):
                variable, collection, body = value
                for item in self.resolve(collection):
                    for name, resource in body.items():
                        out[name.replace("${" + variable + "}", item)] = _substitute(resource, variable, item)
            else:
                out[key] = value
        return out

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.values[arg]
            if key == "Condition":
                return self.conditions[arg]
            if key.startswith("Fn::") and key != "Fn::ForEach":
                return self._function(key, arg)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _function(self, key: str, arg: Any) -> Any:
        if key == "Fn::If":
            name, yes, no = arg
            return self.resolve(yes if self.conditions[name] else no)
        if key == "Fn::Equals":
            left, right = self.resolve(arg)
            return left == right
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(arg))
        if key == "Fn::Or":
            return any(self.resolve(arg))
        if key == "Fn::Join":
            separator, items = arg
            return separator.join(self.resolve(items))
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return re.sub(r"\$\{([\w:]+)\}", lambda m: str(extra.get(m.group(1), self.values[m.group(1)])), text)
        if key == "Fn::GetAtt":
            return f"{arg[0]}.{arg[1]}" if isinstance(arg, list) else arg
        raise AssertionError(f"the renderer does not know {key}")


def _substitute(node: Any, variable: str, item: str) -> Any:
    if isinstance(node, str):
        return node.replace("${" + variable + "}", item)
    if isinstance(node, list):
        return [_substitute(v, variable, item) for v in node]
    if isinstance(node, dict):
        if node == {"Ref": variable}:
            return item
        return {_substitute(k, variable, item): _substitute(v, variable, item) for k, v in node.items()}
    return node


def role_inline_policies(resources: dict[str, dict[str, Any]], role: str) -> dict[str, dict[str, Any]]:
    """Policy name -> document of every inline policy the role gets (its own and AWS::IAM::RolePolicy ones)."""
    policies = {p["PolicyName"]: p["PolicyDocument"] for p in resources[role]["Properties"].get("Policies", [])}
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::RolePolicy" and resource["Properties"]["RoleName"] == role:
            policies[resource["Properties"]["PolicyName"]] = resource["Properties"]["PolicyDocument"]
    return policies


def policy_size(document: dict[str, Any]) -> int:
    """A policy's size as IAM counts it for its quotas: without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))
