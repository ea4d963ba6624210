"""Profiling 100 keys of one account from CloudTrail (the weekly sample behind `replaceable-by-role`), against a
fake CloudTrail that enforces 2 requests/s.

The sample (`WorkloadService.sample_account`) lists each user's keys and their last use (moto's server), then reads
each recently used key's CloudTrail events (tests/support/fake_aws_usage.py: 50 events a page, a token bucket of 2
requests a second, capacity 2, per caller and region, `ThrottlingException` above it) at Keywarden's pace, and keeps
each verdict. The keys: Lambda (30 events each), ECS on Fargate (60: two pages), GitHub Actions (10) and an office
address (5), and keys not used for 40 days (judged from their last use, no CloudTrail call).

    .venv/bin/python -m bench.workload_cost
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._common import cloudtrail_world, command_line, machine_lines, most_in_a_second, publish, table, verdict

KINDS = [("lambda", 30, 30), ("ecs", 20, 60), ("github", 20, 10), ("office", 20, 5), ("idle", 10, 0)]


@dataclass
class Run:
    name: str
    budget: int
    keys: int
    profiled: int
    idle: int
    replaceable: int
    lookups: int
    seconds: float
    throttled: int
    max_in_a_second: int
    iam_calls: dict[str, int]
    verdicts: dict[str, int]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workload_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    with cloudtrail_world("AKIAWORKLOADBENCH001") as (counter, fake, slack):
        import boto3
        import time_machine

        from bot.bootstrap import bootstrap
        from bot.settings import Settings
        from tests.support.workloads import (
            CLI_AGENT,
            EC2_ADDRESS,
            FARGATE_AGENT,
            GITHUB_ACTION_AGENT,
            LAMBDA_AGENT,
            OFFICE_ADDRESS,
            RANGES_FILE,
            RUNNER_ADDRESS,
        )

        places = {
            "lambda": (LAMBDA_AGENT, EC2_ADDRESS, "PutItem", "dynamodb.amazonaws.com"),
            "ecs": (FARGATE_AGENT, EC2_ADDRESS, "ReceiveMessage", "sqs.amazonaws.com"),
            "github": (CLI_AGENT, RUNNER_ADDRESS, "PutObject", "s3.amazonaws.com"),
            "office": (CLI_AGENT, OFFICE_ADDRESS, "DescribeInstances", "ec2.amazonaws.com"),
        }
        iam = boto3.client("iam")
        runs: list[Run] = []
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="keywarden-bench-") as tmp:
            env = {
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": "bench-signing-secret",
                "SLACK_API_URL": slack.api_url,
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'keywarden.db'}",
                "APPROVER_IDS": "UBOSS",
                "SCHEDULER": "off",
                "IP_RANGES_URL": RANGES_FILE.as_uri(),
            }
            now = datetime.now(UTC)
            for kind, count, events in KINDS:
                for n in range(count):
                    user = f"{kind}-{n:03d}"
                    iam.create_user(UserName=user)
                    with time_machine.travel(time.time() - 50 * 86400, tick=False):
                        key = iam.create_access_key(UserName=user)["AccessKey"]
                    if kind == "idle":
                        continue
                    boto3.client(
                        "sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
                    ).get_caller_identity()
                    agent, ip, name, source = places[kind]
                    for i in range(events):
                        at = now - timedelta(hours=i + 1)
                        if kind == "github" and i % 2 == 0:
                            fake.add_event("us-east-1", key["AccessKeyId"], at, ip=ip, agent=GITHUB_ACTION_AGENT)
                        else:
                            fake.add_event("us-east-1", key["AccessKeyId"], at, name, source, ip=ip, agent=agent)
            keys = sum(count for _, count, _ in KINDS)
            for name, budget in (("every key (budget 2,000)", 2000), ("a budget of 40", 40)):
                services = bootstrap(Settings.from_env(env | {"WORKLOAD_SAMPLE_LOOKUPS": str(budget)}))
                before_iam = counter.snapshot()
                fake.lookups.clear()
                fake.calls.clear()
                throttled = fake.throttled
                t0 = time.perf_counter()
                run = services.workloads.sample_account("default")
                seconds = time.perf_counter() - t0
                mine = counter.since(before_iam, "AKIAWORKLOADBENCH001")
                iam_calls = {op: n for op, n in mine.items() if op.startswith("iam:")}
                known = services.workloads.store.of_keys(
                    k["AccessKeyId"]
                    for u in iam.list_users()["Users"]
                    for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
                )
                verdicts = Counter(f"{w.runner or 'no calls'} ({w.confidence})" for w in known.values())
                runs.append(
                    Run(
                        name,
                        budget,
                        keys,
                        run.profiled,
                        run.idle,
                        run.replaceable,
                        fake.calls["cloudtrail:LookupEvents"],
                        seconds,
                        fake.throttled - throttled,
                        most_in_a_second(fake.lookups),
                        iam_calls,
                        dict(verdicts.most_common()),
                    )
                )
                print(f"  {runs[-1]}", file=sys.stderr)
                services.close()
                Path(tmp, "keywarden.db").unlink()  # the second run starts with no profile kept
    total = time.perf_counter() - started
    lines = [
        "## Workloads (CloudTrail, the weekly replaceable-by-role sample)",
        "",
        *machine_lines(),
        f"- Command: `{command_line('bench.workload_cost')}` (took {total:.0f} s)",
        "- Setup: moto's server for IAM (100 users with one key each, made 50 days ago; every key but the idle ones "
        "used once in us-east-1 today), `tests/support/fake_aws_usage.py` as CloudTrail: 50 events a page, **2 "
        "requests a second per caller and region enforced** by a token bucket (capacity 2), `ThrottlingException` "
        "above it. Keys: 30 Lambda (30 events each), 20 ECS on Fargate (60 events: two pages), 20 GitHub Actions "
        "(10), 20 from an office address (5), 10 not used for 40 days. AWS's ranges from the test copy.",
        "- What is timed: `WorkloadService.sample_account` (the weekly job, for one account): the users from the "
        "ownership index, each user's keys and their last use, then CloudTrail for each key used in the last 30 "
        "days (at most 100 events a key), each verdict kept in the database.",
        "",
        "### Results",
        "",
    ]
    lines += table(
        [
            "run",
            "keys profiled",
            "idle (no CloudTrail)",
            "replaceable",
            "LookupEvents",
            "seconds",
            "throttled",
            "most in any 1 s",
            "IAM calls",
        ],
        [
            [
                r.name,
                f"{r.profiled} of {r.keys}",
                r.idle,
                r.replaceable,
                r.lookups,
                f"{r.seconds:.1f}",
                r.throttled,
                r.max_in_a_second,
                ", ".join(f"{op.split(':')[1]} {n}" for op, n in sorted(r.iam_calls.items())),
            ]
            for r in runs
        ],
    )
    full = runs[0]
    lines += ["", "Verdicts kept (every key): " + ", ".join(f"{v} {n}" for v, n in full.verdicts.items()), ""]
    lines += ["### Targets", ""]
    lines += table(
        ["target", "measured", "verdict"],
        [
            [
                "never over CloudTrail's limit as CloudTrail enforces it: no ThrottlingException",
                f"{sum(r.throttled for r in runs)} throttled",
                verdict(sum(r.throttled for r in runs) == 0),
            ],
            [
                "one LookupEvents per page of a key's events in its regions, none for an idle key",
                f"{full.lookups} LookupEvents for {full.profiled - full.idle} used keys",
                verdict(full.lookups == 30 + 20 * 2 + 20 + 20),
            ],
            [
                "a budget bounds a week's CloudTrail reads (a budget of 40)",
                f"{runs[1].lookups} LookupEvents, {runs[1].profiled} keys profiled",
                verdict(runs[1].lookups <= 40),
            ],
            [
                "the keys whose whole workload is AWS compute or a CI with OIDC, and only those, are replaceable",
                f"{full.replaceable} replaceable (30 Lambda + 20 ECS + 20 GitHub Actions)",
                verdict(full.replaceable == 70),
            ],
        ],
    )
    lines += [
        "",
        "The time is CloudTrail's pace: one region's requests leave 0.51 s apart (CloudTrail's rate plus 10 ms), so "
        "N requests take about N / 2 seconds whatever the machine; the IAM reads (ListAccessKeys, "
        "GetAccessKeyLastUsed and GetLoginProfile per user, as `list` reads a user) and the verdicts add the rest. "
        "Three calls inside one sliding second happen when one leaves a few ms after its slot and the next on time: "
        "CloudTrail's bucket (capacity 2) allows it, and nothing was throttled. A "
        "key's regions are read at the same time, each at its own limit. With the default budget a week's sample "
        "of one account stays under about 2.5 minutes of CloudTrail time; the keys it did not reach come first the "
        "following week (never-profiled users first, then the longest unseen).",
    ]
    publish("workload_cost", lines, quick=False, no_docs=args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
