"""The one check of the state machines (requests, rotations): a move is allowed only when its table lists it."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

State = TypeVar("State", bound=Hashable)


class TransitionError(ValueError):
    """A move the state machine does not allow: a bug, or a race another caller already won."""


def check_move(table: Mapping[State, frozenset[State]], current: State, new: State, described: str) -> None:
    """Raise TransitionError ("<described> cannot become <new>") unless `table` lets `current` become `new`."""
    if new not in table.get(current, frozenset()):
        raise TransitionError(f"{described} cannot become {new}")
