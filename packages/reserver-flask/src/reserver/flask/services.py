"""What the views reach: the ``Reserver`` facade and the web app's own stores."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
from cattrs.preconf.json import JsonConverter

from flask import current_app
from reserver.core.commands import UNSET
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
MAX_INTEGER = 2**53 - 1


def _unset_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(
        UNSET
    ) in typing.get_args(tp)


def web_converter() -> JsonConverter:
    """The core converter, able to read patches whose fields may be left out (``UNSET``).

    A key that is present in a patch is a value to set, so ``X | _Unset`` is read as ``X``.
    Integers must be JSON integers within +-(2**53 - 1).
    """
    converter = make_converter()

    def factory(tp: Any) -> Callable[[Any, Any], Any]:
        rest = tuple(a for a in typing.get_args(tp) if a is not type(UNSET))
        target: Any = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
        return lambda value, _: converter.structure(value, target)

    converter.register_structure_hook_factory(_unset_union, factory)
    converter.register_structure_hook(int, _integer)
    converter.register_structure_hook(bool, _boolean)  # bool subclasses int: dispatch it apart
    return converter


def _boolean(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _integer(value: object, _: type) -> int:
    """A JSON integer within the range every client and database can hold (I-JSON, RFC 7493)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected a whole number")
    if abs(value) > MAX_INTEGER:
        raise ValueError(f"must be between -{MAX_INTEGER} and {MAX_INTEGER}")
    return value


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
