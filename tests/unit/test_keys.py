import pytest

from bot.domain.keys import (
    InputError,
    as_pasted,
    compact_key_id,
    key_id_problems,
    looks_like_key_id,
    parse_key_id,
    parse_user_ref,
)

GOOD = "AKIAIOSFODNN7EXAMPLE"


def test_a_good_key_has_no_problems() -> None:
    assert key_id_problems(GOOD) == []
    assert parse_key_id(GOOD) == GOOD


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (f" {GOOD}", "spaces before or after"),
        (f"{GOOD}\t", "spaces before or after"),
        ("AKIAIOSFO DNN7EXAMPLE", "spaces inside"),
        (GOOD.lower(), "lower-case"),
        ("AKIAIOSFODNN7EXAMPL", "19 characters long"),
        ("AKIAIOSFODNN7EXAMPLEX", "21 characters long"),
        ("AKIAIOSFODNN7EXAMP-E", "characters that never appear in a key id: -"),
        ("ASIAIOSFODNN7EXAMPLE", "temporary key from STS"),
        ("ABCDIOSFODNN7EXAMPLE", "does not start with AKIA"),
    ],
)
def test_each_problem_is_named(raw: str, problem: str) -> None:
    assert any(problem in p for p in key_id_problems(raw))
    with pytest.raises(InputError, match="not a valid access key id"):
        parse_key_id(raw)


def test_user_refs() -> None:
    assert str(parse_user_ref("ci-deployer", ["default"])) == "ci-deployer"
    ref = parse_user_ref("prod:svc.bot@x", ["prod", "dev"])
    assert (ref.account, ref.name) == ("prod", "svc.bot@x")
    with pytest.raises(InputError, match=r"Unknown account `qa`\. Known accounts: prod, dev"):
        parse_user_ref("qa:x", ["prod", "dev"])
    with pytest.raises(InputError, match="not a valid IAM user name"):
        parse_user_ref("a" * 65, ["default"])
    with pytest.raises(InputError, match="not a valid IAM user name"):
        parse_user_ref("bad/name", ["default"])


def test_key_id_routing() -> None:
    assert looks_like_key_id(GOOD)
    assert looks_like_key_id(GOOD.lower())
    assert not looks_like_key_id("akiapolo")
    assert not looks_like_key_id("ci-deployer")


@pytest.mark.parametrize(
    "pasted",
    [
        f"`{GOOD}`",
        f"```{GOOD}```",
        f'"{GOOD}"',
        f"'{GOOD}'",
        f"\u201c{GOOD}\u201d",
        f"\u2018{GOOD}\u2019",
        f"{GOOD}.",
        f"{GOOD},",
        f"`{GOOD}`.",
        f"({GOOD})",
        f"*{GOOD}*",
    ],
)
def test_a_key_id_is_read_as_people_paste_it(pasted: str) -> None:
    assert key_id_problems(pasted) == []
    assert parse_key_id(pasted) == GOOD
    assert looks_like_key_id(pasted)
    assert compact_key_id(pasted) == GOOD


def test_unwrapping_leaves_real_problems_to_be_named() -> None:
    assert as_pasted(f" `{GOOD}` ") == f" {GOOD} "  # the spaces around it are still diagnosed
    assert any("spaces before or after" in p for p in key_id_problems(f" `{GOOD}`"))
    assert any("characters that never appear in a key id: -" in p for p in key_id_problems("`AKIAIOSFODNN7EXAMP-E`"))
    assert any("19 characters long" in p for p in key_id_problems('"AKIAIOSFODNN7EXAMPL"'))
    assert as_pasted("``") == "``"  # nothing but marks: left as typed, and diagnosed as such
