"""The audit hash chain on plain data: what each kind of tampering looks like to `check_chain`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.domain.audit_chain import FIELDS, GENESIS, ChainedEvent, canonical, chain_hash, check_chain

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def fields(n: int, **changes: object) -> dict[str, object]:
    base = dict.fromkeys(FIELDS)
    base |= {"at": T0 + timedelta(seconds=n), "actor": "UBOSS", "action": "approved", "outcome": "ok"}
    base |= {"request_id": f"R-{n:06d}", "account": "default", "iam_user": "ci", "detail": f"event {n}"}
    return base | changes


def chain(count: int) -> list[ChainedEvent]:
    events, prev = [], GENESIS
    for n in range(1, count + 1):
        row_hash = chain_hash(prev, fields(n))
        events.append(ChainedEvent(n, prev, row_hash, fields(n)))
        prev = row_hash
    return events


def test_an_untouched_chain_is_intact() -> None:
    events = chain(5)
    check = check_chain(events)
    assert check.intact and check.count == 5 and check.head == events[-1].row_hash
    assert check_chain([]) == check_chain([]) and check_chain([]).count == 0 and check_chain([]).head == GENESIS


def test_a_changed_field_names_that_event() -> None:
    events = chain(5)
    events[2] = replace(events[2], fields=fields(3, actor="UMALLORY"))
    check = check_chain(events)
    assert (check.bad_id, check.count) == (3, 2) and "changed after it was written" in check.reason


def test_a_changed_event_with_a_recomputed_hash_breaks_the_next_link() -> None:
    events = chain(5)
    forged = fields(3, outcome="failed")
    events[2] = replace(events[2], fields=forged, row_hash=chain_hash(events[2].prev_hash, forged))
    check = check_chain(events)
    assert check.bad_id == 4 and "does not follow event 3" in check.reason


@pytest.mark.parametrize(
    ("tamper", "bad_id"),
    [
        (lambda e: e[:2] + e[3:], 4),  # deleted
        (lambda e: [e[0], e[2], e[1], *e[3:]], 3),  # reordered
        (lambda e: e[1:], 2),  # the first one deleted
        (
            lambda e: [
                *e[:2],
                ChainedEvent(99, e[1].row_hash, chain_hash(e[1].row_hash, fields(9)), fields(9)),
                *e[2:],
            ],
            3,
        ),
    ],
)
def test_deleted_reordered_and_inserted_events_break_the_chain(tamper, bad_id: int) -> None:
    check = check_chain(tamper(chain(5)))
    assert check.bad_id == bad_id and "does not follow" in check.reason


def test_serialisation_is_stable_across_time_zones_and_precision() -> None:
    here = T0.astimezone(timezone(timedelta(hours=2)))
    assert canonical(fields(1, at=here)) == canonical(fields(1, at=T0))
    assert b'"at":"2026-11-28T09:00:01.000000+00:00"' in canonical(fields(1))
    assert canonical(fields(1, detail="")) != canonical(fields(1, detail=None))
    assert chain_hash(GENESIS, fields(1)) != chain_hash("1" * 64, fields(1))
    with pytest.raises(ValueError):
        canonical(fields(1, at=datetime(2026, 1, 1)))
