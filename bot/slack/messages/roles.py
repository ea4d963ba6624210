"""Block Kit builders for keys on their way to roles: `replace`'s answer, the owner's DMs while a key is retired,
the lines and buttons `list` adds. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.cutover import Cutover, Why
from bot.domain.keys import LastUsed
from bot.domain.replacement import Kind, ReplaceResult
from bot.domain.requests import Request
from bot.domain.retirement import Retirement, RoleRef, Stage
from bot.domain.role_templates import INLINE_POLICY_QUOTA
from bot.domain.workload import NAMES, Confidence, Share, describe
from bot.slack import ids
from bot.slack.messages.common import (
    SEVERAL_ACCOUNTS,
    AccountNames,
    Blocks,
    Message,
    account_user,
    button,
    context,
    escape,
    plain,
    plural,
    section,
    when,
)

REPLACE = "Replace with a role"
SHOWN_BUTTONS = 5  # `list`: at most this many Replace buttons (an actions block holds 25; a list is read, not clicked)

# What to do with the template, per kind of replacement: where the role goes once deployed.
NEXT_STEPS = {
    Kind.LAMBDA: "Deploy it, set the function's execution role to the new role (or add its policy to the role the "
    "function has), then remove the key from the function's configuration: the SDK finds the role's credentials "
    "by itself.",
    Kind.ECS_TASK: "Deploy it, set `taskRoleArn` in the task definition to the new role, roll the service, then "
    "remove the key from the task's environment or secrets.",
    Kind.INSTANCE_PROFILE: "Deploy it, attach the instance profile to the instance (`aws ec2 "
    "associate-iam-instance-profile`), then remove the key from the machine: the SDK reads the role from the "
    "instance metadata.",
    Kind.CODEBUILD: "Deploy it, set the project's service role to the new role, then remove the key from the "
    "project's environment.",
    Kind.GITHUB_OIDC: "Deploy it with `GitHubRepository` set to the repository (and `CreateOidcProvider=true` if the "
    "account has no provider for token.actions.githubusercontent.com), give the workflow `permissions: id-token: "
    "write` and `aws-actions/configure-aws-credentials` with `role-to-assume`, then delete the two key secrets.",
    Kind.GITLAB_OIDC: "Deploy it with `GitLabProject` set (and `CreateOidcProvider=true` if the account has no "
    "provider for gitlab.com), give the job an `id_tokens` entry with `aud: https://gitlab.com` and "
    "`aws sts assume-role-with-web-identity`, then delete the key's CI/CD variables.",
    Kind.ROLES_ANYWHERE: "Deploy it with your CA's certificate and the machine certificate's common name, install "
    "`aws_signing_helper` as the profile's `credential_process`, then remove the key from the machine.",
    Kind.IDENTITY_CENTER: "Deploy it in the organization's management account (or Identity Center's delegated "
    "administrator); the person then signs in with `aws configure sso` and `aws sso login` and no longer needs "
    "the key.",
}
WHY_WAITING = {
    Why.UNREADABLE: "AWS could not be read; Keywarden tries again shortly",
    Why.REPLACEMENT_MISSING: "the role does not exist yet",
    Why.REPLACEMENT_UNUSED: "nothing has used the role yet",
    Why.OLD_IN_USE: "the key is still in use",
    Why.SETTLING: "the key is quiet and the role in use; Keywarden waits out the quiet period",
    Why.READY: "ready",
}


def _share(s: Share) -> str:
    regions = ", ".join(f"{escape(r)} {n}" for r, n in s.regions[:3])
    signs = "; ".join(escape(x) for x in s.signs[:2])
    return f"• {NAMES[s.runner]}: {plural(s.calls, 'call')} ({regions}; seen from {signs})"


def build_replace(result: ReplaceResult, several_accounts: bool = True) -> Message:
    w, made = result.workload, result.replacement
    user = account_user(result.account, result.user, several_accounts)
    verdict = escape(describe(w))
    sure = {
        Confidence.ALL: "Every call comes from one place: a role can take over all of it.",
        Confidence.MOST: "Nearly every call comes from one place; move the others first, or keep the key for them.",
        Confidence.MIXED: "The key is used from several places: the role replaces it only where it runs; the "
        "others need their own replacement before the key can go.",
        Confidence.NONE: "Nothing used the key in the window: it may not be needed at all (`deactivate` it and see).",
    }[w.confidence]
    head = f"*Workload of `{w.key_id}`* ({user}, last {plural(result.days, 'day')}): {verdict}.\n{sure}"
    blocks: Blocks = [section(head)]
    if w.shares:
        blocks.append(section("*Where it runs*\n" + "\n".join(_share(s) for s in w.shares[:6])))
    actions = ", ".join(f"`{a}`" for a in w.actions[:40]) or "none"
    more = f" and {len(w.actions) - 40} more" if len(w.actions) > 40 else ""
    what = f"*What it does* ({plural(len(w.actions), 'action')}): {actions}{more}"
    if set(w.main_actions) != set(w.actions) and w.runner is not None:
        what += (
            f"\nThe role gets the {plural(len(w.main_actions), 'action')} called from {NAMES[w.runner]}; the others "
            "belong to the other places."
        )
    if w.denied:
        what += "\nRefused to it, not granted: " + ", ".join(f"`{a}`" for a in w.denied[:10])
    blocks.append(section(what))
    sent = (
        f"the template is in our DM as `{escape(result.filename)}`"
        if result.file_sent
        else "the template could not be sent as a file: ask again in a moment"
    )
    replace = (
        f"*Replace it with {made.title}* `{escape(made.role_name)}`: {sent}. {NEXT_STEPS[made.kind]}\n"
        f"Then `retire {w.key_id}`: once approved, Keywarden switches the key off when the role is in use and the "
        "key has gone quiet, and deletes it after the grace period."
    )
    blocks.append(section(replace))
    notes = [escape(n) for n in result.notes]
    if made.policy_chars > INLINE_POLICY_QUOTA:
        notes.append(
            f"The policy is {made.policy_chars:,} characters, over IAM's {INLINE_POLICY_QUOTA:,} for a role's inline "
            "policies: split it into managed policies, or group actions with wildcards, before deploying."
        )
    notes.append(
        "CloudTrail's event history holds management events only; the policy allows every resource (`*`): narrow it "
        "where you know the resources."
    )
    blocks.append(context("\n".join(notes)))
    return f"Workload of {w.key_id}: {describe(w)}", blocks


def replace_button(account: str, key_id: str) -> dict[str, Any]:
    return button(REPLACE, ids.REPLACE_WITH_ROLE, ids.key_value(account, key_id))


def list_blocks(replaceable: Sequence[tuple[str, str, str, str]], several_accounts: bool = True) -> Blocks:
    """`list`'s last lines: how many of the keys shown a role could replace, each with its button.
    `replaceable`: (account, user, key id, verdict)."""
    if not replaceable:
        return []
    lines = [
        f"`{key_id}` of {account_user(account, user, several_accounts)}: {escape(summary)}"
        for account, user, key_id, summary in replaceable[:SHOWN_BUTTONS]
    ]
    count = len(replaceable)
    head = f":arrow_down: *{plural(count, 'key')} could be replaced by a role*"
    blocks: Blocks = [section(head + "\n" + "\n".join(lines))]
    buttons = [replace_button(account, key_id) for account, _, key_id, _ in replaceable[:SHOWN_BUTTONS]]
    blocks.append({"type": "actions", "block_id": "replace-with-role", "elements": buttons})
    return blocks


def build_watching(r: Retirement, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    what = "the permission set" if r.permission_set else "the role"
    text = (
        f":eyes: Retiring {names.key(r)}: Keywarden now watches {what} `{escape(r.role_name)}` and the key. "
        "The key is switched off once the role is in use and the key has been quiet for the quiet period; until "
        "then you hear what still holds it up, at most once a day."
    )
    return plain(text)


def build_still_waiting(
    r: Retirement, decision: Cutover, key_use: LastUsed | None, names: AccountNames = SEVERAL_ACCOUNTS
) -> Message:
    why = WHY_WAITING[decision.why]
    lines = [f":hourglass: {names.key(r)} is not switched off yet: {why}."]
    if decision.why is Why.OLD_IN_USE and key_use is not None and key_use.date is not None:
        where = " in ".join(escape(x) for x in (key_use.service, key_use.region) if x)
        lines.append(f"Last used {when(key_use.date)}" + (f" ({where})" if where else "") + ".")
        lines.append(f"`activity {r.key_id}` shows which programs and addresses still use it.")
    if decision.why is Why.REPLACEMENT_MISSING:
        lines.append(f"Deploy the template from `replace {r.key_id}` (the role `{escape(r.role_name)}`).")
    if decision.not_before is not None:
        lines.append(f"If nothing changes, it is switched off {when(decision.not_before)} at the earliest.")
    text = " ".join(lines)
    return plain(text)


def build_retired(r: Retirement, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = (
        f":lock: {names.key(r)} is switched off: the role `{escape(r.role_name)}` took over its work and the key "
        f"went quiet. It is deleted {when(r.delete_at)}; `reactivate {r.key_id}` brings it back until then."
    )
    return plain(text)


def build_retirement_deleted(r: Retirement, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = f":wastebasket: {names.key(r)} is deleted: the role `{escape(r.role_name)}` does its work now."
    return plain(text)


def build_retirement_left(r: Retirement, why: str, names: AccountNames = SEVERAL_ACCOUNTS) -> Message:
    text = f":warning: Retiring {names.key(r)} stopped: {escape(why)}. Nothing more is done to the key."
    return plain(text)


def retirement_note(r: Retirement) -> str:
    """The line under a key that is being retired, in `list`."""
    if r.state in (Stage.SWITCHED_OFF, Stage.DELETING):
        return f":arrow_down: Retired for the role `{escape(r.role_name)}`: deleted {when(r.delete_at)}"
    return (
        f":arrow_down: Being retired for the role `{escape(r.role_name)}` (request {r.request_id}): switched off once "
        "the role is in use and the key quiet"
    )


def named_role_line(req: Request) -> str | None:
    """`retire --role`: the role the request names, for its approval message; None when it names none."""
    if not req.retire_role:
        return None
    return f":busts_in_silhouette: *Role to watch:* `{escape(req.retire_role)}`, named by the requester"


def no_such_role(ref: RoleRef, where: str, found_arn: str | None) -> str:
    """`retire --role` naming a role that is not in the key's account (`where`: the AccountNames.in_account words),
    or an ARN of another role than the one of that name there. An InputError's text: the reply escapes it."""
    if found_arn is not None:
        return (
            f"`{ref.arn}` is not a role of the key's account: the role `{ref.name}`{where} is `{found_arn}`. "
            "Name the role the key's work moved to. Nothing was filed."
        )
    return (
        f"There is no role `{ref.name}`{where}: create it first (`replace <key-id>` sends a template for it), or name "
        "the role the key's work moved to. Nothing was filed."
    )
