"""A YAML file checked against a pydantic model: one line per problem, `file:line: field: problem`.

The policy file (POLICY_FILE) and the locations file (LOCATIONS_FILE) are read the same way: YAML syntax errors
with their line, keys written twice in one mapping refused, and every validation error at the line of the
deepest node it reaches."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

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
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise error([f"{source}:{line}: yaml: {getattr(e, 'problem', None) or e}"]) from None
    if duplicates := duplicate_keys(node):
        raise error([f"{source}:{line}: {path}: {problem}" for line, path, problem in duplicates])
    if not isinstance(data, dict):
        raise error([f"{source}:1: {top}: the file must be a mapping with a `{top}:` list"])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        lines: list[tuple[int, str]] = []
        for err in e.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
            line = node_line(node, loc)
            field = ".".join(str(p) for p in loc) or top
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                parents = [p for p in loc[:-1] if isinstance(p, str)]
                msg = "unknown key" + (
                    f" ({unknown[parents[-1]]})" if unknown and parents and parents[-1] in unknown else ""
                )
            lines.append((line, f"{source}:{line}: {field}: {msg}"))
        raise error([text for _, text in sorted(lines, key=lambda found: found[0])]) from None


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
