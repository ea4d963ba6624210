"""Names say what they hold: no two things a reader meets side by side share a name."""

from dataclasses import fields

from bot.bootstrap import Services


def test_the_services_name_who_may_act_apart_from_what_a_user_needs() -> None:
    names = {f.name for f in fields(Services)}
    assert {"access_rules", "access_advisor"} <= names  # bot/access.py's rules; IAM Access Advisor
    assert not {"rules", "access"} & names
