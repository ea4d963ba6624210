"""`python -m bot findings`: the finding catalogue, as a table or as JSON."""

from __future__ import annotations

import json
from typing import TextIO

from bot.domain.catalogue import CATALOGUE, CatalogueEntry

COLUMNS = ("CODE", "SEVERITY", "CONTROLS", "SETTING", "TITLE")


def entry_json(entry: CatalogueEntry) -> dict:
    return {
        "code": entry.code,
        "title": entry.title,
        "severity": entry.severity.name.lower(),
        "control": entry.shown_control,
        "controls": list(entry.controls),
        "rationale": entry.rationale,
        "remediation": entry.remediation,
        "setting": entry.threshold,
        "default": entry.default,
    }


def _entries() -> list[CatalogueEntry]:
    return sorted(CATALOGUE.values(), key=lambda e: (-e.severity, e.code))


def render_table() -> str:
    rows = [
        (
            e.code,
            e.severity.name.lower(),
            ", ".join(e.controls) or "-",
            f"{e.threshold}={e.default}" if e.threshold else "-",
            e.title,
        )
        for e in _entries()
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    return "\n".join([line(COLUMNS), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]) + "\n"


def run_findings(*, as_json: bool, out: TextIO) -> int:
    if as_json:
        out.write(json.dumps([entry_json(e) for e in _entries()], indent=2) + "\n")
    else:
        out.write(render_table())
    return 0
