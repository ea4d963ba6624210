"""Block Kit builders for `activity` (CloudTrail) and `access` (IAM Access Advisor). Pure functions.

Everything CloudTrail reports about a caller (user agents, addresses) is text an attacker chooses:
it is escaped before it reaches mrkdwn.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from bot.domain.access_advisor import AccessSummary, ServiceAccess
from bot.domain.activity import ActivityResult, ActivitySummary, TrailEvent
from bot.domain.sessions import POLICY_NAME, MintedSession, revoke_policy
from bot.slack.messages.common import (
    SEVERAL_ACCOUNTS,
    AccountNames,
    Blocks,
    Message,
    context,
    day,
    last_used_text,
    plural,
    section,
    when,
)
from bot.slack.messages.csv_files import csv_text

MAX_LINES = 10
MAX_AGENT = 120
MAX_SESSIONS = 5
# LookupEvents returns management events only, whatever the trails record: said on every `activity` answer.
MANAGEMENT_ONLY = (
    "CloudTrail's event history holds management events only (calls that read or change configuration): data "
    "events (S3 object reads and writes, Lambda invocations, DynamoDB items) are only in a trail set up to log them."
)


def _safe(text: str, limit: int = 200) -> str:
    """Untrusted text for mrkdwn: no links, mentions, formatting or code-span breaks."""
    text = text[:limit] + ("…" if len(text) > limit else "")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def build_activity(result: ActivityResult, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    s = result.summary
    where = ", ".join(f"`{r}`" for r in s.regions_searched) or "no region"
    head = (
        f"*Activity of `{s.key_id}`* ({names.user(result.account, result.user)}), {day(s.start)} to {day(s.end)} "
        f"({plural(s.days, 'day')}), CloudTrail in {where}"
    )
    iam_says = f"IAM records its last use as {last_used_text(result.key)}."
    if s.total == 0:
        return _no_events(result, head, iam_says)
    title = f"{s.key_id}: {plural(s.total, 'call')} in {plural(s.days, 'day')}"
    lines = [
        head,
        f"*{plural(s.total, 'call')}*{'+' if s.truncated else ''}, first {when(s.first.at)}, "  # type: ignore[union-attr]
        f"last {when(s.last.at)}.",  # type: ignore[union-attr]
    ]
    if s.truncated:
        lines.append(
            f":warning: Cut at {s.total:,} events (`ACTIVITY_MAX_EVENTS`): there are more, "
            "so the counts below are a lower bound and the first event is not the first."
        )
    blocks: Blocks = [section("\n".join(lines))]
    blocks.append(section("*Calls by service and event*\n" + "\n".join(_call_lines(s))))
    blocks += _address_blocks(result)
    agents = [f"• `{_safe(a, MAX_AGENT)}` {n:,}" for a, n in s.agents[:5]]
    if len(s.agents) > 5:
        agents.append(f"• …and {len(s.agents) - 5} more")
    blocks.append(section("*User agents*\n" + "\n".join(agents)))
    regions = ", ".join(f"`{_safe(r, 30)}` {n:,}" for r, n in s.regions[:MAX_LINES])
    errors = ", ".join(f"`{_safe(e, 60)}` {n:,}" for e, n in s.errors[:MAX_LINES]) or "none"
    blocks.append(section(f"*Regions:* {regions}\n*Errors:* {errors}"))
    blocks += _sessions(result)
    blocks.append(context("\n".join([iam_says, MANAGEMENT_ONLY, *_csv_note(result), *result.notes])))
    return title, blocks


def _call_lines(s: ActivitySummary) -> list[str]:
    """Calls by service and event: the key's own, then those made through the sessions it minted."""
    calls = [f"• `{_safe(c, 80)}` {n:,}" for c, n in s.calls]
    if s.other_kinds:
        calls.append(f"• …and {plural(s.other_calls, 'call')} of {s.other_kinds} other kinds")
    calls += [f"• `{_safe(c, 80)}` {n:,} _through a session_" for c, n in s.session_calls]
    if s.through_sessions > sum(n for _, n in s.session_calls):
        calls.append(f"• …and {s.through_sessions - sum(n for _, n in s.session_calls):,} more _through sessions_")
    return calls


