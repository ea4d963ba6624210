"""The posture over time, called directly: each full scan's summary counts the rotations done and the findings fixed
since the one before; the weekly chart (a real PNG, drawn once in this module) goes to the alert channel with three
lines, at most once a week."""

from __future__ import annotations

import io

from PIL import Image, ImageStat

from bot.domain.catalogue import KEY_TOO_OLD
from bot.domain.findings import catalogued
from bot.domain.keys import KeyFacts
from bot.domain.outcomes import Executed, Shown
from bot.domain.rotation import RotationState
from bot.domain.scan import AccountScan, ScanFinding, ScannedKey, ScanReport
from bot.reports.charts import SLACK_DPI, SLACK_SIZE
from bot.services.posture import Posted
from tests.support.flows import BOSS, REQUESTER
from tests.support.service_world import ServiceWorld


def report(world: ServiceWorld, *, old_key: str | None) -> ScanReport:
    """A scan of `default` that sees `ci`'s keys, and a key-too-old finding on `old_key` while it is there."""
    now = world.clock()
    scan = AccountScan("default", users=1, keys=len(world.iam.list_access_keys("ci")))
    for key in world.iam.list_access_keys("ci"):
        facts = KeyFacts("default", "ci", key.key_id, key.status, key.created)
        scan.inventory.append(ScannedKey(facts, "alice@example.com"))
        if key.key_id == old_key and key.status == "Active":
            finding = catalogued(KEY_TOO_OLD, "Older than 90 days.")
            scan.findings.append(ScanFinding("default", "ci", key.key_id, finding, facts, "alice@example.com"))
    return ScanReport(now, now, [scan])


def test_a_summary_counts_rotations_done_and_findings_fixed_since_the_last(world: ServiceWorld) -> None:
    posture = world.services.posture
    assert posture is not None
    old = world.iam.add_key("ci", age_days=100)
    first = report(world, old_key=old)
    world.services.alerts.deliver(first)  # the finding is opened
    assert posture.record(first, "schedule") is not None

    filed = world.file("rotate ci quarterly rotation")  # rotated: new key, then the old one off after 7 days
    assert isinstance(world.services.decisions.approve(filed.id, BOSS), Executed)
    assert isinstance(world.services.secret_delivery.reveal(filed.id, REQUESTER), Shown)
    world.clock.advance(days=7)
    assert world.services.rotations.advance_due() == 1
    assert world.rotation(filed.id).state is RotationState.OLD_KEY_DEACTIVATED
    second = report(world, old_key=old)  # the old key is inactive now: its finding is gone
    world.services.alerts.deliver(second)
    posture.record(second, "schedule")

    trend = posture.trend(30)
    latest = trend.latest
    assert latest is not None and len(trend.snapshots) == 2
    assert latest["rotations_done"] == 1 and latest["fixed"] == 1 and latest["median_days_to_fix"] == 7.0
    assert latest["findings"] == 0 and latest["active_keys"] == 1 and latest["keys"] == 2
    assert trend.snapshots[0].summary["findings_by_severity"]["high"] == 1
    assert trend.fixed() == (1, 7.0) and trend.rotations_done() == 1


def test_no_summary_when_no_account_could_be_scanned(world: ServiceWorld) -> None:
    now = world.clock()
    assert world.services.posture is not None
    assert world.services.posture.record(ScanReport(now, now, [AccountScan("default", error="denied")]), "cli") is None
    assert world.services.posture.trend(1).snapshots == []


def test_the_weekly_chart_goes_with_the_digest_once_a_week(world: ServiceWorld) -> None:
    posture = world.services.posture
    assert posture is not None
    old = world.iam.add_key("ci", age_days=100)
    snapshot = posture.record(report(world, old_key=old), "schedule")

    posted = posture.weekly(snapshot)  # the only chart this module draws
    assert posted is not None and posted.outcome is Posted.POSTED
    [(channel, name, png)] = [u for u in world.slack.uploads if u[1].endswith(".png")]
    assert channel == "CALERTS" and name == f"keywarden-posture-{world.clock():%Y%m%d}.png"
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    assert image.size == (int(SLACK_SIZE[0] * SLACK_DPI), int(SLACK_SIZE[1] * SLACK_DPI))  # readable in a preview
    stats = ImageStat.Stat(image.convert("L"))
    assert stats.stddev[0] > 20  # not blank: text, axes and bars on white
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 50
    assert len(posted.lines) == 3 and posted.lines[0].startswith("Now: 1 finding (1 high) on 1 active key")

    world.clock.advance(days=1)  # the next daily digest: the chart went out yesterday
    assert posture.weekly(posture.record(report(world, old_key=old), "schedule")) is None
    assert len([u for u in world.slack.uploads if u[1].endswith(".png")]) == 1


def test_without_an_alert_channel_the_chart_is_not_drawn(make_world) -> None:
    quiet = make_world(ALERT_CHANNEL="")
    assert quiet.services.posture is not None
    assert quiet.services.posture.weekly(1) is None
    post = quiet.services.posture.post_chart(30)
    assert post.outcome is Posted.NO_CHANNEL and len(post.lines) == 3 and quiet.slack.uploads == []
