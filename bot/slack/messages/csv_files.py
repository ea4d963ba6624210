"""CSV files people open in a spreadsheet (findings, CloudTrail events, the audit log): every row is written
through defusedcsv, so no cell runs as a formula. Pure."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Protocol, TextIO

from defusedcsv import csv  # type: ignore[import-untyped]  # ships no type information

# What a spreadsheet may read as the start of a formula. defusedcsv guards `= + - @ | %` but not a tab or a
# carriage return, and leaves negative numbers as they are; a cell starting with any of these gets a `'` here
# first, so every cell that could run reads the same: a leading `'`, the text otherwise untouched.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


class RowWriter(Protocol):
    def writerow(self, row: Iterable[Cell]) -> object: ...


def spreadsheet_safe(cell: Cell) -> Cell:
    """A cell a spreadsheet shows as text: text starting like a formula gets a leading `'`."""
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


class _SafeWriter:
    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[Cell]) -> object:
        return self._writer.writerow([spreadsheet_safe(c) for c in row])


def csv_writer(stream: TextIO) -> RowWriter:
    """A CSV writer whose cells cannot run in a spreadsheet."""
    return _SafeWriter(stream)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """A whole CSV file as text, header first."""
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()
