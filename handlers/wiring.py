"""What a listener reaches Keywarden through: the services and the lanes, put into every request's Bolt context
by the global middleware `ProvideWiring` (registered first, in handlers/__init__.py), read back with `wiring`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.bootstrap import Services
from handlers.lanes import Lanes

CONTEXT_KEY = "keywarden"


@dataclass(frozen=True)
class Wiring:
    services: Services
    lanes: Lanes

    def __deepcopy__(self, memo: dict) -> Wiring:  # Bolt deep-copies the context for lazy listeners
        return self


def wiring(context: BoltContext) -> Wiring:
    """The app's dependencies, as the middleware put them into this request's context."""
    return context[CONTEXT_KEY]


class ProvideWiring(Middleware):
    """The global middleware that puts the Wiring into every request's context, before any listener runs."""

    def __init__(self, wired: Wiring) -> None:
        self._wiring = wired

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        req.context[CONTEXT_KEY] = self._wiring
        return next()
