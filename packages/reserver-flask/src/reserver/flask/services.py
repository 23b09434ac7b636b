"""What the views reach: the ``Reserver`` facade and the web app's own stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import attrs
from cattrs.preconf.json import JsonConverter

from flask import current_app
from reserver.core.facade import Reserver
from reserver.core.principals import Principal
from reserver.core.serialization import make_converter
from reserver.flask.idempotency import (
    IdempotencyStore,
    InMemoryIdempotencyStore,
    SqlIdempotencyStore,
)

if TYPE_CHECKING:
    from reserver.flask.settings import Settings

EXTENSION = "reserver"


def web_converter() -> JsonConverter:
    """The converter of the web app: the core's one (patches, strict integers and booleans)."""
    return make_converter()


@attrs.define
class Services:
    """The composition root's objects for one app; tests build it with in-memory adapters.

    ``authenticator`` turns a bearer token into a principal; it defaults to the core's
    ``reserver.identity.authenticate`` (sessions, ``rk_`` API keys, ``ro_`` OAuth tokens).
    """

    reserver: Reserver
    idempotency: IdempotencyStore = attrs.field(factory=InMemoryIdempotencyStore)
    converter: JsonConverter = attrs.field(factory=web_converter)
    authenticator: Callable[[str], Principal] | None = None

    def authenticate(self, token: str) -> Principal:
        """The principal behind ``token``; raises ``AuthenticationError`` for a bad one."""
        if self.authenticator is not None:
            return self.authenticator(token)
        return self.reserver.identity.authenticate(token)

    def close(self) -> None:
        """Release the storage's connections."""
        self.reserver.close()
        close = getattr(self.idempotency, "close", None)
        if callable(close):
            close()


def build_services(settings: Settings) -> Services:
    """Build the production services that ``settings`` describe (storage found by URL)."""
    reserver = Reserver.from_url(
        settings.database_url, settings=settings.core(), identity=settings.identity()
    )
    ttl = timedelta(hours=settings.idempotency_hours)
    store: IdempotencyStore
    if settings.database_url.startswith("memory:"):
        store = InMemoryIdempotencyStore(ttl)
    else:
        store = SqlIdempotencyStore.from_url(settings.database_url, ttl)
    return Services(reserver, store)


def current_services() -> Services:
    """The services of the app handling the current request."""
    services = current_app.extensions[EXTENSION]
    assert isinstance(services, Services)
    return services


def core() -> Reserver:
    """The ``Reserver`` facade of the app handling the current request."""
    return current_services().reserver


def current_settings() -> Settings:
    """The settings of the app handling the current request."""
    from reserver.flask.settings import Settings

    settings = current_app.extensions[EXTENSION + ".settings"]
    assert isinstance(settings, Settings)
    return settings
