"""Find adapters by name through entry points, so settings can choose them."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from reserver.core.errors import ConfigurationError

PACKAGES = {"reserver.storage": {"sql": "reserver-sql", "memory": "reserver-core"}}


def load_factory(group: str, name: str) -> Callable[..., Any]:
    """Return the factory that the installed adapter ``name`` advertises in ``group``.

    Raises:
        ConfigurationError: no installed package advertises ``name``; lists those that do.
    """
    found = {ep.name: ep for ep in entry_points(group=group)}
    if name not in found:
        installed = ", ".join(sorted(found)) or "none"
        hint = PACKAGES.get(group, {}).get(name)
        install = f"; install {hint}" if hint else ""
        raise ConfigurationError(
            f"no {group} adapter named {name!r} (installed: {installed}){install}"
        )
    factory = found[name].load()
    if not callable(factory):
        raise ConfigurationError(f"{group} adapter {name!r} does not point at a factory")
    return factory  # type: ignore[no-any-return]


def storage_from_url(url: str) -> Any:
    """Build a storage from a URL: ``memory://`` or any SQLAlchemy URL (reserver-sql)."""
    scheme = url.split(":", 1)[0]
    name = "memory" if scheme == "memory" else "sql"
    return load_factory("reserver.storage", name)(url)
