"""Action ids, callback ids, block ids and the value of a button about one key: named once, used by builders and
handlers alike."""

APPROVE = "request_approve"
DENY = "request_deny"
REVEAL = "secret_reveal"
ROLLBACK = "rotation_rollback"
NUDGE = "request_nudge"
CANCEL = "request_cancel"
ALERT_ROTATE = "alert_rotate"
ALERT_DEACTIVATE = "alert_deactivate"
ALERT_SNOOZE = "alert_snooze"
EXPOSURE_DEACTIVATE = "exposure_deactivate_now"
EXPOSURE_ROTATE = "exposure_rotate"
ENFORCE_REACTIVATE = "enforce_reactivate"
REPLACE_WITH_ROLE = "replace_with_role"
HOME_REQUEST = "home_request"  # the App Home's Request: opens the request form

REQUEST_MODAL = "request_modal"
DENY_MODAL = "deny_modal"
SECRET_MODAL = "secret_modal"

BLOCK_OPERATION = "operation"
BLOCK_TARGET = "target"
TARGET_CHOICE = "target_choice"  # the request form's target: a menu of the person's users and keys
BLOCK_REASON = "reason"
BLOCK_VALID_FOR = "valid_for"
INPUT = "value"


def key_value(account: str, key_id: str) -> str:
    """The value of a button about one key (alerts, the App Home, exposures, enforcement): `account|key id`.
    An account alias never holds `|`."""
    return f"{account}|{key_id}"


def parse_key_value(value: str) -> tuple[str, str]:
    """(account, key id) from a `key_value`; the caller checks both against the accounts and key ids it knows."""
    account, _, key_id = value.partition("|")
    return account, key_id
