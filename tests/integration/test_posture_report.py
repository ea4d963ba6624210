"""`python -m bot report --out FILE.html` after a few weeks of scans (moto), parsed: the five charts, the oldest keys
with their owners, the way down to fewer keys per month (a key made by `create`, a key retired for its role), and
nothing that would be fetched from anywhere (drawn once in this module). And `scan --format` (table, json as --json,
ocsf)."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends

from bot.bootstrap import Services
from bot.domain.commands import parse
from bot.domain.requests import Status
from bot.domain.retirement import Stage
from bot.entrypoints.cli import main
from bot.entrypoints.cli_report import run_report
from bot.entrypoints.cli_scan import run_scan
from tests.support.exports import ocsf_problems
from tests.support.fake_slack import FakeSlack
from tests.support.flows import make_key, tagged

CHARTS = {"key-ages", "findings-by-severity", "rotations", "oldest-keys", "way-down"}
FETCHING = {"src", "href", "xlink:href", "action", "data", "poster", "srcset", "background", "formaction", "ping"}


class Page(HTMLParser):
    """What a browser would fetch (every URL-bearing attribute, CSS url() and @import) and what the page shows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fetched: list[str] = []
        self.tags: list[str] = []
        self.charts: dict[str, int] = {}  # data-chart -> <svg> elements inside it
        self.text: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}  # id -> rows of cell texts
        self._chart: str | None = None
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        self.fetched += [v for k, v in attrs if k in FETCHING and v and not v.startswith("#")]
        self.fetched += re.findall(r"url\(([^)]*)\)", values.get("style") or "")
        if tag == "figure":
            self._chart = values.get("data-chart")
            self.charts[self._chart or ""] = 0
        if tag == "svg" and self._chart:
            self.charts[self._chart] += 1
        if tag == "table":
            self._table = values.get("id") or ""
            self.tables[self._table] = []
        if tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        if tag in ("td", "th") and self._table is not None:
            self.tables[self._table][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._chart = None
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._table is not None and self.tables[self._table] and self.tables[self._table][-1]:
            self.tables[self._table][-1][-1] += data
        self.fetched += re.findall(r"url\(([^)]*)\)|@import", data)


ALICE, BOSS = "UALICE", "UBOSS"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def the_way_down_starts(services: Services, iam, slack: FakeSlack, now: datetime) -> str:
    """Alice gets a new key for `tools` (create, approved, revealed), and retires `app`'s key: its role, `app-role`,
    appeared an hour ago and was used since; the key was last used two days ago. The retirement's request id."""
    slack.add_user(ALICE, email="alice@example.com")
    tagged(iam, "tools", owner="alice@example.com")
    made = services.filing.file(ALICE, parse("create tools new pipeline", ["default"]))
    services.decisions.approve(made.id, BOSS)
    services.secret_delivery.reveal(made.id, ALICE, trigger_id="T-REVEAL")
    tagged(iam, "app", owner="alice@example.com")
    key = make_key(iam, "app", 20, now, used_days_ago=2)
    with time_machine.travel(now - timedelta(hours=1), tick=False):
        iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=TRUST)
    iam_backends[DEFAULT_ACCOUNT_ID]["global"].get_role("app-role").last_used = now.replace(tzinfo=None)
    retire = services.filing.file(ALICE, parse(f"retire {key} the Lambda has its role", ["default"]))
    services.decisions.approve(retire.id, BOSS)
    assert [services.decisions.store.get(r.id).status for r in (made, retire)] == [Status.SUCCEEDED] * 2
    return retire.id


@pytest.fixture
def estate(make_services: Callable[..., Services], aws: None, iam, slack: FakeSlack) -> Services:
    services = make_services()
    now = services.clock.advance(days=-14)  # the last scan is now: `report` reads the system clock
    tagged(iam, "ci", owner="alice@example.com")
    tagged(iam, "batch")
    tagged(iam, "web", owner="bob@example.com")
    make_key(iam, "ci", 130, now, used_days_ago=1)
    unused = make_key(iam, "batch", 70, now)
    make_key(iam, "web", 20, now, used_days_ago=1)
    retirement = the_way_down_starts(services, iam, slack, now)
    services.scan(post=True, trigger="schedule")
    services.clock.advance(days=7)
    iam.delete_access_key(UserName="batch", AccessKeyId=unused)  # fixed
    services.scan(post=True, trigger="schedule")
    services.retirements.advance_due()  # the role in use, the key quiet for a day and more: switched off
    services.clock.advance(days=7)
    services.retirements.advance_due()  # ROTATION_DELETE_DAYS later: deleted
    assert services.retirements.store.get(retirement).state is Stage.DELETED
    services.scan(post=False, trigger="cli")
    return services