def _address_blocks(result: ActivityResult) -> Blocks:
    """The source addresses, and those never seen before with what to do about them."""
    s = result.summary
    ips = [
        f"• `{_safe(ip.ip, 60)}` {plural(ip.count, 'call')}, {when(ip.first)} → {when(ip.last)}"
        for ip in s.ips[:MAX_LINES]
    ]
    if len(s.ips) > MAX_LINES:
        ips.append(f"• …and {len(s.ips) - MAX_LINES} more addresses")
    blocks: Blocks = [section("*Source IP addresses*\n" + "\n".join(ips))]
    if not s.new_ips:
        blocks.append(section(f"*New addresses:* none since {s.boundary_reason}."))
        return blocks
    new = [f"• `{_safe(ip.ip, 60)}` first {when(ip.first)}, {plural(ip.count, 'call')}" for ip in s.new_ips[:MAX_LINES]]
    if len(s.new_ips) > MAX_LINES:
        new.append(f"• …and {len(s.new_ips) - MAX_LINES} more")
    blocks.append(
        section(
            f":eyes: *New addresses*, never seen before {s.boundary_reason}:\n"
            + "\n".join(new)
            + "\nIf you do not recognise them, deactivate the key: "
            f"`deactivate {s.key_id} --now`" + (", and end its sessions (below)." if result.sessions else ".")
        )
    )
    return blocks


def _sessions(result: ActivityResult) -> Blocks:
    """The sessions the key minted, and how to end them: deactivating the key does not."""
    s = result.summary
    if not result.sessions and not result.sessions_unread:
        return []
    now = result.read_at or s.end
    lines = [
        f"*Sessions the key minted* ({len(result.sessions)}): their calls are signed with the session's own key id, "
        "so each was looked up too; the calls above marked _through a session_ are theirs."
    ]
    for m in result.sessions[:MAX_SESSIONS]:
        until = f"valid until {when(m.expires)}" if m.expires else "expiry not recorded"
        state = "*may still be valid*" if m.may_be_valid(now) else "expired"
        role = f", as `{_safe(m.role_arn, 120)}`" if m.role_arn else ""
        lines.append(
            f"• `{_safe(m.key_id, 40)}` by `{m.call}` {when(m.minted_at)}{role}, {until} ({state}), "
            f"{plural(s.by_session.get(m.key_id, 0), 'call')}"
        )
    if len(result.sessions) > MAX_SESSIONS:
        more = " (their calls are in the CSV file)" if result.csv_sent else ""
        lines.append(f"• …and {len(result.sessions) - MAX_SESSIONS} more{more}")
    if result.sessions_unread:
        lines.append(
            f":warning: {plural(result.sessions_unread, 'session')} not looked up in every region: this answer's "
            "budget (`ACTIVITY_MAX_EVENTS` events, and the requests that many take) was spent first."
        )
    blocks: Blocks = [section("\n".join(lines))]
    live = [m for m in result.sessions if m.may_be_valid(now)]
    if live:
        blocks.append(section(_revoke_text(result, live)))
    return blocks


def _revoke_text(result: ActivityResult, live: list[MintedSession]) -> str:
    """AWS's way to end sessions early (IAM User Guide, "Disabling permissions for temporary security
    credentials"): deny everything to credentials issued before now, on the identity the sessions act as."""
    s = result.summary
    user = f"`{result.user}`" + (f" (`{_safe(result.user_arn, 160)}`)" if result.user_arn else "")
    roles = sorted({m.role_arn for m in live if m.role_arn})
    where = user + (
        " and to " + ", ".join(f"`{_safe(r, 160)}`" for r in roles) + " (an AssumeRole session acts as its role)"
        if roles
        else ""
    )
    policy = revoke_policy(result.read_at or s.end)
    return (
        f":rotating_light: *Deactivating `{s.key_id}` does not end a session*: session credentials stay valid until "
        "they expire (GetSessionToken's up to 36 hours, AssumeRole's up to 12 hours). To end every session issued "
        f"until now, attach this inline policy to {where}. Keys and sessions issued later are not affected: a request "
        "signed with a key carries no `aws:TokenIssueTime`.\n"
        f"```{policy}```\n"
        f"`aws iam put-user-policy --user-name {_safe(result.user, 64)} --policy-name {POLICY_NAME} "
        "--policy-document file://deny.json`"
    )


