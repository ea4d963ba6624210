"""GitHub Actions secrets against a fake GitHub that opens the sealed boxes with its private key: what a workflow
reads, environments, a GitHub App's tokens, and refusals, errors and timeouts that name the place and hold no
secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.aws import AwsGateway
from bot.domain.locations import LocationBook, LocationError, LocationSpec
from bot.locations import Locations, Reach
from bot.locations.github import GitHubSecrets
from bot.locations.github_auth import AppAuth, TokenAuth
from tests.support.fake_github import FakeGitHub
from tests.support.locations import assert_secret_absent, new_key, refused

TOKEN = "github_pat_keywarden"


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    fake.add_repository("acme/api", "production", token=TOKEN)
    fake.add_repository("acme/web", token=None)  # the token cannot write it
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def healed(github: FakeGitHub) -> Iterator[None]:
    yield
    github.heal()


def place(github: FakeGitHub, target: str = "acme/api", auth=None, timeout: float = 5, **options) -> GitHubSecrets:
    spec = LocationSpec("github", target, **options)
    return GitHubSecrets(spec, github.url, auth or TokenAuth(TOKEN), timeout=timeout)


def test_a_workflow_reads_the_key_that_was_written_and_the_secret_never_travels_in_clear(github: FakeGitHub) -> None:
    location, key, newer = place(github), new_key(), new_key()
    location.write(key)
    assert github.workflow_secrets("acme/api") == {"AWS_ACCESS_KEY_ID": key.key_id, "AWS_SECRET_ACCESS_KEY": key.secret}
    location.write(newer)  # the next rotation: updated in place (204)
    assert github.workflow_secrets("acme/api")["AWS_SECRET_ACCESS_KEY"] == newer.secret
    assert location.describe() == "GitHub acme/api" and not location.readable
    assert location.read_back() is None and location.recover() is None  # GitHub never gives a value back
    for sent in (key, newer):
        assert_secret_absent(github.traffic(), sent)  # only sealed boxes went over the wire


def test_environment_secrets_under_other_names_are_seen_only_by_that_environment(github: FakeGitHub) -> None:
    key = new_key()
    location = place(github, environment="production", id_name="DEPLOY_KEY_ID", secret_name="DEPLOY_SECRET")
    location.write(key)
    assert location.describe() == "GitHub acme/api (environment production)"
    production = github.workflow_secrets("acme/api", "production")
    assert (production["DEPLOY_KEY_ID"], production["DEPLOY_SECRET"]) == (key.key_id, key.secret)
    assert "DEPLOY_SECRET" not in github.workflow_secrets("acme/api")
    assert any("/environments/production/secrets/public-key" in s.path for s in github.requests)


def test_a_github_app_gets_one_installation_token_and_keeps_it(github: FakeGitHub) -> None:
    auth = AppAuth(github.url, github.app_id, github.app_private_key)
    before = len([s for s in github.requests if s.path.endswith("/access_tokens")])
    for key in (new_key(), new_key()):
        place(github, auth=auth).write(key)
        assert github.workflow_secrets("acme/api")["AWS_ACCESS_KEY_ID"] == key.key_id
    asked = [s for s in github.requests if s.path.endswith("/access_tokens")]
    assert len(asked) - before == 1
    assert [s.path for s in github.requests if s.path.endswith("/installation")] == ["/repos/acme/api/installation"]
    place(github, "acme/web", auth=auth).write(new_key())  # the App is installed there too
    wrong = AppAuth(github.url, "999", github.app_private_key)
    key = new_key()
    with pytest.raises(LocationError) as e:
        place(github, auth=wrong).write(key)
    assert "refused the credentials (401)" in str(e.value) and "GITHUB_APP_ID" in str(e.value)


@pytest.mark.parametrize(
    ("target", "status", "words"),
    [
        ("acme/web", 403, "Secrets: read and write"),
        ("acme/gone", 404, "No such repository or environment"),
    ],
)
def test_a_refusal_names_the_place_and_what_to_grant(
    github: FakeGitHub, caplog: pytest.LogCaptureFixture, target: str, status: int, words: str
) -> None:
    key = new_key()
    with refused(key, f"GitHub {target}", caplog) as caught:
        place(github, target).write(key)
    (error,) = caught
    assert error.status == status and not error.transient and words in error.reason


def test_an_unknown_environment_and_a_bad_token(github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    with refused(key, "GitHub acme/api (environment staging)", caplog) as caught:
        place(github, environment="staging").write(key)
    assert caught[0].status == 404
    with refused(key, "GitHub acme/api", caplog) as caught:
        place(github, auth=TokenAuth("ghp_revoked")).write(key)
    assert caught[0].status == 401 and "check GITHUB_TOKEN" in caught[0].reason


def test_server_errors_and_timeouts_are_transient(github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    github.fail(502, {"message": "Server Error"}, where="/secrets/AWS_SECRET_ACCESS_KEY")
    with refused(key, "GitHub acme/api", caplog) as caught:
        place(github).write(key)
    assert caught[0].transient and caught[0].status == 502 and "tried again later" in caught[0].reason
    release = github.hang(where="/public-key")
    with refused(key, "GitHub acme/api", caplog) as caught:
        place(github, timeout=0.2).write(key)
    release.set()
    assert caught[0].transient and caught[0].reason.startswith("did not answer within 0.2 s")
    place(github).write(key)  # healed: the same key written again is one delivery
    assert github.workflow_secrets("acme/api")["AWS_SECRET_ACCESS_KEY"] == key.secret


def test_a_public_key_changed_between_reading_and_writing_is_refused_not_stored(
    github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    github.fail(422, {"message": "Bad request: key_id does not match the current public key"}, where="/secrets/AWS_")
    with refused(key, "GitHub acme/api", caplog) as caught:
        place(github).write(key)
    assert caught[0].status == 422 and not caught[0].transient
    assert github.workflow_secrets("acme/api").get("AWS_ACCESS_KEY_ID") != key.key_id


def test_locations_open_github_with_the_configured_token(github: FakeGitHub, caplog: pytest.LogCaptureFixture) -> None:
    spec = LocationSpec("github", "acme/api")
    locations = Locations(LocationBook(), Reach(github_api_url=github.url + "/", github_token=TOKEN), AwsGateway(()))
    key = new_key()
    with caplog.at_level(logging.DEBUG):
        locations.open("default", "ci", spec).write(key)
    assert github.workflow_secrets("acme/api")["AWS_SECRET_ACCESS_KEY"] == key.secret
    assert_secret_absent(caplog.text, key)
    with pytest.raises(LocationError, match=r"^GitHub acme/api: GITHUB_TOKEN \(or GITHUB_APP_ID"):
        Locations(LocationBook(), Reach(), AwsGateway(())).open("default", "ci", spec)


def test_a_server_that_repeats_the_value_in_its_error_does_not_put_it_in_the_message(
    github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    github.fail(422, {"message": f"Invalid value {key.secret}"}, where="/secrets/AWS_SECRET_ACCESS_KEY")
    with refused(key, "GitHub acme/api", caplog) as caught:
        place(github).write(key)
    assert "Invalid value [redacted]" in caught[0].reason
