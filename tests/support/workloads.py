"""Workloads as CloudTrail records them, for tests: the user agents each place sends, addresses inside and outside
AWS's ranges (the ranges of tests/support/data/ip-ranges.json), and the parsed ranges."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from bot.domain.activity import TrailEvent
from bot.domain.ip_ranges import AwsRanges, parse_ranges

RANGES_FILE = Path(__file__).parent / "data" / "ip-ranges.json"

LAMBDA_AGENT = (
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10.219 md/arch#x86_64 lang/python#3.12.3 md/pyimpl#CPython "
    "exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.0"
)
FARGATE_AGENT = (
    "aws-sdk-js/3.600.0 ua/2.1 os/linux#5.10 lang/js md/nodejs#20.15.0 api/s3#3.600.0 exec-env/AWS_ECS_FARGATE"
)
GITHUB_ACTION_AGENT = "configure-aws-credentials-for-github-actions"
CLI_AGENT = "aws-cli/2.17.0 md/awscrt#0.20.11 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.9 prompt/off"
BOTO_AGENT = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0 lang/python#3.11.9 Botocore/1.34.0"

EC2_ADDRESS = "3.85.10.20"  # the EC2 range of us-east-1
CODEBUILD_ADDRESS = "34.228.4.210"
OFFICE_ADDRESS = "198.51.100.7"  # outside every range
RUNNER_ADDRESS = "20.57.10.4"  # GitHub's hosted runners (Azure): outside AWS's ranges


def ranges() -> AwsRanges:
    return parse_ranges(json.loads(RANGES_FILE.read_text()))


def event(
    at: datetime,
    name: str,
    service: str = "s3",
    *,
    region: str = "us-east-1",
    ip: str = EC2_ADDRESS,
    agent: str = LAMBDA_AGENT,
    error: str | None = None,
    session: str | None = None,
    n: int = 0,
) -> TrailEvent:
    return TrailEvent(at, name, service, region, ip, agent, error, f"e-{name}-{n}-{at.timestamp()}", session)


def calls(now: datetime, count: int, names: list[tuple[str, str]], **kw: object) -> list[TrailEvent]:
    """`count` events an hour apart, going round `names` ((service, operation) pairs)."""
    return [
        event(now - timedelta(hours=i + 1), names[i % len(names)][1], names[i % len(names)][0], n=i, **kw)  # type: ignore[arg-type]
        for i in range(count)
    ]
