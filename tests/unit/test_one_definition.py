"""Each fact the code relies on has one definition, which every other place uses."""

from bot import logs
from bot.domain import exposure, keys

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_the_secret_access_key_shape_is_defined_once() -> None:
    assert logs.SECRET_SHAPE is keys.SECRET_SHAPE
    assert exposure.SECRET_SHAPE is keys.SECRET_SHAPE
    assert not hasattr(exposure, "SECRET_CANDIDATE")
    assert keys.SECRET_SHAPE.fullmatch(SECRET)
    assert keys.SECRET_SHAPE.search(f"AWS_SECRET_ACCESS_KEY={SECRET}")
    assert not keys.SECRET_SHAPE.search(SECRET + "A") and not keys.SECRET_SHAPE.search(SECRET + "=")
