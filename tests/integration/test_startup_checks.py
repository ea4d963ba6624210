"""Start-up tells the truth: every long-running process (`python -m bot`, the scheduler, the Procfile's web line)
checks the Slack token, the channels, that someone can approve, AWS and the database before it serves; each
failure is one line naming the variable, exit 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.aws import AwsGateway
from bot.entrypoints.cli import main
from bot.entrypoints.preflight import Preflight
from bot.settings import Settings
from tests.support.fake_slack import FakeSlack, Fault
from tests.support.processes import ROOT, clean_env, free_port, procfile_command

COMMANDS = {
    "python -m bot": [sys.executable, "-m", "bot"],
    "scheduler": [sys.executable, "-m", "bot", "scheduler"],
    "Procfile web": ["/bin/sh", "-c", "exec " + procfile_command("web", 0)],
}


def bot_env(slack: FakeSlack, moto_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        **{
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "shh",
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'keywarden.db'}",
            "APPROVAL_CHANNEL": "CAPPROVE",
            "ALERT_CHANNEL": "CALERTS",
            "APPROVER_IDS": "UBOSS",
            "SCHEDULER": "off",
            "STARTUP_TIMEOUT_SECONDS": "1",
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        | extra
    )


def start(command: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a process that should refuse to start; it must end by itself."""
    return subprocess.run(
        COMMANDS[command],
        cwd=tmp_path,
        env=env | {"PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )


ARGV = {"python -m bot": [], "scheduler": ["scheduler"]}


@pytest.fixture
def start_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """A refusal tried through `bot.entrypoints.cli.main` in this process, with exactly the environment a process
    would get: the checks and their lines are the same code, without a process's start-up cost. (Every command is
    also started as a real process above; the tests here expect it to refuse, never to serve.)"""

    def run(argv: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
        for name in list(os.environ):
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        capsys.readouterr()
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        said = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, said.out, said.err)

    return run


def refusals(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines the program ends with (log lines, JSON or text, come before them)."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("keywarden: ")]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_token_slack_refuses_stops_every_serving_process_with_one_line(
    command: str, slack: FakeSlack, moto_url: str, tmp_path: Path
) -> None:
    slack.refused_tokens.add("xoxb-your-bot-token")  # .env.example's placeholder
    result = start(command, bot_env(slack, moto_url, tmp_path, SLACK_BOT_TOKEN="xoxb-your-bot-token"), tmp_path)
    assert result.returncode == 2, result.stderr
    assert refusals(result) == [
        "keywarden: SLACK_BOT_TOKEN: the token is not valid (auth.test: invalid_auth); copy the Bot User OAuth "
        "Token (xoxb-) of this app's installation"
    ]


def test_channels_the_bot_cannot_use_are_named(slack: FakeSlack, moto_url: str, tmp_path: Path, start_here) -> None:
    slack.known_channels_only = True
    slack.add_channel("CALERTS", "security-alerts", member=False)
    result = start_here([], bot_env(slack, moto_url, tmp_path, APPROVAL_CHANNEL="CGONE"), tmp_path)
    assert result.returncode == 2
    assert refusals(result) == [
        "keywarden: APPROVAL_CHANNEL: Slack has no channel CGONE that the bot can see (channel_not_found); check "
        "the id (the channel's details show it), and invite the bot first to a private channel",
        "keywarden: ALERT_CHANNEL: the bot is not a member of #security-alerts (CALERTS); invite it there: "
        "/invite @keywarden",
    ]
    assert {c.params["channel"] for c in slack.calls_to("conversations.info")} == {"CGONE", "CALERTS"}


def test_nobody_to_approve_and_no_aws_credentials_are_named(
    slack: FakeSlack, moto_url: str, tmp_path: Path, start_here
) -> None:
    env = bot_env(slack, moto_url, tmp_path, APPROVER_IDS="", AWS_EC2_METADATA_DISABLED="true")
    env = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    result = start_here(["scheduler"], env, tmp_path)
    assert result.returncode == 2
    assert refusals(result) == [
        "keywarden: APPROVER_IDS: nobody can approve requests; set APPROVER_IDS, APPROVER_GROUP or POLICY_FILE",
        "keywarden: AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE or the role boto3 finds): No AWS credentials "
        "for account `hub`: set them as boto3 expects (environment, profile or role).",
    ]


def test_an_approver_group_without_members_is_nobody(
    slack: FakeSlack, moto_url: str, tmp_path: Path, start_here
) -> None:
    slack.groups["S0EMPTY"] = []
    result = start_here([], bot_env(slack, moto_url, tmp_path, APPROVER_IDS="", APPROVER_GROUP="S0EMPTY"), tmp_path)
    assert refusals(result) == [
        "keywarden: APPROVER_GROUP: user group S0EMPTY has no members and APPROVER_IDS is empty: nobody can approve"
    ]


def test_slack_that_does_not_answer_is_asked_again_then_named(moto_url: str, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens: connection refused, every time
    env = bot_env(FakeSlack(), moto_url, tmp_path, SLACK_API_URL=nowhere)  # STARTUP_TIMEOUT_SECONDS=1
    result = start("python -m bot", env, tmp_path)
    assert result.returncode == 2
    assert refusals(result) == [
        f"keywarden: SLACK_API_URL: Slack did not answer at {nowhere} within 1 s (unreachable (URLError))"
    ]
    assert "asking again in 0.5 s" in result.stderr  # it did ask again before giving up


def test_a_traceback_only_at_debug(slack: FakeSlack, moto_url: str, tmp_path: Path) -> None:
    slack.refused_tokens.add("xoxb-test")
    result = start("python -m bot", bot_env(slack, moto_url, tmp_path, LOG_LEVEL="DEBUG"), tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "SlackApiError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("keywarden: SLACK_BOT_TOKEN: the token is not valid")


def test_a_slack_that_answers_503_once_is_waited_for_and_the_bot_starts(
    slack: FakeSlack, moto_url: str, tmp_path: Path
) -> None:
    slack.fail("auth.test", Fault(503, {"ok": False, "error": "service_unavailable"}))
    port = free_port()
    env = bot_env(slack, moto_url, tmp_path, STARTUP_TIMEOUT_SECONDS="30", PORT=str(port))
    process = subprocess.Popen(COMMANDS["python -m bot"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert slack.attempts["auth.test"] >= 2  # the 503, then the answer (and /healthz's own, later)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            body = r.read().decode()
        assert '"slack": "ok"' in body and '"aws": "ok"' in body
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_preflight_backs_off_and_gives_up_when_the_start_up_time_is_up(slack: FakeSlack, aws: None) -> None:
    """In-process, with the sleep injected: waits double from half a second, bounded by STARTUP_TIMEOUT_SECONDS."""
    slack.fail("auth.test", *[Fault(502)] * 20)
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-t",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": slack.api_url,
            "APPROVER_IDS": "UBOSS",
            "STARTUP_TIMEOUT_SECONDS": "20",
        }
    )
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    failures = Preflight(settings, AwsGateway(settings.accounts), sleep=sleep, monotonic=lambda: now[0]).run()
    assert waits == [0.5, 1, 2, 4, 8, 4.5]  # 20 s in all, then no more
    assert [f.line for f in failures] == [
        f"SLACK_API_URL: Slack did not answer at {slack.api_url} within 20 s (HTTP 502)"
    ]


DATABASE_COMMANDS = {
    "python -m bot": [],
    "scheduler": ["scheduler"],
    "db upgrade": ["db", "upgrade"],
    "scan": ["scan"],
    "audit --csv": ["audit", "--csv"],
    "audit verify": ["audit", "verify"],
}


@pytest.mark.parametrize("command", list(DATABASE_COMMANDS))
def test_an_unreachable_database_is_one_line(command: str, tmp_path: Path, start_here) -> None:
    """Only the processes that serve Slack are given its tokens: db upgrade, scan and audit need none."""
    port = free_port()  # nothing listens there
    tokens = (
        {"SLACK_BOT_TOKEN": "xoxb-t", "SLACK_SIGNING_SECRET": "s"} if command in ("python -m bot", "scheduler") else {}
    )
    env = clean_env(
        DATABASE_URL=f"postgres://keywarden:hunter2secret@127.0.0.1:{port}/keywarden",
        AWS_ACCESS_KEY_ID="t",
        AWS_SECRET_ACCESS_KEY="t",
        AWS_DEFAULT_REGION="us-east-1",
        **tokens,
    )
    if command == "python -m bot":  # one as a real process; the others through main() here
        result = subprocess.run(
            [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    else:
        result = start_here(DATABASE_COMMANDS[command], env, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "hunter2secret" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"keywarden: DATABASE_URL: cannot reach the database postgresql+psycopg://keywarden:***@127.0.0.1:{port}/"
        "keywarden (connection failed:"
    ), line
    assert "db upgrade" not in line


def test_heroku_postgres_url_reaches_postgresql(tmp_path: Path) -> None:
    from tests.support.databases import PG_URL, pg_schema

    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    with pg_schema(migrated=False) as url:
        heroku = "postgres://" + url.split("://", 1)[1]  # as Heroku writes DATABASE_URL
        result = subprocess.run(
            [sys.executable, "-m", "bot", "db", "upgrade"],
            cwd=tmp_path,
            env=clean_env(DATABASE_URL=heroku),  # and no Slack token: db upgrade needs none
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "database is up to date"


@pytest.mark.parametrize(
    ("url", "line"),
    [
        (
            "postgresql+psycopg2://u@db/keywarden",
            "DATABASE_URL is malformed (the psycopg2 driver is not installed: write postgresql:// (psycopg 3 is used))",
        ),
        ("mysql://u@db/keywarden", "DATABASE_URL is malformed (only sqlite and postgresql are supported)"),
    ],
)
def test_other_database_drivers_are_refused_in_one_line(url: str, line: str, tmp_path: Path, start_here) -> None:
    result = start_here(["db", "upgrade"], clean_env(DATABASE_URL=url), tmp_path)
    assert result.returncode == 2
    (only,) = result.stderr.strip().splitlines()
    assert only.startswith(f"keywarden: configuration error: {line}: expected a SQLAlchemy URL"), only


def test_secrets_from_files_reach_the_running_bot_and_bad_files_are_one_line(
    slack: FakeSlack, moto_url: str, tmp_path: Path, start_here
) -> None:
    env = bot_env(slack, moto_url, tmp_path)
    del env["SLACK_BOT_TOKEN"]
    missing = start_here([], env | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "absent")}, tmp_path)
    assert missing.returncode == 2
    assert refusals(missing) == [
        f"keywarden: configuration error: SLACK_BOT_TOKEN_FILE names a file that cannot be read "
        f"({tmp_path / 'absent'}: No such file or directory)"
    ]
    secret = tmp_path / "slack-bot-token"
    secret.write_text("xoxb-from-a-file\n")  # as `kubectl create secret --from-file` and editors write it
    slack.refused_tokens.add("xoxb-from-a-file")  # the token reached Slack, without its newline
    read = start_here([], env | {"SLACK_BOT_TOKEN_FILE": str(secret)}, tmp_path)
    assert refusals(read)[0].startswith("keywarden: SLACK_BOT_TOKEN: the token is not valid")
    assert slack.calls_to("auth.test")[-1].headers["Authorization"] == "Bearer xoxb-from-a-file"


def test_version(tmp_path: Path) -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"keywarden {version}")
