"""`python -m bot policy check [FILE]` and `policy explain <operation> <account:user> --as <user-id>`."""

from __future__ import annotations

import sys
from typing import Any

from bot.domain.keys import InputError, parse_user_ref
from bot.domain.operations import Operation
from bot.policy import OWNER, Policy, PolicyError, load
from bot.settings import Settings


def load_or_exit(path: str) -> Policy:
    """The policy, or one line per problem on stderr and exit code 2."""
    try:
        return load(path)
    except PolicyError as e:
        for line in e.lines:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None


def check(settings: Settings, path: str | None) -> int:
    path = path or settings.policy_file
    if not path:
        print("policy check: name a file, or set POLICY_FILE.", file=sys.stderr)
        return 2
    policy = load_or_exit(path)
    print(f"{path}: {len(policy.rules)} rules, valid")
    groups = policy.groups()
    if not groups:
        return 0
    if not settings.slack_bot_token:
        print(f"note: SLACK_BOT_TOKEN is not set, so the user groups {', '.join(sorted(groups))} were not checked")
        return 0
    from slack_sdk.errors import SlackApiError, SlackClientError

    from bot.slack.client import make_web_client

    try:
        client = make_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url, max_retries=2)
        listed: list[dict[str, Any]] = client.usergroups_list(include_disabled=False).get("usergroups", [])
        known = {group["id"] for group in listed}
    except (SlackApiError, SlackClientError, OSError) as e:
        reason = e.response.get("error") if isinstance(e, SlackApiError) else type(e).__name__
        print(f"note: could not list the Slack user groups ({reason}); groups not checked")
        return 0
    for group in sorted(groups - known):
        rules = [r.name for r in policy.rules if group in (*r.approvers, *r.escalate_to)]
        print(f"warning: user group {group} (rule {', '.join(rules)}) is not a Slack user group of this workspace")
    return 0


def explain(settings: Settings, operation: str, target: str, as_user: str) -> int:
    from bot.bootstrap import bootstrap
    from bot.domain.inventory import Target

    try:
        op = Operation(operation)
    except ValueError:
        print(f"policy explain: `{operation}` is not one of {', '.join(o.value for o in Operation)}", file=sys.stderr)
        return 2
    if settings.policy_file:
        load_or_exit(settings.policy_file)
    services = bootstrap(settings)
    access = services.access_rules
    try:
        account, user = services.inventory.resolve(parse_user_ref(target, settings.account_aliases))
        decision = access.decide(as_user, op, Target(services.inventory.user_keys(account, user), None))
    except InputError as e:
        print(f"policy explain: {e}", file=sys.stderr)
        return 2
    if decision.rule is None:
        print("no POLICY_FILE: APPROVER_IDS and APPROVER_GROUP approve")
        print(f"approvals needed: {decision.approvals}")
        return 0
    for line in decision.why:
        print(line)
    if decision.deny:
        print(f"refused at filing: {decision.deny}")
        return 0
    if decision.auto_approve:
        print("approved by policy at once (auto_approve)")
    else:
        names = ", ".join("the owner of the target" if a == OWNER else a for a in decision.approvers)
        print(f"approvers: {names}")
        print(f"approvals needed: {decision.approvals}")
        if decision.escalate_to:
            print(f"escalates to: {', '.join(decision.escalate_to)}")
    if decision.require_reason:
        print("a reason is required")
    print(f"break-glass (--now): {' or '.join(decision.break_glass) or 'nobody'}")
    return 0
