"""LOCATIONS_FILE: validated like the policy file (lines, unknown and duplicate keys), `python -m bot locations check`,
which entry is whose, and how `list` shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.inventory import ListResult, UserKeys
from bot.domain.locations import Credentials, LocationBook, LocationSpec, MachineUser
from bot.entrypoints.cli import main
from bot.locations import Reach, unreachable_kinds
from bot.locations.file import LocationsFileError, parse
from bot.slack.messages.common import build_key_list

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "docs" / "locations.md").read_text().split("```yaml\n", 1)[1].split("```", 1)[0]


def problems(text: str, accounts: list[str] | None = None) -> list[str]:
    with pytest.raises(LocationsFileError) as e:
        parse(text, "l.yaml", accounts)
    return e.value.lines


def test_the_documented_example_is_valid_and_describes_each_place() -> None:
    book = parse(EXAMPLE, "docs/locations.md", ["default"])
    (entry,) = book.users
    assert (entry.user, entry.account, entry.rotate_every_days) == ("ci-deployer", "default", 30)
    assert [s.kind for s in entry.deliver] == ["ssm", "secretsmanager", "github", "gitlab", "kubernetes", "vault"]
    assert entry.describe() == (
        "delivered to: SSM /ci/deployer/aws, Secrets Manager ci/deployer, GitHub acme/api (environment production), "
        "GitLab acme/api, Kubernetes payments/aws-creds, Vault secret/ci/deployer"
    )
    github = entry.deliver[2]
    assert (
        github.names == ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        and github.line == EXAMPLE.count("\n", 0, EXAMPLE.index("github:")) + 1
    )
    assert entry.deliver[4].names == ("aws_access_key_id", "aws_secret_access_key")


def test_errors_name_the_line_and_field() -> None:
    text = (
        "locations:\n"
        "  - user: ci\n"
        "    deliver:\n"
        "      - ssm: /ci/aws\n"
        "        environment: prod\n"  # 5
        "      - s3: bucket\n"  # 6
        "      - github: acme\n"  # 7
        "      - github: acme/api\n"  # 8
        "        gitlab: acme/api\n"
        "      - kubernetes: Payments/creds\n"  # 10
        "      - vault: secret/ci\n"  # 11
        "        mount: kv\n"
        "      - github: acme/web\n"  # 13
        "        secret_name: GITHUB_SECRET\n"
        "    rotate_every_days: 0\n"  # 15
        "  - user: deployer\n"
        "    deliver: []\n"  # 17
    )
    assert problems(text) == [
        "l.yaml:4: locations.0.deliver.0: `environment` does not apply to ssm (it takes kms_key, region)",
        "l.yaml:6: locations.0.deliver.1.s3: unknown key (a location is one of ssm, secretsmanager, github, gitlab, "
        "kubernetes, vault)",
        "l.yaml:7: locations.0.deliver.2.github: 'acme' is not a repository as owner/name, such as acme/api",
        "l.yaml:8: locations.0.deliver.3: a location names exactly one of ssm, secretsmanager, github, gitlab, "
        "kubernetes, vault (not github and gitlab)",
        "l.yaml:10: locations.0.deliver.4.kubernetes: 'Payments/creds' is not namespace/secret-name, such as "
        "payments/aws-creds (lower-case letters, digits and -)",
        "l.yaml:11: locations.0.deliver.5: the path `secret/ci` must start with its mount `kv/`",
        "l.yaml:13: locations.0.deliver.6: 'GITHUB_SECRET' is not a GitHub secret name (letters, digits, _; not "
        "GITHUB_…)",
        "l.yaml:15: locations.0.rotate_every_days: Input should be greater than or equal to 1",
        "l.yaml:17: locations.1.deliver: name at least one location to deliver the key to",
    ]


def test_duplicate_keys_bad_yaml_and_a_wrong_top_level_are_refused() -> None:
    text = "locations:\n  - user: ci\n    user: other\n    deliver:\n      - ssm: /a\n"
    assert problems(text) == ["l.yaml:3: locations.0.user: duplicate key (first written on line 2)"]
    assert problems("locations: [\n")[0].startswith("l.yaml:2: yaml:")
    assert problems("- user: ci\n") == ["l.yaml:1: locations: the file must be a mapping with a `locations:` list"]
    assert problems("location: []\n") == [
        "l.yaml:1: locations: Field required",
        "l.yaml:1: location: unknown key",
    ]


def test_accounts_users_and_places_are_checked_across_entries() -> None:
    text = (
        "locations:\n"
        "  - user: ci\n"
        "    account: prod\n"
        "    deliver:\n"
        "      - ssm: /ci/aws\n"  # 5
        "  - user: ci\n"  # 6
        "    deliver:\n"
        "      - github: acme/api\n"
        "  - user: web\n"
        "    account: staging\n"  # 10
        "    deliver:\n"
        "      - ssm: /ci/aws\n"  # 12
        "      - github: acme/api\n"  # 13
        "        id_name: WEB_KEY_ID\n"
        "        secret_name: WEB_SECRET\n"
    )
    assert problems(text, ["prod", "dev"]) == [
        "l.yaml:6: locations.1.user: `ci` is listed twice (first on line 2); list it once, or name a different "
        "`account:` for each",
        "l.yaml:10: locations.2.account: `staging` is not a configured account (dev, prod)",
        "l.yaml:12: locations.2.deliver.0: SSM /ci/aws is already written for `ci` (line 5): one place holds one key",
    ]
    # The same repository under other secret names, or another region's parameter, is another place.
    ok = text.replace("  - user: ci\n    deliver:\n      - github: acme/api\n", "").replace(
        "      - ssm: /ci/aws\n      - github", "      - ssm: /ci/aws\n        region: eu-west-1\n      - github"
    )
    assert len(parse(ok, "l.yaml", None).users) == 2  # with discovery any alias may exist


def _book(*entries: MachineUser) -> LocationBook:
    return LocationBook(entries, "l.yaml")


def test_an_entry_without_account_is_only_the_account_that_has_the_user() -> None:
    spec = LocationSpec("ssm", "/ci/aws")
    book = _book(MachineUser("ci", None, (spec,), line=2), MachineUser("web", "dev", (spec,), line=6))
    assert book.find("prod", "ci") is not None  # one account configured: no question
    assert book.find("prod", "ci", lambda user: ["prod"]) is not None
    assert book.find("prod", "ci", lambda user: ["prod", "dev"]) is None  # in doubt: nobody's
    assert book.ambiguous(lambda user: ["prod", "dev"]) == [
        "l.yaml:2: locations: `ci` is in several accounts (prod, dev): add `account:` (its key is not delivered "
        "until then)"
    ]
    assert book.find("dev", "web", lambda user: ["prod", "dev"]) is not None
    assert book.find("prod", "web") is None


def test_list_shows_where_a_key_is_delivered() -> None:
    user = UserKeys(
        "default", "ci-deployer", None, [], delivered_to="delivered to: SSM /ci/deployer/aws, GitHub acme/api"
    )
    text = str(build_key_list(ListResult([user]), datetime(2026, 1, 1, tzinfo=UTC))[1])
    assert "_delivered to: SSM /ci/deployer/aws, GitHub acme/api_" in text


def test_credentials_never_show_their_secret() -> None:
    key = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalr" not in repr(key) and "wJalr" not in str(key) and "wJalr" not in f"{[key]}"


def test_a_kind_keywarden_cannot_reach_is_named_with_its_variable() -> None:
    book = parse(EXAMPLE, "docs/locations.md", ["default"])
    lines = unreachable_kinds(book, Reach(vault_addr="http://127.0.0.1:8200"))
    assert [line.split(": ", 1)[1] for line in lines] == [
        "deliver: a github location needs GITHUB_TOKEN (or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)",
        "deliver: a gitlab location needs GITLAB_TOKEN",
        "deliver: a kubernetes location needs KUBECONFIG (or run in the cluster)",
        "deliver: a vault location needs VAULT_ADDR and VAULT_TOKEN",
    ]
    assert "github_token" not in repr(Reach(github_token="ghp_x")) and "ghp_x" not in repr(Reach(github_token="ghp_x"))


def test_locations_check_prints_each_user_or_one_line_per_problem_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("LOCATIONS_FILE", "ACCOUNTS", "ORG_ROLE_NAME", "GITHUB_TOKEN", "GITLAB_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    good = tmp_path / "locations.yaml"
    good.write_text(EXAMPLE)
    assert main(["locations", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{good}: 1 machine user, 6 locations, valid" in out
    assert "  default:ci-deployer: delivered to: SSM /ci/deployer/aws" in out and "rotated every 30 days" in out
    assert "note: " in out and "GITHUB_TOKEN" in out  # not where Keywarden runs: a note, not a failure

    bad = tmp_path / "bad.yaml"
    bad.write_text("locations:\n  - user: ci\n    account: prod\n    deliver:\n      - ssm: aws/x\n")
    with pytest.raises(SystemExit) as e:
        main(["locations", "check", str(bad)])
    assert e.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{bad}:5: locations.0.deliver.0.ssm: 'aws/x' is not an SSM parameter name")
    bad.write_text("locations:\n  - user: ci\n    account: prod\n    deliver:\n      - ssm: /ci/x\n")
    monkeypatch.setenv("LOCATIONS_FILE", str(bad))
    with pytest.raises(SystemExit):
        main(["locations", "check"])
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}:3: locations.0.account: `prod` is not a configured account (default)"
    ]
    monkeypatch.delenv("LOCATIONS_FILE")
    assert main(["locations", "check"]) == 2
    assert "name a file, or set LOCATIONS_FILE" in capsys.readouterr().err


def test_locations_give_a_users_places_in_the_files_order_and_the_line_list_shows() -> None:
    from bot.aws import AwsGateway
    from bot.locations import Locations
    from bot.settings.accounts import Account

    book = parse(EXAMPLE, "docs/locations.md", ["default"])
    reach = Reach(github_token="t", gitlab_token="t", kubeconfig="/nonexistent", vault_addr="http://v", vault_token="t")
    places = Locations(book, reach, AwsGateway((Account("default"),)), accounts_with_user=lambda user: ["default"])
    assert places.delivered_to("default", "ci-deployer") == book.users[0].describe()
    assert places.delivered_to("default", "someone-else") is None and places.of("default", "someone-else") == []
    assert places.entry("default", "ci-deployer").rotate_every_days == 30
    opened = [
        places.open("default", "ci-deployer", spec) for spec in book.users[0].deliver if spec.kind != "kubernetes"
    ]
    assert [p.describe() for p in opened] == [s.describe() for s in book.users[0].deliver if s.kind != "kubernetes"]
    assert [p.readable for p in opened] == [True, True, False, True, True]


def test_start_up_refuses_a_file_whose_places_keywarden_cannot_reach(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pydantic import SecretStr

    from bot.entrypoints.cli_locations import load_or_exit
    from bot.settings import Settings

    path = tmp_path / "locations.yaml"
    path.write_text("locations:\n  - user: ci\n    deliver:\n      - github: acme/api\n      - ssm: /ci/aws\n")
    settings = Settings.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "LOCATIONS_FILE": str(path)}
    )
    with pytest.raises(SystemExit) as e:
        load_or_exit(settings)
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:4: deliver: a github location needs GITHUB_TOKEN (or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)"
    ]
    with_token = settings.model_copy(update={"github_token": SecretStr("ghp_x")})
    assert len(load_or_exit(with_token).users) == 1