def test_the_html_report_is_one_self_contained_file_with_every_chart(estate: Services, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    path = tmp_path / "posture.html"
    assert run_report(estate.settings, out=str(path), days=90, post=False, stdout=out, err=err) == 0
    assert f"wrote {path}" in out.getvalue() and err.getvalue() == ""
    html = path.read_text()
    page = Page()
    page.feed(html)
    page.close()
    assert set(page.charts) == CHARTS and all(n == 1 for n in page.charts.values())  # each chart: one inline SVG
    assert page.fetched == []
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I)  # no address at all
    text = " ".join(page.text)
    assert "3 scan(s)" in text
    assert "The oldest keys and their owners" in text and "alice@example.com" in text and "no owner" not in text
    assert "Findings fixed 1" in re.sub(r"\s+", " ", text)
    # The way down, per month: created when revealed, replaced a week later, deleted a week after that.
    header, *months = page.tables["way-down"]
    assert header == ["Month", "Created", "Replaced by a role", "Retired (deleted)"]
    end = estate.clock()
    expected: dict[str, Counter[str]] = {}
    for change, at in (("created", end - timedelta(days=14)), ("replaced", end - timedelta(days=7)), ("retired", end)):
        expected.setdefault(f"{at:%B %Y}", Counter())[change] += 1
    shown = {m: Counter(created=int(c), replaced=int(r), retired=int(d)) for m, c, r, d in months}
    assert {m: +counts for m, counts in shown.items() if +counts} == expected  # (+ drops the zeros)
    assert len(months) >= 3 and all(shown[m] == Counter() for m in shown if m not in expected)


def test_scan_formats(estate: Services) -> None:
    def scan(**kw) -> tuple[int, str]:
        out = io.StringIO()
        code = run_scan(estate.settings, post=False, out=out, err=io.StringIO(), **kw)
        return code, out.getvalue()

    code, ocsf = scan(output="ocsf")
    events = [json.loads(line) for line in ocsf.splitlines()]
    assert code == 1 and events and len(events) == len(ocsf.splitlines())
    assert all(ocsf_problems(e) == [] for e in events)
    assert {e["cloud"]["account"]["uid"] for e in events} == {"123456789012"}  # read through STS
    assert {e["finding_info"]["types"][0] for e in events} >= {"key-too-old"}
    _, as_json = scan(as_json=True)
    _, formatted = scan(output="json")
    assert [f["finding"] for f in json.loads(as_json)["findings"]] == [
        f["finding"] for f in json.loads(formatted)["findings"]
    ]
    _, table = scan(output="table")
    assert table.startswith("ACCOUNT") and "IAM API calls." in table


def test_json_and_another_format_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["scan", "--json", "--format", "ocsf"])
    assert refused.value.code == 2 and "--json means --format json, not --format ocsf" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report"])
    assert "use --out FILE.html, --post, or both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "--out", "x.html", "--days", "0"])
    assert "not a number of days from 1 to 3650" in capsys.readouterr().err


def test_the_scheduled_scan_carries_the_chart_once_a_week(
    make_services: Callable[..., Services], slack: FakeSlack, aws: None, iam
) -> None:
    from bot.entrypoints.scheduler import jobs

    services = make_services()
    tagged(iam, "ci", owner="alice@example.com")
    make_key(iam, "ci", 130, services.clock(), used_days_ago=1)
    scheduled_scan = jobs(services)["scan"][0]
    scheduled_scan()
    fake = slack
    [chart] = fake.shared_files("CALERTS")
    assert chart.filename.endswith(".png") and chart.data is not None and chart.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert chart.length == len(chart.data)  # the length announced is the length uploaded
    assert chart.comment is not None and chart.comment.startswith(
        "*Weekly access key posture*\nNow: 1 finding (1 high)"
    )
    methods = [c.method for c in fake.calls]
    upload = methods.index("files.getUploadURLExternal")
    assert methods[upload : upload + 3] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    assert methods.index("chat.postMessage") < upload  # after the digest
    services.clock.advance(days=1)
    scheduled_scan()  # the next day's digest: no chart
    assert len(fake.shared_files("CALERTS")) == 1
