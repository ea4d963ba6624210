"""Each fact the code relies on has one definition, which every other place uses."""

import pytest

from bot import logs
from bot.domain import exposure, keys, requests, rotation, transitions

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_the_secret_access_key_shape_is_defined_once() -> None:
    assert logs.SECRET_SHAPE is keys.SECRET_SHAPE
    assert exposure.SECRET_SHAPE is keys.SECRET_SHAPE
    assert not hasattr(exposure, "SECRET_CANDIDATE")
    assert keys.SECRET_SHAPE.fullmatch(SECRET)
    assert keys.SECRET_SHAPE.search(f"AWS_SECRET_ACCESS_KEY={SECRET}")
    assert not keys.SECRET_SHAPE.search(SECRET + "A") and not keys.SECRET_SHAPE.search(SECRET + "=")


def test_requests_and_rotations_share_one_transition_check() -> None:
    assert not hasattr(requests, "TransitionError")  # the requests module uses the check, not its own error
    assert rotation.TransitionError is transitions.TransitionError
    for check, current, new in (
        (requests.check_transition, requests.Status.EXECUTING, requests.Status.CANCELLED),
        (rotation.check_transition, rotation.RotationState.GRACE, rotation.RotationState.DELETING),
    ):
        with pytest.raises(transitions.TransitionError, match="cannot become"):
            check(current, new)
