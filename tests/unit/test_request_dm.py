from datetime import UTC, datetime, timedelta

from bot.domain.requests import Status, outcome_needs_new_dm

T = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_a_request_dm_is_updated_unless_a_final_outcome_comes_after_a_long_wait() -> None:
    soon, late = T + timedelta(minutes=1), T + timedelta(minutes=11)
    assert not outcome_needs_new_dm(Status.SUCCEEDED, T, None, soon)
    assert outcome_needs_new_dm(Status.SUCCEEDED, T, None, late)
    assert outcome_needs_new_dm(Status.EXPIRED, T, None, T + timedelta(hours=25))
    assert not outcome_needs_new_dm(Status.EXECUTING, T, None, late)  # not an outcome yet
    assert not outcome_needs_new_dm(Status.SUCCEEDED, T, late - timedelta(seconds=5), late)  # Reveal just clicked
    assert not outcome_needs_new_dm(Status.CANCELLED, None, None, late)
