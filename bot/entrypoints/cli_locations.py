"""`python -m bot locations check [FILE]`, and LOCATIONS_FILE checked at start."""

from __future__ import annotations

import sys

from bot.domain.locations import LocationBook
from bot.locations import Reach, unreachable_kinds
from bot.locations.file import LocationsFileError, load
from bot.settings import Settings


def known_accounts(settings: Settings) -> list[str] | None:
    """The aliases an `account:` may name; None with Organizations discovery (found at run time)."""
    return None if settings.organization is not None else settings.account_aliases


def load_or_exit(settings: Settings, path: str | None = None, *, reachable: bool = True) -> LocationBook:
    """The locations file, or one line per problem on stderr and exit code 2. With `reachable`, a kind of place the
    file uses that Keywarden could not reach as configured (GITHUB_TOKEN unset, …) is a problem too."""
    path = path or settings.locations_file or ""
    try:
        book = load(path, known_accounts(settings))
    except LocationsFileError as e:
        for line in e.lines:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None
    missing = unreachable_kinds(book, Reach.from_settings(settings)) if reachable else []
    for line in missing:
        print(line, file=sys.stderr)
    if missing:
        raise SystemExit(2)
    return book


def check(settings: Settings, path: str | None) -> int:
    path = path or settings.locations_file
    if not path:
        print("locations check: name a file, or set LOCATIONS_FILE.", file=sys.stderr)
        return 2
    book = load_or_exit(settings, path, reachable=False)
    places = sum(len(u.deliver) for u in book.users)
    print(f"{path}: {len(book.users)} machine user{'s' if len(book.users) != 1 else ''}, {places} locations, valid")
    for entry in book.users:
        name = f"{entry.account}:{entry.user}" if entry.account else entry.user
        every = f", rotated every {entry.rotate_every_days} days" if entry.rotate_every_days else ""
        print(f"  {name}: {entry.describe()}{every}")
    for line in unreachable_kinds(book, Reach.from_settings(settings)):
        print(f"note: {line} (set it where Keywarden runs)")
    aliases = known_accounts(settings)
    if any(u.account is None for u in book.users) and (aliases is None or len(aliases) > 1):
        print("note: entries without `account:` are matched to the one account that has the user, when Keywarden runs")
    return 0
