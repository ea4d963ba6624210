"""The finding catalogue: each finding's code, title, severity, controls (CIS AWS Foundations, Security Hub,
Prowler), why it matters, what to do, whether it is about a key or its user, and the rule that decides it; one
registry that the rules' evaluation, DMs, the digest, the CLI and `help` all read."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

from bot.domain import finding_rules as rules
from bot.domain.finding_rules import Rule


class Severity(IntEnum):
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5


class Scope(Enum):
    KEY = "key"  # about one key: shown on that key
    USER = "user"  # about the user as a whole: shown once for the user, and on each of its active keys


# Finding codes are kebab-case, for machines (settings, the CLI's JSON, metrics, CSV files); people see titles.
ROOT_KEY = "root-key"
KEY_TOO_OLD = "key-too-old"
KEY_AGE_WARNING = "key-age-warning"
KEY_UNUSED = "key-unused"
TWO_ACTIVE_KEYS = "two-active-keys"
INACTIVE_KEY = "inactive-key"
# Least privilege: from the authorization details the scan already reads, and the credential report.
ADMIN_KEY = "admin-key"
CONSOLE_AND_KEY = "console-and-key"
INITIAL_KEY_UNUSED = "initial-key-unused"
KEY_NOT_VIA_GROUP = "key-not-via-group"
# Fewer keys: a key whose whole workload a role could take over (bot/domain/workload.py).
REPLACEABLE_BY_ROLE = "replaceable-by-role"
# Exposure: AWS attached one of its quarantine policies to the user (read with the authorization details).
AWS_QUARANTINE = "aws-quarantine"


@dataclass(frozen=True)
class CatalogueEntry:
    """What a finding means and what to do about it, for every place that shows it."""

    code: str
    title: str
    severity: Severity
    controls: tuple[str, ...]  # CIS AWS Foundations, Security Hub, Prowler check id
    rationale: str
    remediation: str
    threshold: str | None = None  # the setting that tunes it
    default: int | bool | None = None  # that setting's default
    control: str | None = None  # the id a finding carries; the first of `controls` when not given
    scope: Scope = field(kw_only=True)
    rule: Rule = field(kw_only=True)  # the finding's message where it applies, else None

    @property
    def shown_control(self) -> str | None:
        if self.control is not None:
            return self.control or None
        return self.controls[0] if self.controls else None

    @property
    def label(self) -> str:
        """The title with its control id, as the digest counts it."""
        return f"{self.title} ({self.shown_control})" if self.shown_control else self.title


CATALOGUE: dict[str, CatalogueEntry] = {
    e.code: e
    for e in (
        CatalogueEntry(
            ROOT_KEY,
            "Root access key",
            Severity.CRITICAL,
            ("Security Hub IAM.4", "CIS 1.4", "Prowler iam_no_root_access_key"),
            "The root user can do everything in the account, and no policy can limit it: a key of it is the "
            "worst key to leak.",
            "Sign in as root, delete the key, and use IAM Identity Center or roles for the work it did.",
            control="IAM.4",
            scope=Scope.KEY,
            rule=rules.root_key,
        ),
        CatalogueEntry(
            KEY_TOO_OLD,
            "Older than the limit",
            Severity.HIGH,
            ("Security Hub IAM.3", "CIS 1.14", "Prowler iam_rotate_access_key_90_days"),
            "The longer a key lives, the more places it has been copied to and the longer a leak stays useful.",
            "Rotate it (Rotate, or `rotate <key-id>`): create a new key, move its users over, deactivate the old one.",
            threshold="MAX_KEY_AGE_DAYS",
            default=90,
            control="IAM.3",
            scope=Scope.KEY,
            rule=rules.key_too_old,
        ),
        CatalogueEntry(
            KEY_AGE_WARNING,
            "Due for rotation soon",
            Severity.LOW,
            (),
            "The key will pass the age limit soon; rotating it now avoids a rushed rotation later.",
            "Rotate it before it reaches the limit (Rotate, or `rotate <key-id>`).",
            threshold="WARN_KEY_AGE_DAYS",
            default=80,
            scope=Scope.KEY,
            rule=rules.key_age_warning,
        ),
        CatalogueEntry(
            KEY_UNUSED,
            "Unused",
            Severity.MEDIUM,
            ("Security Hub IAM.22", "CIS 1.12", "Prowler iam_user_accesskey_unused"),
            "A key nobody uses does no work but can still leak.",
            "Deactivate it (`deactivate <key-id>`), and delete it if nothing breaks.",
            threshold="UNUSED_DAYS",
            default=45,
            control="IAM.22",
            scope=Scope.KEY,
            rule=rules.key_unused,
        ),
        CatalogueEntry(
            TWO_ACTIVE_KEYS,
            "Two active keys",
            Severity.MEDIUM,
            ("CIS 1.13", "Prowler iam_user_two_active_access_key"),
            "Two active keys usually mean a rotation that never finished: the old key still works.",
            "Find which key is still used (`list <user>` shows each key's last use), move everything to one of them "
            "and deactivate the other; a rotation Keywarden runs does this itself when its grace period ends.",
            control="",
            scope=Scope.USER,
            rule=rules.two_active_keys,
        ),
        CatalogueEntry(
            INACTIVE_KEY,
            "Inactive key left behind",
            Severity.LOW,
            (),
            "An inactive key can be reactivated by anyone allowed to, and clutters reviews.",
            "Delete it (`delete <key-id>`) once you are sure nothing needs it.",
            scope=Scope.KEY,
            rule=rules.inactive_key,
        ),
        CatalogueEntry(
            AWS_QUARANTINE,
            "Quarantined by AWS",
            Severity.CRITICAL,
            (),
            "AWS believes a key of this user leaked (found in a public place, for example) and attached one of "
            "its `AWSCompromisedKeyQuarantine` policies (`V2`, `V3`, `V4`, any later version) to the user: it "
            "denies some risky actions, but the key still works for everything else.",
            "Deactivate the key now (Deactivate now, or `deactivate <key-id> --now`), then rotate it; look for use "
            "you do not recognise (`activity <key-id>`); detach the policy once the key is replaced. Every version "
            "stops the user itself from creating or changing keys, but not Keywarden.",
            scope=Scope.KEY,
            rule=rules.aws_quarantine,
        ),
        CatalogueEntry(
            ADMIN_KEY,
            "Key on an administrator",
            Severity.HIGH,
            ("CIS 1.16", "Security Hub IAM.1", "Prowler iam_user_administrator_access_policy"),
            "A long-term key that can do everything: whoever holds it owns the account, and it never expires.",
            "Give the work a role with temporary credentials, or trim the user's policies to what it uses "
            "(`access <user>` lists what it never used); then rotate or deactivate the key.",
            scope=Scope.KEY,
            rule=rules.admin_key,
        ),
        CatalogueEntry(
            CONSOLE_AND_KEY,
            "Console password and access key",
            Severity.LOW,
            (),
            "A person who signs in to the console and also holds a long-term key: people should use "
            "temporary credentials.",
            "Sign in through IAM Identity Center (`aws sso login`) or assume a role instead of using a key; "
            "then deactivate the key, or remove the password if this is a machine user.",
            scope=Scope.KEY,
            rule=rules.console_and_key,
        ),
        CatalogueEntry(
            INITIAL_KEY_UNUSED,
            "Console user's setup key, never used",
            Severity.MEDIUM,
            ("CIS 1.11", "Prowler iam_user_no_setup_initial_access_key"),
            "A key created out of habit when a console user was set up is often never needed, and sits unused "
            "as a target. Only users with a console password, and only once the key is as old as the unused "
            "limit: a service user's key waits for its program.",
            "Deactivate the key, and delete it if nothing breaks; create keys only when something needs one.",
            threshold="UNUSED_DAYS",
            default=45,
            scope=Scope.KEY,
            rule=rules.initial_key_unused,
        ),
        CatalogueEntry(
            KEY_NOT_VIA_GROUP,
            "Policies attached directly to a user with keys",
            Severity.INFO,
            ("CIS 1.15", "Security Hub IAM.2", "Prowler iam_policy_attached_only_to_group_or_roles"),
            "Permissions given user by user drift apart and are hard to review.",
            "Move the user's policies to a group (or a role) and attach none to the user itself.",
            threshold="STRICT_POLICY_FINDINGS",
            default=False,
            scope=Scope.USER,
            rule=rules.key_not_via_group,
        ),
        CatalogueEntry(
            REPLACEABLE_BY_ROLE,
            "Replaceable by a role",
            Severity.LOW,
            (),
            "Every call the key made lately came from AWS compute (Lambda, ECS, EC2, CodeBuild) or from a CI that AWS "
            "trusts through OIDC (GitHub Actions, GitLab): a role gives that work temporary credentials, and the "
            "long-term key, which can leak and must be rotated, is no longer needed. AWS's first IAM best practice.",
            "`replace <key-id>` shows where the key runs and sends a CloudFormation template for the role, with the "
            "actions the key used; deploy it, move the workload to the role, then `retire <key-id>`: the key is "
            "switched off once the role is in use and the key quiet.",
            scope=Scope.KEY,
            rule=rules.replaceable_by_role,
        ),
    )
}


# The snake_case names the first six codes had: still read wherever a person or a stored row names a code.
LEGACY_CODES: dict[str, str] = {
    code.replace("-", "_"): code
    for code in (ROOT_KEY, KEY_TOO_OLD, KEY_AGE_WARNING, KEY_UNUSED, TWO_ACTIVE_KEYS, INACTIVE_KEY)
}


def canonical_code(name: str) -> str | None:
    """The catalogue's code a name means (`key-too-old`, `key_too_old`, `KEY_TOO_OLD`), or None."""
    code = name.strip().lower().replace("_", "-")
    return code if code in CATALOGUE else None


def title_of(code: str) -> str:
    """What people read for a finding code (old names too); the code itself only when the catalogue lacks it."""
    known = canonical_code(code)
    return CATALOGUE[known].title if known else code
