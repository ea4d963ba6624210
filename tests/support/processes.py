"""Keywarden as separate processes, started the way a deployment starts them (the Procfile's lines)."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_command(kind: str, port: int) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == kind:
            return command.strip().replace("0.0.0.0:${PORT:-3000}", f"127.0.0.1:{port}")
    raise LookupError(kind)


def env_without_bot_settings(**extra: str) -> dict[str, str]:
    """This process's environment without Slack, database and account settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "ACCOUNTS"))}
    env.update(extra)
    return env


def run_bot(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot *args` run to its end in `cwd`, with this environment less the bot's settings plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env_without_bot_settings(PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def clean_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AWS_", "DATABASE_URL", "ACCOUNTS"))}
    bin_dir = str(Path(sys.executable).parent)
    return keep | {"PYTHONPATH": str(ROOT), "PATH": f"{bin_dir}:{keep.get('PATH', '')}"} | extra


class Process:
    def __init__(self, kind: str, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", "exec " + procfile_command(kind, self.port)],
            cwd=cwd,
            env=env | {"PORT": str(self.port)},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60) -> Process:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{shlex.join(self.proc.args)} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()
