"""Shared test helpers live in tests/support: no test module imports another test module or a conftest."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_tests_import_only_tests_support() -> None:
    offenders = []
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("tests.") and not name.startswith("tests.support") and name != "tests.conftest":
                    offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert offenders == []
