"""Delivered rotation at scale: 200 machine users of LOCATIONS_FILE, 3 locations each (SSM, Secrets Manager, GitHub),
all due by `rotate_every_days`, every remote call 50 ms: one scheduled run rotates them all.

moto's server runs in this process (IAM, SSM, Secrets Manager; every call delayed `--latency-ms`), the fake GitHub
(sealed boxes opened with its private key; every request delayed the same) and the fake Slack on loopback. Keywarden
is wired as in production (`bootstrap`, a SQLite file) and runs the scheduler's job once, as `python -m bot
housekeeping` would: each due user gets a rotate request filed by Keywarden and approved by the built-in rule
`locations`, its new key made once and written to its three places (SSM and Secrets Manager read back), users side
by side with bounded parallelism; then one summary in the alert channel. Afterwards every consumer's place is read:
it must hold that user's one new key.

    .venv/bin/python -m bench.delivered_rotation            # 200 users x 3 locations, 50 ms a call
    .venv/bin/python -m bench.delivered_rotation --quick    # 20 users
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import time_machine

from bench._common import (
    KEYWARDEN_KEY_ID,
    SETUP_KEY_ID,
    aws_env,
    command_line,
    machine_lines,
    publish,
    start_moto,
    table,
    verdict,
)
from tests.support.fake_github import FakeGitHub
from tests.support.fake_slack import FakeSlack

TOKEN = "github_pat_bench"
TARGET_SECONDS = 120
REGION = "us-east-1"


class SlowGitHub(FakeGitHub):
    """The fake GitHub, every request answered `latency` seconds late (waited outside its lock, as a network would)."""

    latency = 0.0

    def _fault_for(self, path: str) -> Any:
        if self.latency:
            time.sleep(self.latency)
        return super()._fault_for(path)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivered_rotation", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added to every AWS and GitHub call")
    parser.add_argument("--quick", action="store_true", help="20 users")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    users = 20 if args.quick else args.users
    started = time.monotonic()
    moto, counter, moto_url = start_moto()
    github = SlowGitHub().start()
    slack = FakeSlack().start()
    tmp = Path(tempfile.mkdtemp(prefix="keywarden-delivered-"))
    try:
        names = _estate(moto_url, github, users)
        locations = _locations_file(tmp, names)
        services = _keywarden(moto_url, github, slack, tmp, locations)
        workers = services.scheduled_rotations.workers
        before = counter.snapshot()
        counter.latency = github.latency = args.latency_ms / 1000
        began = time.perf_counter()
        summary = services.scheduled_rotations.run()
        wall = time.perf_counter() - began
        counter.latency = github.latency = 0.0
        calls = counter.since(before, KEYWARDEN_KEY_ID)
        github_calls = len([r for r in github.requests if r.method in ("GET", "PUT")])
        consistent = _every_place_holds_the_new_key(moto_url, github, names)
        summaries = [c for c in slack.posts_to("CALERTS") if "Scheduled rotation" in c.raw]
        others = [c for c in slack.calls if c.method == "chat.postMessage"] if slack.calls else []
        services.close()
    finally:
        slack.stop()
        github.stop()
        moto.stop()
    ok = wall < TARGET_SECONDS and consistent == users and len(summaries) == 1 and len(summary.rotated) == users
    aws_total = sum(calls.values())
    per_user = (aws_total + github_calls) / users
    bound = users * per_user * args.latency_ms / 1000 / workers
    by_action = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
    lines = [
        "## Delivered rotation" + (" (quick run)" if args.quick else ""),
        "",
        *machine_lines(),
        f"- Command: `{command_line('bench.delivered_rotation')}` (took {time.monotonic() - started:.0f} s)",
        f"- Estate: {users} machine users in LOCATIONS_FILE with `rotate_every_days: 30`, each with one active "
        f"40-day-old key and 3 locations (SSM, Secrets Manager, GitHub); every AWS call (moto's server) and every "
        f"GitHub request (the fake that opens the sealed boxes) {args.latency_ms:g} ms late.",
        f"- Run: the scheduler's `scheduled_rotations` job once, in process (SQLite), {workers} users at a time.",
        "",
        *table(
            ["measure", "value"],
            [
                ["users rotated (new key made once, written, read back)", f"{len(summary.rotated)} of {users}"],
                ["places written", f"{summary.places} ({consistent} users whose 3 consumers read their new key)"],
                ["wall time of the run", f"{wall:.1f} s"],
                ["remote calls per user (AWS + GitHub)", f"{per_user:.1f}"],
                ["bound if only remote calls took time", f"{bound:.1f} s"],
                [
                    "Slack messages to the alert channel",
                    f"{len(summaries)} summary, {len(others) - len(summaries)} other",
                ],
                ["target: all delivered in under 2 minutes, one summary", verdict(ok)],
            ],
        ),
        "",
        f"AWS calls by action: {by_action}; GitHub requests {github_calls}.",
    ]
    publish("delivered_rotation", lines, quick=args.quick, no_docs=args.no_docs)
    return 0 if ok else 1


def _estate(moto_url: str, github: FakeGitHub, users: int) -> list[str]:
    """`users` IAM users, each with a 40-day-old key, and a GitHub repository each that the token may write."""
    iam = boto3.client(
        "iam", endpoint_url=moto_url, region_name=REGION, aws_access_key_id=SETUP_KEY_ID, aws_secret_access_key="x"
    )
    names = [f"ci-{n:03d}" for n in range(users)]
    with time_machine.travel(datetime.now(UTC) - timedelta(days=40), tick=False):
        for name in names:
            iam.create_user(UserName=name, Tags=[{"Key": "owner", "Value": "UALICE"}])
            iam.create_access_key(UserName=name)
    for name in names:
        github.add_repository(f"acme/{name}", token=TOKEN)
    return names


def _locations_file(tmp: Path, names: list[str]) -> Path:
    lines = ["locations:"]
    for name in names:
        lines += [
            f"  - user: {name}",
            "    rotate_every_days: 30",
            "    deliver:",
            f"      - ssm: /ci/{name}/aws",
            f"      - secretsmanager: ci/{name}",
            f"      - github: acme/{name}",
        ]
    path = tmp / "locations.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _keywarden(moto_url: str, github: FakeGitHub, slack: FakeSlack, tmp: Path, locations: Path) -> Any:
    from bot.bootstrap import bootstrap
    from bot.settings import Settings

    os.environ.update(aws_env(moto_url, KEYWARDEN_KEY_ID) | {"AWS_DEFAULT_REGION": REGION})
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "APPROVAL_CHANNEL": "CAPPROVE",
            "ALERT_CHANNEL": "CALERTS",
            "APPROVER_IDS": "UBOSS",
            "SCHEDULER": "off",
            "LOCATIONS_FILE": str(locations),
            "GITHUB_API_URL": github.url,
            "GITHUB_TOKEN": TOKEN,
        }
    )
    return bootstrap(settings, sleep=lambda _: None)


def _every_place_holds_the_new_key(moto_url: str, github: FakeGitHub, names: list[str]) -> int:
    """The users whose three consumers read the same key, which is the user's one new active key."""
    session = boto3.Session(aws_access_key_id=SETUP_KEY_ID, aws_secret_access_key="x", region_name=REGION)
    iam, ssm = session.client("iam", endpoint_url=moto_url), session.client("ssm", endpoint_url=moto_url)
    secrets = session.client("secretsmanager", endpoint_url=moto_url)
    good = 0
    for name in names:
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        parameter = json.loads(ssm.get_parameter(Name=f"/ci/{name}/aws", WithDecryption=True)["Parameter"]["Value"])
        secret = json.loads(secrets.get_secret_value(SecretId=f"ci/{name}")["SecretString"])
        workflow = github.workflow_secrets(f"acme/{name}")
        read = {
            (parameter["aws_access_key_id"], parameter["aws_secret_access_key"]),
            (secret["aws_access_key_id"], secret["aws_secret_access_key"]),
            (workflow.get("AWS_ACCESS_KEY_ID"), workflow.get("AWS_SECRET_ACCESS_KEY")),
        }
        newest = max(keys, key=lambda k: k["CreateDate"])["AccessKeyId"]
        if len(keys) == 2 and len(read) == 1 and next(iter(read))[0] == newest:
            good += 1
    return good


if __name__ == "__main__":
    raise SystemExit(main())