def _csv_note(result: ActivityResult) -> list[str]:
    if result.csv_sent is None:
        return []
    if result.csv_sent:
        return [f"Every event ({result.summary.total:,}) is in the CSV file I sent you in a direct message."]
    return ["The CSV file with every event could not be sent to your direct messages; try again later."]


def _no_events(result: ActivityResult, head: str, iam_says: str) -> Message:
    s = result.summary
    text = (
        f"{head}\n*No CloudTrail events* for this key in these regions.\n"
        "*What this shows:* no management API calls (IAM, STS, EC2, Lambda configuration, S3 bucket settings "
        "and the like) were made with the key in these regions during this period.\n"
        "*What it does not show:* data events (S3 object reads and writes, Lambda invocations, DynamoDB items) "
        "are recorded only by a trail set up to log them, and are not in CloudTrail's event history; other "
        "regions were not searched (add them to `ACTIVITY_REGIONS`); and events take up to about 15 minutes "
        "to appear."
    )
    blocks: Blocks = [section(text), context("\n".join([iam_says, MANAGEMENT_ONLY, *result.notes]))]
    return f"{s.key_id}: no CloudTrail events in {plural(s.days, 'day')}", blocks


def _service_line(s: ServiceAccess) -> str:
    where = f" ({_safe(s.region, 30)})" if s.region else ""
    used = f" last used {day(s.last_used)}{where}" if s.last_used else ""
    return f"• {_safe(s.name, 80)} (`{_safe(s.namespace, 40)}`){used}"


def _listed(items: list[ServiceAccess], limit: int = 25) -> str:
    lines = [_service_line(s) for s in items[:limit]]
    if len(items) > limit:
        lines.append(f"• …and {len(items) - limit} more")
    return "\n".join(lines)


def build_access(summary: AccessSummary, cache_hours: int, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    s = summary
    who = names.user(s.account, s.user)
    note = context(
        f"IAM Access Advisor, read {when(s.generated)} (kept for {plural(cache_hours, 'hour')}). It remembers about "
        "400 days; a use shows up about 4 hours after it happens."
    )
    if s.allowed == 0:
        text = (
            f"*`{who}`* has no policy that allows any AWS service (no policies at all, or none that allow "
            "anything): there is nothing to trim. Its keys can still call `sts:GetCallerIdentity`, which needs "
            "no permission."
        )
        return f"{who}: no service allowed", [section(text), note]
    title = f"{who}: {s.allowed} services allowed, {len(s.used)} used in {plural(s.days, 'day')}"
    blocks: Blocks = [
        section(
            f"*Access of `{who}`*: its policies allow *{plural(s.allowed, 'service')}*; "
            f"*{len(s.used)}* used in the last {plural(s.days, 'day')}, {len(s.stale)} used only before that, "
            f"{len(s.never)} never used."
        )
    ]
    if s.used:
        blocks.append(section(f"*Used in the last {plural(s.days, 'day')}*\n" + _listed(s.used)))
    if s.stale:
        blocks.append(section(f"*Not used in the last {plural(s.days, 'day')}*\n" + _listed(s.stale)))
    if s.never:
        never = ", ".join(f"`{_safe(x.namespace, 40)}`" for x in s.never[:60])
        more = f" and {len(s.never) - 60} more" if len(s.never) > 60 else ""
        blocks.append(
            section(
                f"*Never used* ({len(s.never)}): {never}{more}\n"
                ":scissors: *Suggestion:* remove these services from the policies of "
                f"`{s.user}`{' (and those not used lately)' if s.stale else ''}: it has not needed them. "
                "Least privilege limits what a leaked key can do."
            )
        )
    elif not s.stale:
        blocks.append(section("Every service its policies allow was used in this period: nothing to trim."))
    blocks.append(note)
    return title, blocks


def events_csv(events: Iterable[TrailEvent]) -> str:
    """Every event of an `activity` answer, for the CSV file sent when there are more than the answer lists."""
    return csv_text(
        ["time_utc", "service", "event", "region", "source_ip", "user_agent", "error", "event_id", "session_key_id"],
        (
            [
                e.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                *(e.service, e.name, e.region, e.source_ip, e.user_agent, e.error or ""),
                e.event_id,
                e.session or "",
            ]
            for e in sorted(events, key=lambda e: e.at)
        ),
    )
