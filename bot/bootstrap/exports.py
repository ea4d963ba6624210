"""The services that take what Keywarden finds to where security teams look: each account's Security Hub, and the
posture report with its chart; built from the adapters like the groups in `factories`."""

from __future__ import annotations

from bot.bootstrap.factories import Adapters
from bot.services.account_places import AccountPlaces
from bot.services.posture import PostureService
from bot.services.security_hub import SecurityHubExport, hub_pacer


def security_hub(a: Adapters) -> SecurityHubExport | None:
    """SECURITY_HUB=on: each scan's findings to every account's own Security Hub; None when off."""
    s = a.settings
    if not s.security_hub:
        return None
    pacer = hub_pacer(sleep=a.sleep)  # tests wait nothing
    places = AccountPlaces(aws=a.aws, region=s.security_hub_region)
    return SecurityHubExport(a.aws, a.repos.hub, places, a.clock, pacer=pacer, concurrency=s.scan_concurrency)


def posture(a: Adapters) -> PostureService:
    return PostureService(
        store=a.repos.posture, clock=a.clock, notifier=a.notifier, alert_channel=a.settings.alert_channel
    )
