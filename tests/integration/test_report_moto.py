"""The credential report against moto: fetch, parse, ages, last use and matching slots to ListAccessKeys ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import time_machine

from bot.aws import AccountClient, AwsGateway, NewKey
from bot.domain.report import match_key_ids, parse_credential_report, report_is_fresh, report_key_facts
from bot.services.credential_report import fetch_credential_report
from bot.settings.accounts import Account


def days_ago(now: datetime, days: int) -> datetime:
    return (now - timedelta(days=days)).replace(microsecond=0)


def make_key(client: AccountClient, user: str, when: datetime) -> NewKey:
    """Create a key stamped with `when` (moto uses the moved clock)."""
    with time_machine.travel(when, tick=False):
        return client.create_access_key(user)


def use_key(key: NewKey, when: datetime) -> None:
    """Sign one STS call with the key at `when`, so IAM records it as used."""
    with time_machine.travel(when, tick=False):
        boto3.client(
            "sts", region_name="us-east-1", aws_access_key_id=key.key_id, aws_secret_access_key=key.secret
        ).get_caller_identity()


def test_report_from_moto_matches_list_access_keys(iam) -> None:
    now = datetime.now(UTC)
    client = AwsGateway((Account("default"),)).account("default")
    with time_machine.travel(days_ago(now, 400), tick=False):
        for user in ("alice", "ci", "old-app"):
            iam.create_user(UserName=user)
    old, new = make_key(client, "ci", days_ago(now, 200)), make_key(client, "ci", days_ago(now, 10))
    use_key(old, days_ago(now, 3))
    retired = make_key(client, "old-app", days_ago(now, 120))
    client.set_key_status("old-app", retired.key_id, "Inactive")

    delays: list[float] = []
    content, generated = fetch_credential_report(client, lambda: datetime.now(UTC), delays.append)
    assert delays == [0.5]  # moto: STARTED, then COMPLETE
    assert not report_is_fresh(generated, now)  # moto's fixed 2015 GeneratedTime

    users = {u.user: u for u in parse_credential_report(content, "default")}
    assert set(users) == {"alice", "ci", "old-app"}  # moto has no <root_account> row
    assert not any(u.is_root for u in users.values())
    assert users["alice"].keys == ()
    assert users["ci"].created == days_ago(now, 400)

    ids = match_key_ids(users["ci"].keys, client.list_access_keys("ci"))
    assert ids == {1: old.key_id, 2: new.key_id}
    first, second = report_key_facts(users["ci"], ids)
    assert (first.key_id, first.status, first.age_days(now)) == (old.key_id, "Active", 200)
    assert first.last_used == days_ago(now, 3) and first.days_since_use(now) == 3
    assert (first.last_service, first.last_region) == (None, None)  # moto: not_supported
    assert (second.key_id, second.status, second.age_days(now), second.last_used) == (new.key_id, "Active", 10, None)

    reversed_listing = list(reversed(client.list_access_keys("ci")))
    assert match_key_ids(users["ci"].keys, reversed_listing) == ids

    (slot,) = users["old-app"].keys
    assert (slot.slot, slot.active, slot.last_rotated, slot.last_used) == (1, False, days_ago(now, 120), None)
    retired_ids = match_key_ids(users["old-app"].keys, client.list_access_keys("old-app"))
    (facts,) = report_key_facts(users["old-app"], retired_ids)
    assert (facts.key_id, facts.status, facts.age_days(now)) == (retired.key_id, "Inactive", 120)
