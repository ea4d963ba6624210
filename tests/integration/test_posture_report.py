"""`python -m bot report --out FILE.html` after a few weeks of scans (moto), parsed: the four charts, the oldest keys
with their owners, and nothing that would be fetched from anywhere (drawn once in this module). And `scan --format`
(table, json as --json, ocsf)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.bootstrap import Services
from bot.entrypoints.cli import main
from bot.entrypoints.cli_report import run_report
from bot.entrypoints.cli_scan import run_scan
from tests.support.exports import ocsf_problems
from tests.support.fake_slack import FakeSlack
from tests.support.flows import make_key, tagged

CHARTS = {"key-ages", "findings-by-severity", "rotations", "oldest-keys"}
FETCHING = {"src", "href", "xlink:href", "action", "data", "poster", "srcset", "background", "formaction", "ping"}


class Page(HTMLParser):
    """What a browser would fetch (every URL-bearing attribute, CSS url() and @import) and what the page shows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fetched: list[str] = []
        self.tags: list[str] = []
        self.charts: dict[str, int] = {}  # data-chart -> <svg> elements inside it
        self.text: list[str] = []
        self._chart: str | None = None

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

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._chart = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.fetched += re.findall(r"url\(([^)]*)\)|@import", data)


@pytest.fixture
def estate(make_services: Callable[..., Services], aws: None, iam) -> Services:
    services = make_services()
    now = services.clock.advance(days=-14)  # the last scan is now: `report` reads the system clock
    tagged(iam, "ci", owner="alice@example.com")
    tagged(iam, "batch")
    tagged(iam, "web", owner="bob@example.com")
    make_key(iam, "ci", 130, now, used_days_ago=1)
    unused = make_key(iam, "batch", 70, now)
    make_key(iam, "web", 20, now, used_days_ago=1)
    services.scan(post=True, trigger="schedule")
    services.clock.advance(days=7)
    iam.delete_access_key(UserName="batch", AccessKeyId=unused)  # fixed
    services.scan(post=True, trigger="schedule")
    services.clock.advance(days=7)
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
