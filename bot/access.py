"""One place decides who may approve, deny and break glass, how many approvals a request needs, and who may
see or act on an IAM user (its owner, an approver for it) or run what reads everything (a global approver).

With POLICY_FILE its first matching rule decides; without it APPROVER_IDS / APPROVER_GROUP /
APPROVALS_REQUIRED do, with one more approval for a requester who does not own the target and for an
administrator target (REQUIRE_EXTRA_APPROVAL_FOR_ADMIN). Group members are asked from Slack live. Slack guests
get `help` only."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.domain.inventory import Target
from bot.domain.keys import InputError
from bot.domain.operations import Operation, admin_approval
from bot.domain.requests import Request, approvals_needed
from bot.policy import OWNER, Facts, Policy, Rule
from bot.settings import Settings
from bot.slack.client import SlackDirectory

SLACK_DOWN = "Slack did not say who is in the approver group just now, so nothing was changed. Try again."


@dataclass(frozen=True)
class Decision:
    """What applies to one request being filed."""

    rule: str | None  # None: no POLICY_FILE, the settings apply
    approvals: int
    approvers: tuple[str, ...] = ()  # user ids, group ids, `owner` (empty without a policy: the settings')
    escalate_to: tuple[str, ...] = ()
    auto_approve: bool = False
    deny: str | None = None
    require_reason: bool = False
    break_glass: tuple[str, ...] = ("owner", "approvers")
    line: str = ""  # for the approval message
    why: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Subject:
    """An IAM user as scope is judged on it: its owner tag, its tags and whether it is an administrator."""

    account: str
    user: str
    owner: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    admin: bool = False


@dataclass(frozen=True)
class Scope:
    """What one person approves for: everything (a global approver), or the targets of the rules naming them."""

    user_id: str
    everything: bool
    rules: frozenset[str] = frozenset()  # names of the policy rules that list the person
    policy: Policy | None = None

    @property
    def approver(self) -> bool:
        return self.everything or bool(self.rules)

    def approves_for(self, subject: Subject) -> bool:
        """Whether a rule naming the person decides some request on `subject` (first match per operation)."""
        if self.everything:
            return True
        if not self.rules or self.policy is None:
            return False
        deciding = self.policy.deciding(subject.account, dict(subject.tags), subject.admin)
        return any(rule.name in self.rules for rule in deciding)


class Access:
    def __init__(self, settings: Settings, directory: SlackDirectory, policy: Policy | None = None) -> None:
        self._settings = settings
        self._directory = directory
        self.policy = policy
        self._groups_read: dict[str, frozenset[str]] | None = None  # set only by decidable_by, for one call

    # People
    def owns(self, user_id: str, owner_tag: str | None) -> bool:
        owner = (owner_tag or "").lower()
        return bool(owner) and owner in {i.lower() for i in self._directory.person(user_id).identities}

    def _members(self, group: str) -> frozenset[str]:
        if self._groups_read is not None and group in self._groups_read:
            return self._groups_read[group]
        members = self._directory.group_members(group)
        if members is None:
            raise InputError(SLACK_DOWN)
        if self._groups_read is not None:
            self._groups_read[group] = members
        return members

    def _resolve(self, names: Iterable[str]) -> frozenset[str]:
        found: set[str] = set()
        for name in names:
            if name == OWNER:
                continue
            found |= self._members(name) if name.startswith("S") else {name}
        return frozenset(found)

    def default_approvers(self) -> frozenset[str]:
        """APPROVER_IDS and the APPROVER_GROUP's members (one Slack call)."""
        group = self._settings.approver_group
        ids = frozenset(self._settings.approver_ids)
        return ids | self._members(group) if group else ids

    def is_approver(self, user_id: str) -> bool:
        """Whether the user may approve anything at all (asked live: a removed member loses the right at once)."""
        if user_id in self._settings.approver_ids:
            return True
        if self.policy is None:
            return user_id in self.default_approvers()
        named = self.policy.user_ids() | set(self._settings.approver_ids)
        if user_id in named:
            return True
        groups = self.policy.groups() | ({self._settings.approver_group} if self._settings.approver_group else set())
        return any(user_id in (self._directory.group_members(g) or frozenset()) for g in sorted(groups))

    # Seeing and acting on someone's IAM user
    def is_guest(self, user_id: str) -> bool | None:
        """A Slack guest (single- or multi-channel) gets `help` only; None when Slack did not say just now."""
        return self._directory.person(user_id).guest

    def scope_of(self, user_id: str) -> Scope:
        """What `user_id` approves for. Without a policy APPROVER_IDS and APPROVER_GROUP approve for everything;
        with one, a rule lists its `approvers` and its escalation (`escalate_to`, else APPROVER_GROUP), and a
        person listed by a rule that matches every target approves for everything. Each group is asked once;
        InputError when Slack does not say who is in one."""
        if self.policy is None:
            return Scope(user_id, user_id in self._settings.approver_ids or user_id in self.default_approvers())
        once = copy.copy(self)
        once._groups_read = {}
        mine = frozenset(r.name for r in self.policy.rules if user_id in once._resolve(self._listed(r)))
        everything = any(r.name in mine for r in self.policy.catch_all())
        return Scope(user_id, everything, mine, self.policy)

    def _listed(self, rule: Rule) -> tuple[str, ...]:
        if rule.deny is not None:
            return ()
        if rule.auto_approve:
            return rule.approvers  # they may break glass under it
        return (*rule.approvers, *(rule.escalate_to or _group(self._settings.approver_group)))

    def in_scope(self, user_id: str, subject: Subject, scope: Scope | None = None) -> bool:
        """The user's owner (per its owner tag) or an approver for it may see it and act on it."""
        if self.owns(user_id, subject.owner):
            return True
        return (scope or self.scope_of(user_id)).approves_for(subject)

    # Filing
    def decide(self, requester: str, operation: Operation, target: Target) -> Decision:
        owns = self.owns(requester, target.user.owner)
        if self.policy is None:
            admin_extra, _ = admin_approval(operation, target, self._settings.require_extra_approval_for_admin)
            needed = approvals_needed(operation, dict(self._settings.approvals_required), owns) + admin_extra
            return Decision(None, needed, why=["no POLICY_FILE: APPROVER_IDS / APPROVER_GROUP decide"])
        facts = Facts(operation, target.account, dict(target.user.tags), bool(target.user.admin_reason), owns)
        match = self.policy.decide(facts)
        rule = match.rule
        if rule is None:
            return Decision(
                "(none)",
                0,
                deny="No policy rule allows this request, so it was not filed. Ask an approver to add a rule.",
                why=match.why,
            )
        plural = "approver" if rule.approvals == 1 else "approvers"
        line = f":scroll: rule `{rule.name}`: {rule.approvals} {plural} from {rule.describe_approvers()}"
        if rule.auto_approve:
            line = f":scroll: rule `{rule.name}`: approved by policy"
        return Decision(
            rule.name,
            rule.approvals,
            rule.approvers,
            rule.escalate_to,
            rule.auto_approve,
            rule.deny,
            rule.require_reason,
            rule.break_glass,
            line,
            match.why,
        )

    @staticmethod
    def remember(decision: Decision, target: Target) -> str | None:
        """The request row's record of whom the rule named (JSON), None without a policy."""
        if decision.rule is None:
            return None
        return json.dumps(
            {
                "approvers": list(decision.approvers),
                "owner": target.user.owner,
                "escalate_to": list(decision.escalate_to),
            }
        )

    def may_break_glass(self, user_id: str, target: Target, decision: Decision) -> bool:
        if self.owns(user_id, target.user.owner) and "owner" in decision.break_glass:
            return True
        if "approvers" not in decision.break_glass:
            return False
        if decision.rule is None:
            return self.is_approver(user_id)
        return user_id in self._rule_approvers(decision.approvers, target.user.owner, [user_id])

    # Deciding
    def _rule_approvers(self, names: Iterable[str], owner: str | None, candidates: Iterable[str]) -> frozenset[str]:
        names = tuple(names)
        found = self._resolve(names)
        if OWNER in names:
            found |= {c for c in candidates if self.owns(c, owner)}
        return found

    def approvers_of(self, request: Request, candidates: Iterable[str] = ()) -> frozenset[str]:
        """Who may decide this request right now: its rule's approvers (the owner among `candidates`), plus
        escalate_to once escalated; without a policy, the settings' approvers. InputError when Slack is down."""
        if request.policy_rule is None or request.policy is None:
            base = self.default_approvers()
            if request.escalated_at is not None:
                base |= self._resolve(_group(self._settings.approver_group))
            return base
        named = json.loads(request.policy)
        names = list(named.get("approvers", []))
        if request.escalated_at is not None:
            names += named.get("escalate_to", []) or list(_group(self._settings.approver_group))
        return self._rule_approvers(names, named.get("owner"), candidates)

    def decidable_by(self, user_id: str, requests: Iterable[Request]) -> list[Request]:
        """The requests `user_id` may decide now, their own left out (the App Home's queue). Each group is asked
        of Slack once for the whole list. InputError when Slack is down."""
        once = copy.copy(self)
        once._groups_read = {}
        return [r for r in requests if r.requester != user_id and user_id in once.approvers_of(r, [user_id])]

    def mentions_of(self, request: Request, escalation: bool = False) -> list[str]:
        """Whom to mention about a pending request: `<@U…>`, `<!subteam^S…>`, or the owner when it is a Slack id."""
        if request.policy_rule is None or request.policy is None:
            names = [*sorted(self._settings.approver_ids), *_group(self._settings.approver_group)]
            if escalation:
                names = list(_group(self._settings.approver_group)) or names
            owner = None
        else:
            named = json.loads(request.policy)
            owner = named.get("owner")
            names = named.get("escalate_to", []) if escalation else named.get("approvers", [])
            if escalation and not names:
                names = list(_group(self._settings.approver_group))
        out = []
        for n in names:
            if n == OWNER:
                if owner and owner.upper().startswith(("U", "W")) and "@" not in owner:
                    out.append(f"<@{owner.upper()}>")
            elif n.startswith("S"):
                out.append(f"<!subteam^{n}>")
            else:
                out.append(f"<@{n}>")
        return out


def _group(group: str | None) -> tuple[str, ...]:
    return (group,) if group else ()
