"""A key's workload: where its calls come from and what they do, read from its CloudTrail events (and those of the
sessions it minted) over a window, with a verdict and how sure it is. Pure.

Where a call runs, from the strongest sign to the weakest:

1. The SDK's user agent. Every current AWS SDK and the AWS CLI append `exec-env/<AWS_EXECUTION_ENV>` when that
   variable is set (AWS SDKs user agent format, `env-metadata = "exec-env/" name`; botocore's
   `useragent.py`, `_build_execution_env_metadata`). AWS sets the variable itself: Lambda to the runtime
   identifier prefixed by `AWS_Lambda_` (`AWS_Lambda_python3.12`; Lambda Developer Guide, "Defined runtime
   environment variables"), ECS to `AWS_ECS_FARGATE` or `AWS_ECS_EC2` (ECS Developer Guide, "Amazon ECS environment
   variables"), CloudShell to `CloudShell` (its CLI calls read `exec-env/CloudShell`). CodeBuild's documented
   variables do not include it (CodeBuild User Guide, "Environment variables in build environments"): a token
   naming CodeBuild is taken when an image sets one, and otherwise CodeBuild shows by its address range below.
2. A CI system's own mark. `aws-actions/configure-aws-credentials`, the action GitHub documents for AWS, signs
   its STS calls with the user agent `configure-aws-credentials-for-github-actions`; a pipeline may name itself
   with `AWS_SDK_UA_APP_ID`, which the SDKs send as `app/<id>` (AWS SDKs and Tools Reference Guide,
   "Application ID"): `app/github-actions…` or `app/gitlab…`. GitLab's runners add nothing of their own to an AWS
   user agent. Once a key shows a CI's mark, its calls from outside AWS are taken as that CI's runners (GitHub's
   hosted runners and GitLab.com's run outside AWS's ranges).
3. The source address against AWS's published ranges (bot/domain/ip_ranges.py): `CODEBUILD`, then `EC2`, then
   any other AWS range; outside every range: a person (the CLI, a browser, an IDE toolkit) or another program.
   CloudTrail writes a service's name instead of an address for a call AWS made on the key's behalf.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.activity import TrailEvent
from bot.domain.iam_actions import DENIED_ERRORS, iam_action
from bot.domain.ip_ranges import CODEBUILD, EC2, AwsRanges
from bot.domain.sessions import MintedSession

MOST = 0.9  # this share of the calls from one place, or more: "most"; less: "mixed"


class Runner(StrEnum):
    LAMBDA = "lambda"
    ECS_FARGATE = "ecs-fargate"
    ECS_EC2 = "ecs-ec2"
    CODEBUILD = "codebuild"
    EC2 = "ec2"  # an EC2 address with no finer sign: an instance (or anything else running on EC2)
    CLOUDSHELL = "cloudshell"
    GITHUB_ACTIONS = "github-actions"
    GITLAB = "gitlab"
    AWS = "aws"  # another AWS range
    AWS_SERVICE = "aws-service"  # AWS called on the key's behalf (no address recorded)
    PERSON = "person"  # outside AWS: the CLI, a browser, an IDE toolkit
    MACHINE = "machine"  # outside AWS: an SDK or another program
    UNKNOWN = "unknown"  # an address that could not be placed: AWS's ranges were not at hand


NAMES = {
    Runner.LAMBDA: "AWS Lambda",
    Runner.ECS_FARGATE: "ECS on Fargate",
    Runner.ECS_EC2: "ECS on EC2",
    Runner.CODEBUILD: "CodeBuild",
    Runner.EC2: "EC2",
    Runner.CLOUDSHELL: "CloudShell",
    Runner.GITHUB_ACTIONS: "GitHub Actions",
    Runner.GITLAB: "GitLab CI",
    Runner.AWS: "an AWS address",
    Runner.AWS_SERVICE: "AWS on the key's behalf",
    Runner.PERSON: "a person outside AWS",
    Runner.MACHINE: "a machine outside AWS",
    Runner.UNKNOWN: "addresses not placed",
}
COMPUTE = frozenset({Runner.LAMBDA, Runner.ECS_FARGATE, Runner.ECS_EC2, Runner.CODEBUILD, Runner.EC2})
OIDC_CI = frozenset({Runner.GITHUB_ACTIONS, Runner.GITLAB})  # CI systems AWS trusts through OIDC


class Confidence(StrEnum):
    ALL = "all"  # every call from one place
    MOST = "most"  # at least 90 % of them
    MIXED = "mixed"
    NONE = "none"  # no calls in the window


_EXEC_ENV = re.compile(r"(?:^|\s)exec-env/(\S+)")
_APP_ID = re.compile(r"(?:^|\s)app/(\S+)")
GITHUB_ACTION_AGENT = "configure-aws-credentials-for-github-actions"
_PERSON_AGENTS = ("aws-cli/", "mozilla/", "aws-toolkit", "aws-internal/", "console.amazonaws.com", "signin.amazonaws")


def exec_env(user_agent: str) -> str | None:
    """The `exec-env/` token of an SDK user agent (`AWS_Lambda_python3.12`), or None."""
    match = _EXEC_ENV.search(user_agent)
    return match.group(1) if match else None


def exec_env_runner(token: str) -> Runner | None:
    lowered = token.lower()
    if lowered.startswith("aws_lambda_"):
        return Runner.LAMBDA
    if lowered == "aws_ecs_fargate":
        return Runner.ECS_FARGATE
    if lowered == "aws_ecs_ec2":
        return Runner.ECS_EC2
    if "codebuild" in lowered:
        return Runner.CODEBUILD
    if lowered == "cloudshell":
        return Runner.CLOUDSHELL
    return None


def ci_mark(user_agent: str) -> Runner | None:
    """The CI system a user agent names (GitHub's configure-aws-credentials, or an `app/` id), or None."""
    lowered = user_agent.lower()
    if GITHUB_ACTION_AGENT in lowered:
        return Runner.GITHUB_ACTIONS
    app = _APP_ID.search(lowered)
    if app and app.group(1).startswith(("github-actions", "github_actions", "githubactions")):
        return Runner.GITHUB_ACTIONS
    if app and app.group(1).startswith("gitlab"):
        return Runner.GITLAB
    return None


@dataclass(frozen=True)
class Place:
    runner: Runner
    sign: str  # what showed it: "exec-env/AWS_Lambda_python3.12", "EC2 range (eu-west-1)", "outside AWS's ranges"


def place_of(event: TrailEvent, ranges: AwsRanges | None, ci: Runner | None = None) -> Place:
    """Where one call ran (the module's docstring gives the order of the signs)."""
    token = exec_env(event.user_agent)
    runner = exec_env_runner(token) if token else None
    if runner is not None:
        return Place(runner, f"exec-env/{token}")
    mark = ci_mark(event.user_agent)
    if mark is not None:
        return Place(mark, "its user agent")
    address = event.source_ip
    if not _is_address(address):
        return Place(Runner.AWS_SERVICE, address)
    if ranges is None:
        return Place(Runner.UNKNOWN, address)
    hit = ranges.find(address)
    if hit is not None:
        if CODEBUILD in hit.services:
            return Place(Runner.CODEBUILD, f"CodeBuild range ({hit.region})")
        if EC2 in hit.services:
            return Place(Runner.EC2, f"EC2 range ({hit.region})")
        return Place(Runner.AWS, f"AWS range ({hit.region}, {', '.join(sorted(hit.services))})")
    if ci is not None:
        return Place(ci, "outside AWS, from a key that runs in it")
    if event.user_agent.lower().startswith(_PERSON_AGENTS) or "console" in event.user_agent.lower():
        return Place(Runner.PERSON, "outside AWS's ranges")
    return Place(Runner.MACHINE, "outside AWS's ranges")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Share:
    """The calls from one place."""

    runner: Runner
    calls: int
    regions: tuple[tuple[str, int], ...]  # where the calls went, busiest first
    signs: tuple[str, ...]  # what showed the place, most frequent first (at most 3)


@dataclass(frozen=True)
class Workload:
    key_id: str
    start: datetime
    end: datetime
    calls: int  # every call in the window (AWS's own on the key's behalf included)
    shares: tuple[Share, ...]  # busiest first
    runner: Runner | None  # the busiest place (AWS's own calls aside); None without calls
    confidence: Confidence
    actions: tuple[str, ...]  # the IAM actions the key's work needs (successful calls), sorted
    main_actions: tuple[str, ...]  # those called from the busiest place: what the role that replaces it there needs
    denied: tuple[str, ...]  # actions AWS refused it: not part of its work
    assumed_roles: tuple[str, ...]  # roles the key assumed (sts:AssumeRole on them is part of its work)
    truncated: bool = False  # the window held more calls than were read
    ranges_known: bool = True  # AWS's address ranges were at hand

    @property
    def main(self) -> Share | None:
        return next((s for s in self.shares if s.runner is self.runner), None)

    @property
    def replaceable(self) -> bool:
        """Entirely AWS compute or a CI that AWS trusts through OIDC: a role can take over all of it."""
        return (
            self.confidence is Confidence.ALL
            and (self.runner in COMPUTE or self.runner in OIDC_CI)
            and not self.truncated
            and bool(self.actions)
        )


def profile(
    events: Iterable[TrailEvent],
    sessions: Sequence[MintedSession],
    ranges: AwsRanges | None,
    *,
    key_id: str,
    start: datetime,
    end: datetime,
    truncated: bool = False,
) -> Workload:
    """The workload of `key_id` from its events and its sessions' (each event's `session` names the session)."""
    events = list(events)
    ci = next((m for m in (ci_mark(e.user_agent) for e in events) if m is not None), None)
    places = [place_of(e, ranges, ci) for e in events]
    shares = _shares(events, places)
    runner, confidence = _verdict(shares)
    minted = {s.key_id: s for s in sessions}
    actions, denied, roles = _work(events, minted)
    main_actions, _, _ = _work([e for e, p in zip(events, places, strict=True) if p.runner is runner], minted)
    return Workload(
        key_id=key_id,
        start=start,
        end=end,
        calls=len(events),
        shares=shares,
        runner=runner,
        confidence=confidence,
        actions=actions,
        main_actions=main_actions if runner is not None else actions,
        denied=denied,
        assumed_roles=roles,
        truncated=truncated,
        ranges_known=ranges is not None,
    )


def _shares(events: Sequence[TrailEvent], places: Sequence[Place]) -> tuple[Share, ...]:
    """The calls grouped by the place they came from, busiest first."""
    by_runner: dict[Runner, list[tuple[TrailEvent, Place]]] = {}
    for event, place in zip(events, places, strict=True):
        by_runner.setdefault(place.runner, []).append((event, place))
    shares = (
        Share(
            runner,
            len(pairs),
            tuple(Counter(e.region for e, _ in pairs).most_common()),
            tuple(s for s, _ in Counter(p.sign for _, p in pairs).most_common(3)),
        )
        for runner, pairs in by_runner.items()
    )
    return tuple(sorted(shares, key=lambda s: (-s.calls, s.runner.value)))


def _verdict(shares: Sequence[Share]) -> tuple[Runner | None, Confidence]:
    """(the busiest place, AWS's own calls aside; how much of the rest it holds)."""
    counted = [s for s in shares if s.runner is not Runner.AWS_SERVICE]
    if not counted:
        return None, Confidence.NONE
    busiest, total = counted[0], sum(s.calls for s in counted)
    if busiest.calls == total:
        return busiest.runner, Confidence.ALL
    return busiest.runner, Confidence.MOST if busiest.calls >= MOST * total else Confidence.MIXED


def _work(
    events: Iterable[TrailEvent], sessions: Mapping[str, MintedSession]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(actions the key's work needs, actions refused to it, roles it assumed). A session's calls count when the
    session acts as the key's user (GetSessionToken, GetFederationToken); through an assumed role they are the
    role's, and only the AssumeRole itself is the key's."""
    allowed: set[str] = set()
    refused: set[str] = set()
    roles: set[str] = set()
    for event in events:
        if event.session is not None:
            minted = sessions.get(event.session)
            if minted is None or minted.role_arn is not None:
                continue
        action = iam_action(event.service, event.name)
        if action is None:
            continue
        if event.error in DENIED_ERRORS:
            refused.add(action)
        else:
            allowed.add(action)
    for minted in sessions.values():
        if minted.role_arn and minted.call == "sts:AssumeRole":
            roles.add(minted.role_arn)
    return tuple(sorted(allowed)), tuple(sorted(refused - allowed)), tuple(sorted(roles))


def describe(w: Workload) -> str:
    """The verdict in a line: `all 60 calls from AWS Lambda in us-east-1`, `mixed: 40 of 60 calls from …`."""
    main = w.main
    if main is None or w.runner is None:
        return "no calls in CloudTrail's event history in the window"
    where = " and ".join(r for r, _ in main.regions[:2]) + (" and more" if len(main.regions) > 2 else "")
    counted = sum(s.calls for s in w.shares if s.runner is not Runner.AWS_SERVICE)
    calls = f"{counted} call" + ("s" if counted != 1 else "")
    name = NAMES[w.runner]
    if w.confidence is Confidence.ALL:
        head = f"all {calls} from {name} in {where}" if counted > 1 else f"1 call, from {name} in {where}"
    else:
        others = ", ".join(
            f"{s.calls} from {NAMES[s.runner]}" for s in w.shares if s.runner not in (w.runner, Runner.AWS_SERVICE)
        )
        head = f"{w.confidence.value}: {main.calls} of {calls} from {name} in {where}; {others}"
    return head + (" (more calls than were read)" if w.truncated else "")
