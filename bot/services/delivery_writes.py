"""One delivery pass of a delivered rotation, and where its key is read back from: the mechanics under
bot/services/delivered_rotations.py. Never a secret in what is stored, logged or said: places and key ids only."""

from __future__ import annotations

from typing import Protocol

from bot.domain.delivered import Held, Pass, write_order
from bot.domain.locations import Credentials, Location, LocationError, LocationSpec, MachineUser
from bot.domain.rotation import Rotation
from bot.store.deliveries import Deliveries

WAITING_FOR_READABLE = "waits until a place that can be read back holds the new key"


class Places(Protocol):
    """Where machine users' keys go (bot/locations `Locations`)."""

    def entry(self, account: str, user: str) -> MachineUser | None: ...

    def open(self, account: str, user: str, spec: LocationSpec) -> Location: ...


class Unsure(Exception):
    """Whether a readable place holds the new key could not be told: nothing is deleted, the delivery waits."""

    def __init__(self, failed: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {w}" for p, w in failed))
        self.failed = failed


def recover(places: Places, r: Rotation) -> Credentials | None:
    """The new key from the first readable place that holds it. Unsure when none does but one could not be read."""
    entry = places.entry(r.account, r.iam_user)
    unread: list[tuple[str, str]] = []
    for spec in entry.deliver if entry else ():
        try:
            location = places.open(r.account, r.iam_user, spec)
            if not location.readable:
                continue
            held = location.recover()
        except LocationError as e:
            unread.append((spec.describe(), f"could not be read back to send the key on: {e.reason}"))
            continue
        if held is not None and held.key_id == r.new_key_id:
            return held
    if unread:
        raise Unsure(unread)
    return None


def write_all(places: Places, deliveries: Deliveries, r: Rotation, key: Credentials) -> Pass:
    """Write the key to every place that does not hold it yet, readable places first (each audited by place)."""
    entry = places.entry(r.account, r.iam_user)
    if entry is None:
        return Pass((), (("LOCATIONS_FILE", f"no longer lists `{r.iam_user}`"),), transient=False)
    done = {d.position for d in deliveries.of(r.id) if d.holds(key.key_id)}
    opened: list[tuple[int, LocationSpec, Location | LocationError]] = []
    for position, spec in enumerate(entry.deliver):
        try:
            opened.append((position, spec, places.open(r.account, r.iam_user, spec)))
        except LocationError as e:
            opened.append((position, spec, e))
    readable = [isinstance(o, LocationError) or o.readable for _, _, o in opened]
    holds_readable = any(p in done and ok for (p, _, _), ok in zip(opened, readable, strict=True))
    delivered: list[str] = []
    failed: list[tuple[str, str]] = []
    transient = True
    for position, spec, location in write_order(opened, readable):
        place = spec.describe()
        if position in done:
            delivered.append(place)
            continue
        if isinstance(location, LocationError):
            deliveries.record(r, position, place, key.key_id, Held.FAILED, error=location.reason)
            failed.append((place, location.reason))
            transient = False
            continue
        if not location.readable and not holds_readable and any(readable):
            failed.append((place, WAITING_FOR_READABLE))
            continue
        try:
            held = write_one(location, key)
        except LocationError as e:
            deliveries.record(r, position, place, key.key_id, Held.FAILED, error=e.reason, transient=e.transient)
            failed.append((place, e.reason))
            transient = transient and e.transient
            continue
        deliveries.record(r, position, place, key.key_id, held)
        delivered.append(place)
        holds_readable = holds_readable or location.readable
    return Pass(tuple(delivered), tuple(failed), transient=transient)


def write_one(location: Location, key: Credentials) -> Held:
    """Write, and read back where the place can be read: the key id must match."""
    location.write(key)
    if not location.readable:
        return Held.WRITTEN
    back = location.read_back()
    if back != key.key_id:
        raise LocationError(location.describe(), f"read back `{back or 'nothing'}`, not the new key", transient=True)
    return Held.VERIFIED
