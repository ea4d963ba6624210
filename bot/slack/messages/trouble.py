"""What a person is told when AWS refuses or fails Keywarden itself. The adapter's message (which permission, which
policy file, how boto3 finds credentials, botocore's own text) is for whoever runs Keywarden and goes to the log
under the reference given (bot/services/trouble.py logs it); people get what happened, what they can do and whom
to ask."""

from __future__ import annotations

from bot.slack.messages.common import escape

ASK_THE_ADMINS = "Whoever runs Keywarden can see why in its log (reference `{ref}`)."
_ASK_AND_FILE_AGAIN = (
    "Whoever runs Keywarden can see why in its log (reference `{ref}`): ask them, and file a new request once it "
    "is fixed."
)

# What happened, by the AwsError's code. Codes not here keep their message (written for people where it is raised).
_WHAT = {
    "InvalidCredentials": "Keywarden cannot sign in to AWS{in_} just now.",
    "AccessDenied": "AWS does not allow Keywarden to do this{in_}.",
    "Unavailable": "Keywarden got no clear answer from AWS{in_} (a connection or server error).",
    "Throttling": "AWS was too busy to answer Keywarden{in_}, even after several tries.",
    "RegionDisabled": "AWS refused: the region Keywarden asked in is not enabled{for_}.",
    "LimitExceeded": "AWS refused: a limit was reached{in_}.",
}
# What happened when a change failed, for the codes a change can also end with.
_CHANGE_FAILED = {
    **_WHAT,
    "NoSuchEntity": "AWS no longer has this key or its IAM user{in_}.",
    "LimitExceeded": "AWS refused: a limit was reached{in_} (an IAM user has at most two access keys).",
}
_PASSING = {"Unavailable", "Throttling"}  # likely to pass by itself: try again later


def _in(account: str | None) -> str:
    return f" in account `{escape(account)}`" if account else ""


def _what(words: str, account: str | None) -> str:
    for_ = f" for account `{escape(account)}`" if account else ""
    return words.format(in_=_in(account), for_=for_)


def _ask(code: str, reference: str, again: str) -> str:
    """What to do: wait and try again when the trouble likely passes; otherwise ask whoever runs Keywarden."""
    if code in _PASSING:
        return f"{again} in a few minutes; if it keeps failing, whoever runs Keywarden can see why in its log " + (
            f"(reference `{reference}`)."
        )
    return ASK_THE_ADMINS.format(ref=reference)


def aws_refusal(code: str, account: str | None, reference: str) -> str | None:
    """People words for an answer to a command that AWS refused or failed (its credentials, a permission it lacks,
    AWS out of reach or too busy, a region not enabled, a limit), by the error's code; None for other failures,
    whose message is already a person's."""
    words = _WHAT.get(code)
    if words is None:
        return None
    # A lost answer (Unavailable) may have taken effect: only a refusal is known to have done nothing.
    done = "" if code in _PASSING else " Nothing was done."
    return f"{_what(words, account)}{done} {_ask(code, reference, 'Try again')}"


# What happened, for the other codes an answer to a command can end with (their message is the operator's).
_OTHER = {
    "NoSuchEntity": "AWS did not find what Keywarden looked for{in_}: it may have been deleted just now.",
    "ReportNotReady": "AWS had not finished the report Keywarden asked for{in_}.",
}


def aws_trouble(code: str, account: str | None, reference: str) -> str:
    """People words for any AWS failure behind a command or a click whose message is not a person's: what happened,
    that nothing was done (when that is known), what to do and whom to ask; the operator's detail is in the log under
    `reference`."""
    refusal = aws_refusal(code, account, reference)
    if refusal is not None:
        return refusal
    if code == "ReportNotReady":
        return f"{_what(_OTHER[code], account)} {_ask('Unavailable', reference, 'Try again')}"
    what = _what(_OTHER.get(code, "AWS refused what Keywarden asked of it{in_}."), account)
    return f"{what} Nothing was done. {ASK_THE_ADMINS.format(ref=reference)}"


