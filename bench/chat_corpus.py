"""A deterministic corpus of realistic engineering-chat lines, with code snippets, and of credential pastes.

Ordinary lines: talk, links, stack traces, shell sessions, YAML and JSON, git hashes, UUIDs, base64 blobs,
CloudTrail-like log lines, and key ids mentioned on their own (an id alone is not an exposure). Pastes: a key
id and a fresh random secret in the shapes people paste them (credentials file, env, JSON, CSV, inline).
"""

from __future__ import annotations

import base64
import random
import string
import uuid

KEY_ALPHABET = string.ascii_uppercase + "234567"
SECRET_ALPHABET = string.ascii_letters + string.digits + "/+"

_WORDS = " ".join(
    [
        "deploy build release merge rollback pipeline cluster pod node staging prod canary alert pager latency",
        "error budget migration schema index cache queue worker lambda bucket terraform plan apply review ticket",
        "standup retro incident postmortem flaky test timeout retry dashboard metric log trace",
    ]
).split()
_TALK = [
    "can someone take a look at {w} before lunch?",
    "{w} is green again, thanks @here",
    "I think the {w} failed because of the {w} change from yesterday",
    "ship it :shipit:",
    "lgtm, merging",
    "who owns the {w} {w}? it has been red since 9am",
    "heads up: {w} window tonight 22:00-23:00 UTC",
    "+1",
    "ok 👍",
    "Ça marche, je regarde le {w} après le déjeuner",
    "на {w} опять таймаут, посмотрите?",
    "{w}の件、確認しました",
    "do we still need the {w} {w} or can I delete it?",
    "see https://github.com/acme/{w}/pull/{n} and https://grafana.acme.io/d/{h}/{w}?orgId=1",
    "ticket: https://acme.atlassian.net/browse/OPS-{n}",
]
_CODE = [
    "```\n$ kubectl -n {w} get pods\nNAME                      READY   STATUS    RESTARTS   AGE\n"
    "{w}-{h8}-x2k9p   1/1     Running   0          3h\n```",
    '```\nTraceback (most recent call last):\n  File "/app/{w}/handler.py", line {n}, in handle\n'
    '    raise TimeoutError("{w} took too long")\nTimeoutError: {w} took too long\n```',
    "```yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {w}\nspec:\n  replicas: 3\n"
    "  template:\n    spec:\n      containers:\n"
    "        - image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/{w}:{h}\n```",
    '```json\n{{"level": "error", "msg": "{w} failed", "request_id": "{u}", "duration_ms": {n}}}\n```',
    "`git cherry-pick {h}` fixed it on the release branch",
    "commit {h40} broke {w}, reverting",
    "the artifact checksum is sha256:{h64}",
    "session id {u} keeps failing on {w}",
    "token in the config is `{b64}` (base64 of the cluster CA)",
    "```\nError: creating IAM Role ({w}-role): EntityAlreadyExists: Role with name {w}-role already exists.\n```",
    "```\n$ aws s3 ls s3://acme-{w}-artifacts/\n2026-11-29 09:12:44   {n} build-{h8}.tar.gz\n```",
    "arn:aws:iam::123456789012:role/{w}-deployer is missing s3:PutObject on arn:aws:s3:::acme-{w}/*",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        w=rng.choice(_WORDS),
        n=rng.randint(1, 99999),
        h=uuid.UUID(int=rng.getrandbits(128)).hex[:12],
        h8=uuid.UUID(int=rng.getrandbits(128)).hex[:8],
        h40=uuid.UUID(int=rng.getrandbits(128)).hex + uuid.UUID(int=rng.getrandbits(128)).hex[:8],
        h64=uuid.UUID(int=rng.getrandbits(128)).hex * 2,
        u=uuid.UUID(int=rng.getrandbits(128)),
        b64=base64.b64encode(rng.randbytes(rng.choice([24, 48, 96]))).decode(),
    )


def key_id(rng: random.Random, prefix: str = "AKIA") -> str:
    return prefix + "".join(rng.choice(KEY_ALPHABET) for _ in range(16))


def secret(rng: random.Random) -> str:
    return "".join(rng.choice(SECRET_ALPHABET) for _ in range(40))


def ordinary_lines(count: int, seed: int = 7) -> list[str]:
    """Chat lines without a secret: about 60% talk, 35% code and logs, 5% a key id mentioned alone."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.60:
            line = " ".join(_fill(rng.choice(_TALK), rng) for _ in range(rng.randint(1, 2)))
        elif roll < 0.95:
            line = _fill(rng.choice(_CODE), rng)
        else:
            line = f"is `{key_id(rng)}` still used? `check` says it is 130 days old"
        lines.append(line)
    return lines


PASTE_SHAPES = [
    "[default]\naws_access_key_id = {k}\naws_secret_access_key = {s}",
    "```\nexport AWS_ACCESS_KEY_ID={k}\nexport AWS_SECRET_ACCESS_KEY={s}\nexport AWS_DEFAULT_REGION=eu-west-1\n```",
    '{{"AccessKey": {{"UserName": "ci", "AccessKeyId": "{k}", "Status": "Active", "SecretAccessKey": "{s}"}}}}',
    "User name,Access key ID,Secret access key\nci-deployer,{k},{s}",
    "here you go: {k} / {s}",
    "AWS_ACCESS_KEY_ID: {k}\nAWS_SECRET_ACCESS_KEY: {s}",
    "aws configure set aws_access_key_id {k} && aws configure set aws_secret_access_key {s}",
]


def pastes(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(PASTE_SHAPES).format(k=key_id(rng), s=secret(rng)) for _ in range(count)]
