"""Block Kit builders: pure functions from domain values to (fallback text, blocks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.domain.findings import Finding, Severity
from bot.domain.inventory import KeyView, ListResult, UserKeys
from bot.domain.keys import KeyFacts
from bot.domain.slack_ids import is_user_id

Blocks = list[dict[str, Any]]
Message = tuple[str, Blocks]

_SEVERITY_ICON = {
    Severity.CRITICAL: ":rotating_light:",
    Severity.HIGH: ":red_circle:",
    Severity.MEDIUM: ":large_orange_circle:",
    Severity.LOW: ":large_yellow_circle:",
    Severity.INFO: ":white_circle:",
}
_MAX_SECTION = 2900  # Slack allows 3000 characters in a section's text


def escape(text: str) -> str:
    """Make text someone typed (or set in IAM) inert in mrkdwn: Slack reads `<…>` as mentions and links and
    `&` as the start of an entity, so `<!channel>` would notify everyone. Use on every such value shown."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def who(actor: str) -> str:
    """A Slack user as a mention; anything else (a system actor, an owner tag) as inert text."""
    return f"<@{actor}>" if is_user_id(actor) else escape(actor)


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and the word in the form that count takes: 1 user, 2 users, 0 users, 1,500 users; `many` for
    irregular words."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:_MAX_SECTION]}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:_MAX_SECTION]}]}


def button(
    text: str, action_id: str, value: str, style: str | None = None, confirm: dict[str, Any] | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def confirm_dialog(title: str, text: str, yes: str) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "mrkdwn", "text": text},
        "confirm": {"type": "plain_text", "text": yes},
        "deny": {"type": "plain_text", "text": "Back"},
    }


def plain(text: str) -> Message:
    return text, [section(text)]


DateText = Callable[[datetime | None], str]  # how a date is written: `day` in Slack, `utc_day` elsewhere


def last_used_text(facts: KeyFacts, at: DateText | None = None) -> str:
    """A key's last use and where; its date in the reader's zone in Slack (`day`), `at=utc_day` for the CLI."""
    if facts.last_used is None:
        return "never"
    where = ", ".join(p for p in (facts.last_service, facts.last_region) if p)
    return (at or day)(facts.last_used) + (f" ({where})" if where else "")


def age_text(facts: KeyFacts, now: datetime, at: DateText | None = None) -> str:
    """When a key was made and its age; the date as `last_used_text` writes it."""
    return f"created {(at or day)(facts.created)}, {plural(facts.age_days(now), 'day')} old"


def finding_line(finding: Finding) -> str:
    control = f" _{finding.control}_" if finding.control else ""
    return f"{_SEVERITY_ICON[finding.severity]} {finding.message}{control}"


def key_lines(view: KeyView, now: datetime, note: str | None = None) -> str:
    f = view.facts
    lines = [
        f"`{f.key_id}` *{f.status}*, {age_text(f, now)}, last used {last_used_text(f)}",
        *(f"    {finding_line(x)}" for x in view.findings),
        *([f"    {note}"] if note else []),
    ]
    return "\n".join(lines)


def _user_block(user: UserKeys, now: datetime, notes: Mapping[str, str], several: bool) -> list[dict[str, Any]]:
    owner = f", owner {escape(user.owner)}" if user.owner else ", no owner tag"
    head = f"*{account_user(user.account, user.user, several)}*{owner}"
    if user.delivered_to:
        head += f"\n_{escape(user.delivered_to)}_"
    if not user.keys:
        return [section(f"{head}\nNo access keys.")]
    lines = (key_lines(k, now, notes.get(k.facts.key_id or "")) for k in user.keys)
    return [section(head + "\n" + "\n".join(lines))]


