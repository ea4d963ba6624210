import pytest

from bot.domain.commands import parse
from bot.domain.keys import InputError
from bot.domain.retirement import RoleRef

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
        (f"retire {KEY} --role", "`--role` needs a role after it: its name (`app-role`) or its ARN"),
        (f"retire {KEY} --role=", "`--role` needs a role after it"),
        (f"retire {KEY} --role a-role --role b-role", "`--role` is given more than once"),
        (f"delete {KEY} --role app-role", "`--role` works only with `retire`"),
        (f"retire {KEY} --role app/role", "`app/role` is not a role name (1 to 64 letters, digits and `+=,.@_-`)"),
        (f"retire {KEY} --role {'r' * 65}", "is not a role name"),
        (f"retire {KEY} --role arn:aws:iam::123456789012:user/ci", "is not the ARN of an IAM role"),
        (f"retire {KEY} --role arn:aws:iam::1234:role/app-role", "is not the ARN of an IAM role"),
        (
            f"retire {KEY} --role arn:aws:sts::123456789012:assumed-role/app-role/i-0abc",
            "is a session of the role `app-role`, not the role: give `--role app-role`",
        ),
    ],
)
def test_bad_input_is_specific(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse(text, ALIASES)
    assert message in str(e.value)
    assert "Unknown" in str(e.value) or "Usage:" in str(e.value)


def test_retire_names_its_role_by_name_or_arn_or_not_at_all() -> None:
    named = parse(f"retire {KEY} --role app-role the Lambda has its role", ALIASES)
    assert (named.key_id, named.role, named.reason) == (KEY, RoleRef("app-role"), "the Lambda has its role")
    arn = "arn:aws-us-gov:iam::123456789012:role/service/app-role"
    assert parse(f"retire {KEY} why --role={arn}", ALIASES).role == RoleRef("app-role", arn)
    assert parse(f"retire --role app-role {KEY}", ALIASES).key_id == KEY  # the flag anywhere
    assert parse(f"retire {KEY} moving to a role", ALIASES).role is None  # the role `replace` suggests
