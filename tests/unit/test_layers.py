"""The layering rules in pyproject.toml ([tool.importlinter]) hold: a pure domain, boto3 only behind bot.aws,
handlers without database or AWS code of their own, layers importing only downward, no import cycles;
no module is over 350 lines, no function over 80 lines, and no function of complexity grade D or worse (radon)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from radon.complexity import cc_rank, cc_visit
from radon.visitors import Class, Function

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


MAX_LINES = 350


def test_no_module_is_over_350_lines() -> None:
    too_long: dict[str, int] = {}
    for path in sorted(p for package in ("bot", "handlers") for p in (ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            too_long[name] = lines
    assert not too_long, f"over {MAX_LINES} lines (split them along their jobs): " + ", ".join(
        f"{name} ({lines})" for name, lines in sorted(too_long.items())
    )


MAX_FUNCTION_LINES = 80


def test_no_function_is_over_80_lines() -> None:
    too_long: list[str] = []
    for path in sorted(p for package in ("bot", "handlers") for p in (ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name} ({lines})")
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines (split them along their jobs): " + ", ".join(
        too_long
    )


# radon's grades by cyclomatic complexity: A 1-5, B 6-10, C 11-20, D 21-30, E 31-40, F 41 and more.
WORST_GRADE = "C"
GENERATED = ROOT / "bot" / "store" / "migrations" / "versions"  # Alembic's revisions, written once


def _every_block(blocks: Iterable[Function | Class]) -> Iterator[Function | Class]:
    """cc_visit's blocks (functions, classes, their methods) and what radon keeps inside them: the functions nested
    in a function, the classes nested in a class with their methods."""
    for block in blocks:
        yield block
        if isinstance(block, Function):
            yield from _every_block(block.closures)
        else:
            for inner in block.inner_classes:
                yield from _every_block([inner, *inner.methods])


def test_no_function_is_complexity_grade_d_or_worse() -> None:
    too_complex: list[str] = []
    for path in sorted(p for package in ("bot", "handlers") for p in (ROOT / package).rglob("*.py")):
        if path.is_relative_to(GENERATED):
            continue
        name = path.relative_to(ROOT).as_posix()
        for block in _every_block(cc_visit(path.read_text())):
            grade = cc_rank(block.complexity)
            if grade > WORST_GRADE:
                too_complex.append(f"{name}:{block.lineno} {block.fullname} {grade}{block.complexity}")
    assert not too_complex, (
        f"of complexity grade D or worse (split them along their jobs, to grade {WORST_GRADE} or better): "
        + ", ".join(too_complex)
    )
