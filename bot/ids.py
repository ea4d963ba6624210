"""Action ids, callback ids and block ids: named once, used by builders and handlers alike."""

APPROVE = "request_approve"
DENY = "request_deny"
REVEAL = "secret_reveal"
ROLLBACK = "rotation_rollback"
ALERT_ROTATE = "alert_rotate"
ALERT_DEACTIVATE = "alert_deactivate"
ALERT_SNOOZE = "alert_snooze"

REQUEST_MODAL = "request_modal"
DENY_MODAL = "deny_modal"
SECRET_MODAL = "secret_modal"

BLOCK_OPERATION = "operation"
BLOCK_TARGET = "target"
BLOCK_REASON = "reason"
INPUT = "value"