def build_key_list(
    result: ListResult, now: datetime, notes: Mapping[str, str] | None = None, *, several_accounts: bool = True
) -> Message:
    """`list`; `notes` adds a line under a key (its rotation's stage and dates); users are named `account:user`
    only with `several_accounts`."""
    if not result.users:
        return plain(escape(result.empty_reason or "No IAM users to show."))
    blocks: Blocks = []
    for user in result.users[:45]:
        blocks.extend(_user_block(user, now, notes or {}, several_accounts))
    if len(result.users) > 45:
        blocks.append(context(f"…and {len(result.users) - 45} more users; name one with `list <user>`."))
    count = sum(len(u.keys) for u in result.users)
    return f"{plural(count, 'access key')} of {plural(len(result.users), 'IAM user')}", blocks


def utc(at: datetime | None) -> str:
    """A time as plain UTC text, for what is not read in Slack: the CLI, the audit log, log lines."""
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "?"


def utc_day(at: datetime | None) -> str:
    """A date as plain UTC text (`2026-03-09`), for what is not read in Slack."""
    return f"{at:%Y-%m-%d}" if at else "?"


def _slack_date(at: datetime, form: str, fallback: str) -> str:
    """Slack's date formatting: `<!date^unix time^form|fallback>` (https://api.slack.com/reference/surfaces/formatting#date-formatting)."""
    stamp = int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())
    return "".join(("<!date^", str(stamp), "^", form, "|", fallback, ">"))


def when(at: datetime | None) -> str:
    """A time in Slack, shown in the reader's own time zone (Slack's date formatting), with the UTC time as the
    fallback for clients that cannot format it. Only in mrkdwn: plain_text shows the token as it is."""
    if at is None:
        return "?"
    return _slack_date(at, "{date_short_pretty} {time}", utc(at))


def day(at: datetime | None) -> str:
    """A date in Slack, in the reader's own time zone (a day that ends at 23:00 UTC is the next day in Tokyo)."""
    if at is None:
        return "?"
    return _slack_date(at, "{date_short_pretty}", f"{at:%Y-%m-%d}")


def account_user(account: str, user: str, several_accounts: bool) -> str:
    """An IAM user as people name it: `account:user` where there are several accounts, the bare name otherwise
    (the one account's alias, `default`, says nothing). Escaped for mrkdwn."""
    return escape(f"{account}:{user}" if several_accounts else user)


class UsersKey(Protocol):
    """Anything that names one IAM user's key (a time-bound key, a retirement)."""

    @property
    def key_id(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def iam_user(self) -> str: ...


@dataclass(frozen=True)
class AccountNames:
    """How Slack names IAM users and accounts: `prod:ci` and "in account `prod`" where Keywarden watches several
    accounts; `ci` and nothing where it watches one (its alias, `default`, says nothing). Built once from the
    settings by bot/bootstrap (`factories.account_names`) and handed to what writes about users."""

    several: bool = True

    def user(self, account: str, user: str) -> str:
        """`prod:ci` or `ci`, escaped for mrkdwn."""
        return account_user(account, user, self.several)

    def key(self, k: UsersKey) -> str:
        """`AKIA…` of *prod:ci* (or *ci*): a key and whose it is."""
        return f"`{k.key_id}` of *{self.user(k.account, k.iam_user)}*"

    def plain(self, account: str, user: str) -> str:
        """`prod:ci` or `ci`, not escaped: for words a builder escapes later."""
        return f"{account}:{user}" if self.several else user

    def in_account(self, account: str | None, *, escaped: bool = True) -> str:
        """` in account `prod`` (with its leading space) with several accounts; nothing with one. `escaped=False`
        for an InputError's text, which the reply escapes."""
        if not account or not self.several:
            return ""
        return f" in account `{escape(account) if escaped else account}`"

    def account(self, account: str | None) -> str | None:
        """The account to name in words: itself with several accounts, None with one."""
        return account if self.several else None


SEVERAL_ACCOUNTS = AccountNames(several=True)  # the safe default where the caller does not say: names in full
ONE_ACCOUNT = AccountNames(several=False)
