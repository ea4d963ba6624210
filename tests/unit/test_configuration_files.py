"""The files people copy and read: .env.example names every setting with a comment and marks what is required,
agrees with manifest.yaml; .gitignore keeps SQLite's files out of git; the docs' paths exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings
from bot.settings.reader import variables

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / ".env.example").read_text().splitlines()
_VARIABLE = re.compile(r"^([A-Z][A-Z0-9_]+)=")
_HEADER = re.compile(r"^# ---.*---$")


def example_comments() -> dict[str, list[str]]:
    """Each variable of .env.example with the comment lines right above it (section headers left out)."""
    found: dict[str, list[str]] = {}
    for i, line in enumerate(EXAMPLE):
        match = _VARIABLE.match(line)
        if not match:
            continue
        above: list[str] = []
        for previous in reversed(EXAMPLE[:i]):
            if not previous.startswith("#"):
                break
            above.insert(0, previous)
        found[match.group(1)] = [c for c in above if not _HEADER.match(c)]
    return found


def settings_read() -> set[str]:
    """Every variable bot/settings reads: the variable of each field of Settings."""
    return {name for name, _ in variables(Settings)} - {"AWS_DEFAULT_REGION"}  # boto3's own, AWS_REGION's fallback


def test_every_setting_is_in_env_example_with_a_comment_of_its_own() -> None:
    comments = example_comments()
    assert len(settings_read()) > 40, "the pattern above still finds the settings"
    assert settings_read() - comments.keys() == set(), "add these to .env.example"
    uncommented = sorted(name for name, lines in comments.items() if not lines)
    assert uncommented == [], "each variable needs a comment right above it"


def test_env_example_marks_exactly_the_required_variables() -> None:
    required_in_code = {name for name, field in variables(Settings) if field.is_required()}
    marked = {name for name, lines in example_comments().items() if lines and lines[0].startswith("# Required")}
    assert required_in_code == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"}
    assert marked == required_in_code
    assert any('comment starts with "Required" must be set' in line for line in EXAMPLE[:5])


def test_the_slash_command_is_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    (command,) = [c["command"] for c in manifest["features"]["slash_commands"]]
    (example,) = [line.split("=", 1)[1] for line in EXAMPLE if line.startswith("SLASH_COMMAND=")]
    assert example == command
    assert "manifest.yaml" in " ".join(example_comments()["SLASH_COMMAND"])


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", ["keywarden.db", "keywarden.db-wal", "keywarden.db-shm", "keywarden.db.migrate-lock"])
def test_sqlite_files_are_ignored(name: str) -> None:
    """SQLite in WAL mode (bot/store/db.py) writes -wal and -shm files beside the database."""
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", name], cwd=ROOT, check=False)
    assert ignored.returncode == 0, f"{name} is not in .gitignore"


DOCS = ["README.md", "docs/operations.md", "docs/deploy.md", "deploy/aws/README.md", "deploy/kubernetes/README.md"]


@pytest.mark.parametrize("doc", DOCS)
def test_the_paths_the_docs_name_exist(doc: str) -> None:
    text = (ROOT / doc).read_text()
    quoted = re.findall(r"`((?:docs|deploy|bench|bot|handlers|tests)/[^`\s:*<]+)`", text)
    linked = [str((ROOT / doc).parent.joinpath(p).relative_to(ROOT)) for p in re.findall(r"\]\(([^)#:]+)", text)]
    missing = [p for p in [*quoted, *linked] if not (ROOT / p).resolve().exists()]
    assert missing == []