def change_failed(code: str, account: str | None, reference: str, *, done_first: str = "") -> str:
    """A request's change that failed in AWS, in people's words: what happened, that nothing was changed (or the
    one step done first, `done_first`), and what to do next; the operator's detail is in the log under `reference`."""
    what = _what(_CHANGE_FAILED.get(code, "AWS refused the change{in_}."), account)
    # A change whose answer was lost (Unavailable) fails only once AWS was asked again and showed nothing changed.
    nothing = "AWS shows that nothing was changed." if code == "Unavailable" else "Nothing was changed."
    first = done_first.strip().rstrip(";")
    changed = f"{first[:1].upper()}{first[1:]}; nothing else was changed." if first else nothing
    if code in _PASSING:
        then = _ask(code, reference, "File a new request")
    elif code == "NoSuchEntity":  # nothing to fix: the key or user went meanwhile
        then = f"Whoever runs Keywarden can see AWS's answer in its log (reference `{reference}`)."
    else:
        then = _ASK_AND_FILE_AGAIN.format(ref=reference)
    return f"{what} {changed} {then}"


def secret_not_stored(
    code: str, account: str | None, reference: str, done_first: str, key_id: str, *, deleted: bool
) -> str:
    """Secrets Manager did not take a new key's secret: the key is deleted again (or, when that failed, left for
    whoever runs Keywarden to delete; its secret was never shown anywhere)."""
    refused = code == "AccessDenied"
    what = "AWS does not allow Keywarden to store the secret" if refused else "AWS did not store the secret"
    first = done_first.strip().rstrip(";")
    before = f"{first[:1].upper()}{first[1:]}. " if first else ""
    if deleted:
        return (
            f"{before}{what} in AWS Secrets Manager{_in(account)}, so the new key was deleted again. "
            + _ASK_AND_FILE_AGAIN.format(ref=reference)
        )
    return (
        f"{before}{what} in AWS Secrets Manager{_in(account)}, and the new key `{escape(key_id)}` could not be deleted "
        f"again (its secret was never shown): it should be deleted. {ASK_THE_ADMINS.format(ref=reference)}"
    )


def reveal_unsettled(account: str | None, reference: str) -> str:
    """The Reveal window when AWS's answer to making the key was lost: any key made is deleted again, unseen."""
    return (
        f"Keywarden got no clear answer from AWS{_in(account)}, so no secret can be shown now; a key made meanwhile is "
        f"deleted again, its secret unseen. Click *Reveal* again in a moment; if it keeps failing, whoever runs "
        f"Keywarden can see why in its log (reference `{reference}`)."
    )


def region_unread(code: str, reference: str) -> str:
    """Why CloudTrail could not be read in one region (`activity`): the calls made there are missing."""
    missing = "so the calls made there are not in this answer."
    if code == "RegionDisabled":
        return f"the region is not enabled for this account (or for Keywarden's credentials), {missing}"
    if code == "AccessDenied":
        why = "AWS does not allow Keywarden to read CloudTrail there"
    elif code in _PASSING:
        return f"CloudTrail did not answer there just now, {missing} Ask again in a few minutes."
    else:
        why = "AWS refused Keywarden's question there"
    return f"{why}, {missing} {ASK_THE_ADMINS.format(ref=reference)}"


def could_not_look(key_id: str, accounts: list[str]) -> str:
    """A key looked for where AWS refused Keywarden: whether it is there is unknown, and says so. `accounts`: those
    it could not read, named where there are several (none named: the one account)."""
    where = ", ".join(f"`{escape(a)}`" for a in accounts)
    plural = "accounts" if len(accounts) != 1 else "account"
    there = f" in {plural} {where}" if accounts else ""
    return (
        f"Keywarden could not look for `{escape(key_id)}`{there}: AWS does not allow it to read the keys"
        f"{' there' if accounts else ''}, so whether the key is there is unknown. Whoever runs Keywarden can see why "
        "in its log."
    )
