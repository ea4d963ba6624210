"""Vault KV version 2 through hvac against a fake Vault: what a consumer reads, other fields kept, check-and-set,
the least policy, and refusals, errors and timeouts that name the place and hold no secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.domain.locations import LocationSpec
from bot.locations.vault import VaultSecret, client
from tests.support.fake_vault import FakeVault
from tests.support.locations import new_key, refused

TOKEN = "hvs.keywarden"
LEAST = ("create", "read", "update")  # the policy of docs/locations.md


@pytest.fixture(scope="module")
def vault() -> Iterator[FakeVault]:
    fake = FakeVault(mounts=("secret", "kv/team")).start()
    fake.grant(TOKEN, "secret/data/ci/deployer", *LEAST)
    fake.grant(TOKEN, "kv/team/data/ci/web", *LEAST)
    fake.grant(TOKEN, "secret/data/ci/readonly", "read")
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def healed(vault: FakeVault) -> Iterator[None]:
    yield
    vault.heal()


def place(vault: FakeVault, target: str = "secret/ci/deployer", token: str = TOKEN, timeout: float = 5, **options):
    return VaultSecret(LocationSpec("vault", target, **options), client(vault.url, token, timeout), timeout=timeout)


def test_a_consumer_reads_the_key_and_other_fields_stay(vault: FakeVault) -> None:
    location, key, newer = place(vault), new_key(), new_key()
    assert location.read_back() is None  # nothing there yet: the first write needs `create`
    location.write(key)
    assert vault.latest("secret/ci/deployer") == {"aws_access_key_id": key.key_id, "aws_secret_access_key": key.secret}
    vault.versions["secret/data/ci/deployer"].append({**vault.latest("secret/ci/deployer"), "region": "eu-west-1"})
    location.write(newer)  # the next version, written with cas = the version read (`update`)
    assert vault.latest("secret/ci/deployer") == {
        "aws_access_key_id": newer.key_id,
        "aws_secret_access_key": newer.secret,
        "region": "eu-west-1",
    }
    assert location.read_back() == newer.key_id and location.recover() == newer
    assert location.describe() == "Vault secret/ci/deployer" and location.readable


def test_a_mount_with_a_slash_and_fields_under_other_names(vault: FakeVault) -> None:
    key = new_key()
    location = place(vault, "kv/team/ci/web", mount="kv/team", id_name="key_id", secret_name="secret")
    location.write(key)
    assert vault.latest("kv/team/ci/web") == {"key_id": key.key_id, "secret": key.secret}
    assert location.read_back() == key.key_id


def test_a_write_by_someone_else_in_between_is_refused_not_lost_and_worth_trying_again(
    vault: FakeVault, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()
    place(vault).write(new_key())
    theirs = {"aws_access_key_id": "AKIAOTHERWRITER00000", "note": "written by hand"}
    vault.race_next_write = theirs
    with refused(key, "Vault secret/ci/deployer", caplog) as caught:
        place(vault).write(key)
    assert caught[0].status == 400 and caught[0].transient and "check-and-set" in caught[0].reason
    assert vault.latest("secret/ci/deployer") == theirs  # their version stands
    place(vault).write(key)  # tried again: read, then written on top, their other field kept
    assert vault.latest("secret/ci/deployer") == {
        **theirs,
        "aws_access_key_id": key.key_id,
        "aws_secret_access_key": key.secret,
    }


@pytest.mark.parametrize(
    ("target", "token", "status", "words"),
    [
        ("secret/ci/readonly", TOKEN, 403, "create, read and update"),
        ("secret/ci/deployer", "hvs.expired", 403, "check VAULT_TOKEN"),
        ("nomount/ci/deployer", TOKEN, 404, "No such mount"),
    ],
)
def test_a_refusal_names_the_place_and_what_to_grant(
    vault: FakeVault, caplog: pytest.LogCaptureFixture, target: str, token: str, status: int, words: str
) -> None:
    key = new_key()
    with refused(key, f"Vault {target}", caplog) as caught:
        place(vault, target, token).write(key)
    assert caught[0].status == status and not caught[0].transient and words in caught[0].reason


def test_server_errors_and_timeouts_are_transient(vault: FakeVault, caplog: pytest.LogCaptureFixture) -> None:
    key = new_key()
    vault.fail(503, {"errors": ["Vault is sealed"]})
    with refused(key, "Vault secret/ci/deployer", caplog) as caught:
        place(vault).write(key)
    assert caught[0].transient and caught[0].status == 503 and "Vault is sealed" in caught[0].reason
    release = vault.hang()
    with refused(key, "Vault secret/ci/deployer", caplog) as caught:
        place(vault, timeout=0.2).write(key)
    release.set()
    assert caught[0].transient and caught[0].reason.startswith("did not answer within 0.2 s")
    place(vault).write(key)
    assert place(vault).recover() == key
