import pytest

from bot.domain.commands import parse
from bot.domain.keys import InputError

ALIASES = ["default"]
KEY = "AKIAIOSFODNN7EXAMPLE"


def test_empty_text_opens_the_modal() -> None:
    assert parse("   ", ALIASES).name == "modal"


def test_commands_parse() -> None:
    assert parse("HELP", ALIASES).name == "help"
    assert parse("list", ALIASES).user is None
    assert parse("list ci", ALIASES).user.name == "ci"
    assert parse(f"check  {KEY} ", ALIASES).raw == f" {KEY} "
    create = parse("create ci new pipeline", ALIASES)
    assert (create.user.name, create.reason) == ("ci", "new pipeline")
    assert parse(f"rotate {KEY} 90 days", ALIASES).key_id == KEY
    assert parse("rotate ci", ALIASES).user.name == "ci"
    deact = parse(f"deactivate {KEY} --now leaked in a gist", ALIASES)
    assert deact.now and deact.reason == "leaked in a gist"
    assert parse("cancel r-7kq2zd", ALIASES).request_id == "R-7KQ2ZD"
    assert parse(f"audit {KEY}", ALIASES).key_id == KEY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frob", "Unknown command `frob`"),
        ("check", "`check` needs more. Usage: `check <access-key-id>`"),
        ("create", "`create` needs more"),
        ("create bad/user", "not a valid IAM user name"),
        ("delete akia", "not a valid access key id"),
        (f"reactivate {KEY} --now", "`--now` works only with `deactivate`"),
        ("cancel 12", "is not a request id"),
        ("requests now", "`requests` takes nothing after it"),
        ("list a b", "at most one user"),
        (f"create ci {'x' * 400}", "keep it under 300"),
    ],
)
def test_bad_input_is_specific(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse(text, ALIASES)
    assert message in str(e.value)
    assert "Unknown" in str(e.value) or "Usage:" in str(e.value)
