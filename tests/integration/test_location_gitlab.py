"""GitLab CI/CD variables through python-gitlab against a fake GitLab: what a job sees (masked, protected, scoped),
reading back, and refusals, errors and timeouts that name the place and hold no secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.domain.locations import LocationSpec
from bot.locations.gitlab import GitLabVariables, client
from tests.support.fake_gitlab import FakeGitLab
from tests.support.locations import new_key, refused

TOKEN = "glpat-keywarden"


@pytest.fixture(scope="module")
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab().start()
    fake.add_project("acme/api", TOKEN)
    fake.add_project("acme/platform/web", TOKEN)
    fake.add_project("acme/docs", TOKEN, role="developer")
    fake.add_project("other/secret")  # the token cannot see it
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def healed(gitlab: FakeGitLab) -> Iterator[None]:
    yield
    gitlab.heal()


def place(gitlab: FakeGitLab, target: str = "acme/api", token: str = TOKEN, timeout: float = 5, **options):
    return GitLabVariables(LocationSpec("gitlab", target, **options), client(gitlab.url, token, timeout))


def test_a_job_on_a_protected_branch_reads_the_key_and_it_reads_back(gitlab: FakeGitLab) -> None:
    location, key, newer = place(gitlab), new_key(), new_key()
    assert location.read_back() is None and location.recover() is None  # nothing there yet
    location.write(key)
    assert gitlab.job_variables("acme/api") == {"AWS_ACCESS_KEY_ID": key.key_id, "AWS_SECRET_ACCESS_KEY": key.secret}
    assert gitlab.job_variables("acme/api", protected_ref=False) == {}  # protected: unprotected branches see nothing
    stored = gitlab.variables[("acme/api", "AWS_SECRET_ACCESS_KEY", "*")]
    assert stored["masked"] and stored["protected"] and stored["raw"]
    location.write(newer)  # updated in place
    assert location.read_back() == newer.key_id and location.recover() == newer
    assert location.describe() == "GitLab acme/api" and location.readable


def test_scoped_variables_under_other_names_in_a_nested_group(gitlab: FakeGitLab) -> None:
    key = new_key()
    location = place(gitlab, "acme/platform/web", environment="production", id_name="KEY_ID", secret_name="SECRET")
    location.write(key)
    assert location.describe() == "GitLab acme/platform/web (scope production)"
    assert gitlab.job_variables("acme/platform/web", "production") == {"KEY_ID": key.key_id, "SECRET": key.secret}
    assert gitlab.job_variables("acme/platform/web", "staging") == {}
    assert location.read_back() == key.key_id
    assert any(s.path.startswith("/api/v4/projects/acme%2Fplatform%2Fweb/variables") for s in gitlab.requests)


@pytest.mark.parametrize(
    ("target", "token", "status", "words"),
    [
        ("acme/docs", TOKEN, 403, "Maintainer role"),
        ("other/secret", TOKEN, 404, "No such project"),
        ("acme/api", "glpat-revoked", 401, "check GITLAB_TOKEN"),
    ],
)
def test_a_refusal_names_the_place_and_what_to_grant(
    gitlab: FakeGitLab, caplog: pytest.LogCaptureFixture, target: str, token: str, status: int, words: str
) -> None:
    key = new_key()
    with refused(key, f"GitLab {target}", caplog) as caught:
        place(gitlab, target, token).write(key)
    assert caught[0].status == status and not caught[0].transient and words in caught[0].reason


def test_a_value_gitlab_cannot_mask_is_refused_without_showing_it(
    gitlab: FakeGitLab, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    gitlab.fail(400, {"message": {"value": ["is invalid"]}}, where="/variables")
    with refused(key, "GitLab acme/api", caplog) as caught:
        place(gitlab).write(key)
    assert caught[0].status == 400 and "masked value" in caught[0].reason


def test_server_errors_and_timeouts_are_transient(gitlab: FakeGitLab, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    gitlab.fail(500, {"message": "500 Internal Server Error"}, where="/variables/AWS_SECRET_ACCESS_KEY")
    with refused(key, "GitLab acme/api", caplog) as caught:
        place(gitlab).write(key)
    assert caught[0].transient and caught[0].status == 500
    release = gitlab.hang(where="/variables")
    with refused(key, "GitLab acme/api", caplog) as caught:
        place(gitlab, timeout=0.2).write(key)
    release.set()
    assert caught[0].transient and caught[0].reason.startswith("did not answer within 0.2 s")
    place(gitlab).write(key)
    assert place(gitlab).recover() == key


def test_a_server_that_repeats_the_value_in_its_error_does_not_put_it_in_the_message(
    gitlab: FakeGitLab, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    gitlab.fail(400, {"message": {"value": [f"{key.secret} is invalid"]}}, where="/variables")
    with refused(key, "GitLab acme/api", caplog) as caught:
        place(gitlab).write(key)
    assert "[redacted] is invalid" in caught[0].reason
