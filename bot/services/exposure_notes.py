"""What `list` and `check` say about a key's exposure: the latest time it was pasted (or reported by AWS
Health), and whether AWS quarantined its user as the last scan saw it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.findings import AWS_QUARANTINE
from bot.slack.messages.common import AccountNames
from bot.slack.messages.exposures import exposure_note, quarantine_note
from bot.store.exposures import Exposures
from bot.store.finding_notices import FindingNotices


@dataclass(kw_only=True, eq=False)
class ExposureNotes:
    exposures: Exposures
    notices: FindingNotices
    names: AccountNames  # `ci`, or `prod:ci` where Keywarden watches several accounts

    def notes_for(self, key_ids: Iterable[str]) -> dict[str, str]:
        """A note on the latest exposure of each of these keys that has one."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        return {
            key_id: exposure_note(r.source, r.detected_at, r.channel, r.poster, r.permalink, r.health_type)
            for key_id, r in self.exposures.latest_by_key(wanted).items()
        }

    def quarantine_notes(self, key_ids: Iterable[str]) -> dict[str, str]:
        """Keys on a user AWS quarantined, as the last scan saw them, with when a scan first saw it."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        return {
            n.subject: quarantine_note(n.account, n.iam_user, n.first_seen, self.names)
            for n in self.notices.open_with_code(AWS_QUARANTINE, wanted)
        }
