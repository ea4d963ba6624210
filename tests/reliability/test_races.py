"""Races across real processes: many clicks, two web processes, one PostgreSQL, one AWS call."""

from __future__ import annotations

import threading

import pytest

from bot.domain.requests import Status
from bot.slack import ids
from tests.support.harness import RemoteBot
from tests.support.remote import Requests, bot_env, file_request

pytestmark = pytest.mark.both_databases  # database behaviour: on SQLite and PostgreSQL


def test_fifty_approve_clicks_across_two_processes_make_one_aws_call(
    slack, pg_url, proxy, remote_iam, start_web
) -> None:
    remote_iam.create_user(UserName="ci")
    key = remote_iam.create_access_key(UserName="ci")["AccessKey"]["AccessKeyId"]
    env = bot_env(slack, pg_url, proxy.url)
    web = [RemoteBot(start_web(env, f"web{n}").url, slack) for n in range(2)]
    db = Requests(pg_url)
    rid = file_request(web[0], f"deactivate {key} race")
    db.wait(rid, lambda r: r.message_ts is not None)

    clicks = [
        threading.Thread(target=web[n % 2].click, args=(ids.APPROVE, rid, ("UBOSS", "UCARL")[n % 2])) for n in range(50)
    ]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    done = db.wait(rid, lambda r: r.status is Status.SUCCEEDED)
    assert proxy.calls["UpdateAccessKey"] == 1
    assert remote_iam.list_access_keys(UserName="ci")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert done.decided_by in {"UBOSS", "UCARL"}
    late = slack.wait_for(lambda calls: [c for c in calls if c.method == "response_url" and "already" in c.raw])
    assert late  # the clicks that lost were told who decided
    db.db.dispose()
