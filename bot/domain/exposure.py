"""Finding AWS credentials pasted into chat text. Pure: no I/O, and the secret never leaves this module.

An access key id is not secret (AWS says so); an id together with a secret access key is an exposure.
`detect` answers which key ids a text holds and whether a secret candidate sits beside them, never the
secret itself, so nothing downstream can store or print it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from bot.domain.keys import SECRET_SHAPE

MAX_KEY_IDS = 10
MAX_TEXT = 100_000  # Slack caps a message at 40,000 characters; anything longer is cut before scanning

# AKIA: IAM user keys; ASIA: STS session keys; ABIA: STS service bearer tokens; ACCA: context-specific
# credentials. The rest is base32 (A-Z, 2-7). "Not inside a longer token": no letter, digit or _ around it.
KEY_ID = re.compile(r"(?<![A-Za-z0-9_])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9_])")
_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")
# A name that says "this is the secret", up to a few characters before the candidate.
_SECRET_NAME = re.compile(r"secret[\w-]{0,20}[\"']?\s*[:=]?\s*[\"']?\s*$|secret\s*access\s*key\W{0,5}$", re.I)
_NAME_WINDOW = 40
# A random 40-character string over 64 symbols has an entropy near 4.7 bits per character (with only 40
# samples; the lowest of 100,000 random ones was 4.18); hex digests stay near 3.7, words and paths lower.
MIN_ENTROPY = 4.1


@dataclass(frozen=True)
class Detection:
    key_ids: tuple[str, ...] = ()  # distinct, in order of appearance, at most MAX_KEY_IDS
    secret: bool = False  # a secret access key candidate is in the same text
    more_ids: bool = False  # the text held more key ids than were looked at

    @property
    def exposure(self) -> bool:
        return bool(self.key_ids) and self.secret


NOTHING = Detection()


def detect(text: str) -> Detection:
    """The key ids in `text` and whether a secret candidate is there too."""
    if not text or not any(p in text for p in _PREFIXES):  # the common case: a few substring scans in C
        return NOTHING
    text = text[:MAX_TEXT]
    ids: list[str] = []
    more = False
    for match in KEY_ID.finditer(text):
        key_id = match.group(0)
        if key_id in ids:
            continue
        if len(ids) == MAX_KEY_IDS:
            more = True
            break
        ids.append(key_id)
    if not ids:
        return NOTHING
    return Detection(tuple(ids), _has_secret(text), more)


def detect_typed(text: str) -> Detection:
    """For text typed into Keywarden itself (a command, a form field): a secret candidate counts with or without
    a key id beside it, since such text has no reason to hold one. `exposure` still needs a key id."""
    text = (text or "")[:MAX_TEXT]
    found = detect(text)
    if found.key_ids or not _has_secret(text):
        return found
    return Detection(secret=True)


def _has_secret(text: str) -> bool:
    for match in SECRET_SHAPE.finditer(text):
        candidate = match.group(0)
        if _named_secret(text, match.start()) or looks_random(candidate):
            return True
    return False


def _named_secret(text: str, start: int) -> bool:
    return bool(_SECRET_NAME.search(text[max(0, start - _NAME_WINDOW) : start]))


def looks_random(candidate: str) -> bool:
    """High Shannon entropy, with both upper- and lower-case letters (as every real secret key has)."""
    if candidate.lower() == candidate or candidate.upper() == candidate:
        return False
    return shannon_entropy(candidate) >= MIN_ENTROPY


def shannon_entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0


def mask(key_id: str) -> str:
    """A key id as shown in public places: `AKIA…WXYZ`."""
    return f"{key_id[:4]}…{key_id[-4:]}" if len(key_id) > 8 else "…"


def is_user_key(key_id: str) -> bool:
    """Long-term IAM user keys (AKIA) can be deactivated and rotated; the others are temporary."""
    return key_id.startswith("AKIA")


@dataclass(frozen=True)
class PastedMessage:
    """A Slack message as the detector needs it. `text` is read once and never stored."""

    channel: str
    ts: str
    user: str
    text: str = field(repr=False)
    thread_ts: str | None = None

    @property
    def origin(self) -> str:
        return f"slack/{self.channel}/{self.ts}"
