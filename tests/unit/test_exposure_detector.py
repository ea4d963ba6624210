"""The paste detector: key ids with a secret beside them, and nothing in ordinary chat."""

from __future__ import annotations

import time

import pytest

from bot.domain.commands import parse
from bot.domain.exposure import MAX_KEY_IDS, detect, detect_typed, looks_random, mask
from bot.domain.keys import InputError

KEY = "AKIAZ2N6KQXJ7PLMWXYZ"
SECRET = "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"


@pytest.mark.parametrize(
    "text",
    [
        f"aws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}",
        f"export AWS_ACCESS_KEY_ID={KEY}\nexport AWS_SECRET_ACCESS_KEY={SECRET}",
        f'{{"AccessKeyId": "{KEY}", "SecretAccessKey": "{SECRET}"}}',
        f"User name,Access key ID,Secret access key\nci,{KEY},{SECRET}",
        f"try these: {KEY} {SECRET} thanks",
        f"```\n[default]\naws_access_key_id={KEY}\naws_secret_access_key={SECRET}\n```",
        f"<{KEY}> / `{SECRET}` — ça marche? 🙏",
        f"ASIAZ2N6KQXJ7PLMWXYZ {SECRET}",
    ],
)
def test_a_key_id_with_its_secret_is_an_exposure(text: str) -> None:
    found = detect(text)
    assert found.exposure and found.key_ids[0][4:] == KEY[4:]


def test_a_named_secret_counts_even_when_it_looks_plain() -> None:
    plain = "Password" * 5  # low entropy, but named
    assert not looks_random(plain)
    assert detect(f"{KEY}\naws_secret_access_key: {plain}").exposure
    assert not detect(f"{KEY}\nsome text {'abcdefghij' * 4}").secret


@pytest.mark.parametrize(
    "text",
    [
        f"the key {KEY} is the one failing, can you check?",  # an id alone is not secret
        f"{KEY} commit da39a3ee5e6b4b0d3255bfef95601890afd80709",  # a hex digest is not a secret
        f"{KEY} path kubernetes/deployment/productioncluster1/app",
        f"{KEY} blob {'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwYWJjZGVm' * 3}",  # a longer base64 run
        f"{KEY} token {SECRET}==",  # padded: part of a longer base64 value
        f"{KEY} {SECRET}x",  # 41 characters
    ],
)
def test_no_exposure_without_a_secret(text: str) -> None:
    assert not detect(text).exposure


@pytest.mark.parametrize(
    "text",
    [
        "",
        "deploy is green, merging now",
        f"XAKIAZ2N6KQXJ7PLMWXYZ {SECRET}",  # inside a longer token
        f"AKIAZ2N6KQXJ7PLMWXYZ9 {SECRET}",
        f"akiaz2n6kqxj7plmwxyz {SECRET}",  # lower case is not a key id
        f"AKIA0189ABCDEFGHIJKL {SECRET}",  # 0, 1, 8, 9 are not in the key-id alphabet
        f"AKIA_Z2N6KQXJ7PLMWXYZ {SECRET}",
    ],
)
def test_no_key_id_no_exposure(text: str) -> None:
    assert detect(text).key_ids == ()


def test_at_most_ten_ids_and_each_once() -> None:
    ids = [f"AKIAQQQQQQQQQQQQ{chr(65 + n // 26 % 26)}{chr(65 + n % 26)}QQ" for n in range(1000)]
    found = detect(" ".join([KEY, KEY, *ids, SECRET]))
    assert len(found.key_ids) == MAX_KEY_IDS and found.key_ids[0] == KEY and found.more_ids and found.secret


def test_the_secret_never_leaves_the_detector() -> None:
    found = detect(f"{KEY} {SECRET}")
    assert SECRET not in repr(found) and SECRET not in str(vars(found))


def test_long_and_odd_messages_are_cheap() -> None:
    huge = ("lorem ipsum AKIA dolor " * 2000)[:40_000]
    started = time.perf_counter()
    for text in (huge, "A" * 40_000, "+" * 40_000, "é" * 40_000, f"{KEY} " + "x/" * 20_000):
        detect(text)
    assert time.perf_counter() - started < 5  # bounded (linear), far from any timeout


# Text typed into Keywarden itself: a secret counts even alone, and the usual ways of writing one are caught


@pytest.mark.parametrize(
    "text",
    [
        f"deactivate {KEY} --now aws_secret_access_key={SECRET}",
        f"AWS_SECRET_ACCESS_KEY: {SECRET}",
        f"export AWS_SECRET_ACCESS_KEY={SECRET}",
        f"{KEY} {SECRET}",
        f"the old secret {SECRET}",  # no key id
        f'"SecretAccessKey": "{SECRET}"',
        "aws_secret_access_key = " + "Password" * 5,  # named, however plain
    ],
)
def test_a_typed_secret_is_found_with_or_without_a_key_id(text: str) -> None:
    found = detect_typed(text)
    assert found.secret and found.exposure == (KEY in text)
    assert SECRET not in repr(found)


@pytest.mark.parametrize(
    "text",
    [
        f"rotate {KEY} quarterly rotation, ticket SEC-1234",
        "commit da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "see kubernetes/deployment/productioncluster1/app",
        "",
    ],
)
def test_ordinary_reasons_hold_no_secret(text: str) -> None:
    assert not detect_typed(text).secret


@pytest.mark.parametrize(
    "text", [f"create ci {SECRET}", f"deactivate {KEY} aws_secret_access_key={SECRET}", f"check {KEY} {SECRET}"]
)
def test_no_command_is_ever_parsed_with_a_secret_in_it(text: str) -> None:
    with pytest.raises(InputError) as refused:
        parse(text, ["default"])
    assert "secret access key" in str(refused.value) and SECRET[:8] not in str(refused.value)


def test_mask() -> None:
    assert mask(KEY) == "AKIA…WXYZ"
