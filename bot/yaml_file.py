"""A YAML file checked against a pydantic model: one line per problem, `file:line: field: problem`.

The policy file (POLICY_FILE) and the locations file (LOCATIONS_FILE) are read the same way: YAML syntax errors
with their line, keys written twice in one mapping refused, and every validation error at the line of the
deepest node it reaches."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)


class FileProblems(ValueError):
    """A malformed file: one line per problem, each `file:line: field: problem`."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def read_text(path: str | Path, error: type[FileProblems] = FileProblems) -> str:
    path = Path(path)
    try:
        return path.read_text()
    except OSError as e:
        raise error([f"{path}: cannot be read: {e.strerror or e}"]) from None


def validate(
    text: str,
    source: str,
    model: type[M],
    top: str,
    error: type[FileProblems] = FileProblems,
    unknown: dict[str, str] | None = None,
) -> M:
    """The file's content as `model`, or `error` listing every problem. `top` names the file's one top-level key
    (`rules`, `locations`); `unknown` words the "unknown key" of a field by the name of its parent
    (`{"deliver": "…"}`)."""
    node, data = _parse(text, source, error)
    if duplicates := duplicate_keys(node):
        raise error([f"{source}:{line}: {path}: {problem}" for line, path, problem in duplicates])
    if not isinstance(data, dict):
        raise error([f"{source}:1: {top}: the file must be a mapping with a `{top}:` list"])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        found = [_problem(err, node, source, top, unknown or {}) for err in e.errors()]
        raise error([text for _, text in sorted(found, key=lambda problem: problem[0])]) from None


def _parse(text: str, source: str, error: type[FileProblems]) -> tuple[yaml.Node | None, object]:
    """The file's node tree (for lines) and its data, or `error` at the line of the YAML syntax error."""
    try:
        return yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise error([f"{source}:{line}: yaml: {getattr(e, 'problem', None) or e}"]) from None


def _problem(
    err: ErrorDetails, node: yaml.Node | None, source: str, top: str, unknown: dict[str, str]
) -> tuple[int, str]:
    """One validation error as (line, `file:line: field: problem`)."""
    loc = [p for p in err["loc"] if not _is_validator_step(p)]
    line = node_line(node, loc)
    field = ".".join(str(p) for p in loc) or top
    msg = _unknown_key(loc, unknown) if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return line, f"{source}:{line}: {field}: {msg}"


def _is_validator_step(part: int | str) -> bool:
    """A step of pydantic's error location that names a union member or validator, not a key of the file."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _unknown_key(loc: list[int | str], unknown: dict[str, str]) -> str:
    """The words for a key the model does not know, with the hint `unknown` gives for the key's parent, if any."""
    parents = [p for p in loc[:-1] if isinstance(p, str)]
    hint = unknown.get(parents[-1]) if parents else None
    return "unknown key" + (f" ({hint})" if hint is not None else "")


def duplicate_keys(node: yaml.Node | None, path: str = "") -> list[tuple[int, str, str]]:
    """Every key written twice in one mapping, as (line, path, problem).

    YAML loaders keep the last of two equal keys without a word: a second `rules:` block would silently
    replace the first.
    """
    found: list[tuple[int, str, str]] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            here = f"{path}.{name}" if path else name
            line = key.start_mark.line + 1
            if name in first:
                found.append((line, here, f"duplicate key (first written on line {first[name]})"))
            else:
                first[name] = line
            found += duplicate_keys(value, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += duplicate_keys(item, f"{path}.{i}" if path else str(i))
    return found


def node_line(node: yaml.Node | None, loc: list) -> int:
    """The line of the deepest node the error's location reaches."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == part), None)
            if found is None:
                break
            key, node = found
            line = (node if isinstance(node, yaml.ScalarNode) else key).start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
