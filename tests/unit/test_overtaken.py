"""What overtakes a request on a key after its approval, decided from the key's audit rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.audit_events import AuditRow
from bot.domain.overtaken import Overtaker, overtaken
from bot.slack.messages.request_states import overtaken_text

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
KEY = "AKIAIOSFODNN7EXAMPLE"


def row(action: str, actor: str = "keywarden", request_id: str | None = None, **kw: str) -> AuditRow:
    fields = {"outcome": "ok", "detail": "", "operation": None} | kw
    return AuditRow(
        1, AT, actor, action, fields["outcome"], request_id, "default", "ci", KEY, fields["detail"], fields["operation"]
    )


def test_its_own_steps_and_what_changes_nothing_do_not_overtake_a_request() -> None:
    later = [
        row("executing", request_id="R-MINE22"),
        row("reminded", request_id="R-OTHER2"),
        row("failed", request_id="R-OTHER2", outcome="failed", operation="deactivate"),
        row("executed", request_id="R-ROT222", operation="rotate"),  # made another key
        row("finding_opened", detail="key-too-old: 91 days"),
        row("snoozed", actor="UALICE"),
    ]
    assert overtaken("R-MINE22", later) is None


@pytest.mark.parametrize(
    ("later", "by", "says"),
    [
        (
            [
                row("break_glass", "UBOB", "R-GLASS2"),
                row("executing", request_id="R-GLASS2"),
                row("executed", request_id="R-GLASS2", operation="deactivate"),
            ],
            Overtaker.BREAK_GLASS,
            "the key was deactivated at once by <@UBOB> at 2026-12-01 09:30 UTC (break-glass R-GLASS2)",
        ),
        (
            [row("executed", request_id="R-ENF222", operation="deactivate")],
            Overtaker.REQUEST,
            "the key was deactivated by request R-ENF222",
        ),
        ([row("exposed", "UMALLORY", outcome="critical")], Overtaker.EXPOSURE, "the key was reported exposed"),
        (
            [row("finding_opened", detail="aws-quarantine: AWS quarantined this user")],
            Overtaker.QUARANTINE,
            "AWS quarantined the key's user",
        ),
        (
            [row("changed_outside", "cloudtrail", detail="UpdateAccessKey Inactive by <arn:aws:iam::1:user/x>")],
            Overtaker.OUTSIDE,
            "changed outside Keywarden at 2026-12-01 09:30 UTC (UpdateAccessKey Inactive by &lt;arn",
        ),
        ([row("rotation_deactivated", request_id="R-ROT222")], Overtaker.ROTATION, "deactivated by rotation R-ROT222"),
    ],
)
def test_a_later_change_or_alarm_on_the_key_overtakes_it(later: list[AuditRow], by: Overtaker, says: str) -> None:
    found = overtaken("R-MINE22", later)
    assert found is not None and found.by is by
    text = overtaken_text(found)
    assert (
        text.startswith("not finished: ")
        and says in text
        and text.endswith("file a new request if it is still needed.")
    )
