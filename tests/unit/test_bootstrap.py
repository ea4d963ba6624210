"""The wiring reads top to bottom: each service is complete when it is built (no callback bound later through a
lambda, no attribute set on a service after its construction) and no function of bot/bootstrap is long."""

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def _trees() -> dict[str, ast.Module]:
    paths = [BOT / "bootstrap.py", *sorted((BOT / "bootstrap").glob("*.py"))]
    trees = {p.name: ast.parse(p.read_text()) for p in paths if p.exists()}
    assert any(isinstance(n, ast.FunctionDef) and n.name == "bootstrap" for t in trees.values() for n in t.body)
    return trees


def test_every_service_is_complete_when_built() -> None:
    lambdas, assigned = [], []
    for name, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Lambda):
                lambdas.append(f"{name}:{node.lineno}")
            targets = node.targets if isinstance(node, ast.Assign) else []
            assigned += [f"{name}:{t.lineno}" for t in targets if isinstance(t, ast.Attribute)]
    # Services' own methods may remember what they build (self._events_dlq); a wiring function sets nothing.
    assigned = [where for where in assigned if not _in_a_method(where)]
    assert lambdas == [] and assigned == []


def test_no_wiring_function_is_over_80_lines() -> None:
    long = [
        f"{name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in _trees().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.end_lineno and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long == []


def _in_a_method(where: str) -> bool:
    name, line = where.split(":")
    tree = _trees()[name]
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    return any(c.lineno <= int(line) <= (c.end_lineno or 0) for c in classes)
