"""What a person is told when AWS refuses Keywarden itself. The adapter's message (which permission, which policy
file, how boto3 finds credentials) is for whoever runs Keywarden and goes to the log under the reference given."""

from __future__ import annotations

from bot.slack.messages.common import escape

ASK_THE_ADMINS = "Whoever runs Keywarden can see why in its log (reference `{ref}`)."


def _in(account: str | None) -> str:
    return f" in account `{escape(account)}`" if account else ""


def aws_refusal(code: str, account: str | None, reference: str) -> str | None:
    """People words for AWS refusing Keywarden (its credentials, or a permission it lacks), by the error's code
    (`AccessDenied`, `InvalidCredentials`); None for other failures, whose message is already a person's."""
    then = "Nothing was done. " + ASK_THE_ADMINS.format(ref=reference)
    if code == "InvalidCredentials":
        return f"Keywarden cannot sign in to AWS{_in(account)} just now. {then}"
    if code == "AccessDenied":
        return f"AWS does not allow Keywarden to do this{_in(account)}. {then}"
    return None


def could_not_look(key_id: str, accounts: list[str]) -> str:
    """A key looked for where AWS refused Keywarden: whether it is there is unknown, and says so."""
    where = ", ".join(f"`{escape(a)}`" for a in accounts)
    plural = "accounts" if len(accounts) != 1 else "account"
    return (
        f"Keywarden could not look for `{escape(key_id)}` in {plural} {where}: AWS does not allow it to read the "
        "keys there, so whether the key is there is unknown. Whoever runs Keywarden can see why in its log."
    )
