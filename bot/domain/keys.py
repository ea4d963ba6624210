"""Pure rules about IAM user names, access key ids and key facts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
ACCESS_KEY_ID = re.compile(r"^AKIA[A-Z0-9]{16}$")
_LOOSE_KEY_ID = re.compile(r"^\s*[A-Za-z0-9]{4}[A-Za-z0-9 ]{10,}\s*$")
# A secret access key's shape: exactly 40 characters of base64's alphabet, not part of a longer run (nor
# followed by padding). `=` may come before it: in base64 it only pads the end, so a run after it is not part
# of a longer one, and it is how the secret is assigned (`AWS_SECRET_ACCESS_KEY=<secret>`).
SECRET_SHAPE = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")

ACTIVE = "Active"
INACTIVE = "Inactive"


class NotFound(LookupError):
    """What was asked about (a user, a key) is not there; the AWS adapter's `AwsNotFound` is one."""


class InputError(ValueError):
    """Bad input from a person: the message says what was wrong and the correct form.

    Plain text that may quote the input; Slack replies escape it, so it carries no mentions or links."""


@dataclass(frozen=True)
class KeyFacts:
    """What we know about one access key, from IAM or the credential report."""

    account: str
    user: str
    key_id: str | None
    status: str
    created: datetime
    last_used: datetime | None = None
    last_service: str | None = None
    last_region: str | None = None
    is_root: bool = False

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def age_days(self, now: datetime) -> int:
        return (now - self.created).days

    def days_since_use(self, now: datetime) -> int | None:
        return None if self.last_used is None else (now - self.last_used).days


@dataclass(frozen=True)
class UserRef:
    """An IAM user as a person named it: `user` or `account:user`."""

    account: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.account}:{self.name}" if self.account else self.name


# What quoting and pasting put around a key id: code marks, quotes (straight or curly), brackets, Slack's bold
# and italic marks; and a full stop or comma after it. None of them ever appears in a key id.
_WRAPPERS = "`'\"\u2018\u2019\u201a\u201c\u201d\u201e\u00ab\u00bb()[]{}*_"
_TRAILING = ".,;:!?"


def as_pasted(text: str) -> str:
    """A key id as people paste it, without the quotes, code marks or punctuation around it (`AKIA…`.,
    "AKIA…", “AKIA…”). The whitespace around it is kept: it is part of what `check` diagnoses."""
    core = text.strip()
    while True:
        unwrapped = core.rstrip(_TRAILING).strip(_WRAPPERS).strip()
        if unwrapped == core:
            break
        core = unwrapped
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}{core}{trail}" if core else text


def compact_key_id(text: str) -> str:
    """The key id a person meant: unwrapped, its spaces removed, upper case (what `check` looks up)."""
    return "".join(as_pasted(text).split()).upper()


def looks_like_key_id(text: str) -> bool:
    """True when the text is probably meant as an access key id (for routing `rotate X`)."""
    t = as_pasted(text).strip()
    return bool(_LOOSE_KEY_ID.match(t)) and t[:4].upper() in {"AKIA", "ASIA"}


def parse_user_ref(text: str, aliases: list[str]) -> UserRef:
    """Parse `user` or `account:user`; raise InputError with the correct form."""
    head, sep, tail = text.partition(":")
    account, name = (head, tail) if sep else (None, text)
    if account is not None and account not in aliases:
        known = ", ".join(aliases)
        raise InputError(f"Unknown account `{account}`. Known accounts: {known}. Use `account:user`.")
    if not USER_NAME.match(name):
        raise InputError(f"`{name[:80]}` is not a valid IAM user name: use 1-64 letters, digits or + = , . @ _ -")
    return UserRef(account, name)


def parse_key_id(text: str) -> str:
    """Return a well-formed long-term access key id or raise InputError saying what is wrong."""
    problems = key_id_problems(text)
    if problems:
        raise InputError(f"`{text.strip()[:40]}` is not a valid access key id: {problems[0]}.")
    return as_pasted(text)


def key_id_problems(raw: str) -> list[str]:
    """Everything wrong with the way an access key id was written, most useful first."""
    problems: list[str] = []
    raw = as_pasted(raw)
    if raw != raw.strip():
        problems.append("it has spaces before or after it (copy it again without them)")
    text = raw.strip()
    if any(c.isspace() for c in text):
        problems.append("it has spaces inside it (an access key id is one word)")
    compact = "".join(text.split())
    if compact != compact.upper() and compact.upper().startswith(("AKIA", "ASIA")):
        problems.append("it has lower-case letters (access key ids are upper case)")
    if re.search(r"[^A-Za-z0-9\s]", compact):
        bad = sorted({c for c in compact if not c.isalnum()})
        problems.append(f"it has characters that never appear in a key id: {' '.join(bad)}")
    if len(compact) != 20:
        problems.append(f"it is {len(compact)} characters long; access key ids have 20")
    upper = compact.upper()
    if upper.startswith("ASIA"):
        problems.append(
            "it starts with ASIA, a temporary key from STS (a role session or SSO); "
            "it expires by itself and is not managed as an IAM user key"
        )
    elif not upper.startswith("AKIA"):
        problems.append("it does not start with AKIA, the prefix of long-term IAM user keys")
    return problems


@dataclass(frozen=True)
class AccessKey:
    user: str
    key_id: str
    status: str
    created: datetime


@dataclass(frozen=True)
class LastUsed:
    user: str
    date: datetime | None
    service: str | None
    region: str | None
