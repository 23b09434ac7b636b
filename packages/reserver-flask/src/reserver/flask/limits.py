"""Rate limits per caller and tier, strict limits on sign-in, daily quotas.

The caller is the authenticated user (``user:<id>``) or, without valid credentials, the
client address (``ip:<addr>``): a made-up bearer token buys nothing. The tier comes from the
principal's role, or from ``Settings.user_tiers``. A tier's rate counts every request of the
caller, whatever the endpoint; its daily quota every request under ``/api/v1/``. Sign-in
endpoints add a strict limit per client address and endpoint. CORS preflights (``OPTIONS``)
and the probes, metrics and docs count against nothing.

Windows are fixed, kept in this process by default (``MemoryWindows``); a ``redis://`` URL
shares them between processes and hosts through the ``limits`` library's storage, whose
limit syntax the settings use too. This module decides what counts against what. It replaced
Flask-Limiter, whose generic per-request resolution of its limit tree cost 0.4 ms of a 1.3 ms
booking request.

A storage that fails (Redis down) lets requests through, logged, rather than take the API
down, except on the sign-in endpoints: there it answers 503, so that a failing storage never
lifts the guard against password guessing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn, Protocol

import attrs
from limits import RateLimitItem, RateLimitItemPerDay, parse
from limits.storage import Storage, storage_from_string
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from flask import Flask, Response, current_app, g, request
from reserver.core.errors import ConfigurationError
from reserver.flask.api.messages import QuotaUsage
from reserver.flask.auth import client_address, optional_principal
from reserver.flask.settings import Settings

EXTENSION = "reserver.limits"
QUOTA_FREE_PREFIXES = ("/api/v1/openapi.json", "/api/v1/setup/status")
NAMESPACE = "reserver"  # the first part of every key: a Redis may serve other programs too
_WINDOW = "reserver.limits.window"  # the request's tier window, for its headers

log = logging.getLogger(__name__)


class Counters(Protocol):
    """Where fixed windows are counted: ``MemoryWindows``, or a ``limits`` storage (Redis)."""

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count ``amount`` in ``key``'s window (one of ``expiry`` seconds starts if none)."""
        ...

    def get(self, key: str) -> int:
        """The count of ``key``'s current window."""
        ...

    def get_expiry(self, key: str) -> float:
        """When ``key``'s current window ends, in POSIX seconds."""
        ...


class MemoryWindows:
    """Fixed windows in this process's memory (``memory://``); safe to share between threads.

    A window starts at its key's first increment and lasts ``expiry`` seconds; an expired one
    is replaced when next touched, and every ``sweep_every`` increments all expired ones are
    dropped. The ``limits`` library's memory storage instead starts a timer thread whenever
    10 ms of traffic have passed, to expire its keys.
    """

    def __init__(self, clock: Callable[[], float] = time.time, sweep_every: int = 10_000) -> None:
        self._clock = clock
        self._sweep_every = sweep_every
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, float]] = {}  # key: (count, POSIX end)
        self._increments = 0

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count ``amount`` in the current window of ``key``; the window's count so far."""
        now = self._clock()
        with self._lock:
            count, ends = self._windows.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + expiry
            count += amount
            self._windows[key] = (count, ends)
            self._increments += 1
            if self._increments >= self._sweep_every:
                self._increments = 0
                self._windows = {k: w for k, w in self._windows.items() if w[1] > now}
        return count

    def get(self, key: str) -> int:
        """The count of ``key``'s current window (0 when it has none)."""
        count, ends = self._windows.get(key, (0, 0.0))
        return count if ends > self._clock() else 0

    def get_expiry(self, key: str) -> float:
        """When ``key``'s current window ends (now when it has none)."""
        now = self._clock()
        _, ends = self._windows.get(key, (0, 0.0))
        return ends if ends > now else now

    def __len__(self) -> int:
        return len(self._windows)


@attrs.frozen
class Caller:
    """Who a request counts against, and in which tier."""

    key: str
    user: str | None
    tier: str


@attrs.frozen
class _Window:
    """Where a caller stands in its tier's current window."""

    limit: int
    remaining: int
    reset: float  # POSIX seconds, as the limits library keeps them


class Limits:
    """The rate limits and daily quotas of one app."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.settings = settings
        self.enabled = settings.rate_limits_enabled
        self._storage = _counters(settings.rate_limit_storage_url)
        self._rates = {name: parse(tier.rate) for name, tier in settings.tiers.items()}
        self._daily = {
            name: RateLimitItemPerDay(tier.daily)
            for name, tier in settings.tiers.items()
            if tier.daily is not None
        }
        self._strict_item = parse(settings.auth_rate_limit)
        self._strict: set[str] = set()
        self._exempt: set[str] = set()
        app.extensions[EXTENSION] = self
        if self.enabled:
            app.before_request(self._check)
            app.after_request(self._headers)

    def caller(self) -> Caller:
        """The caller of the current request."""
        principal = optional_principal()
        if principal is None:
            return Caller(f"ip:{client_address()}", None, "anonymous")
        role = "admin" if principal.is_admin else "user"
        return Caller(
            f"user:{principal.id}", principal.id, self.settings.tier_of(principal.id, role)
        )

    def strict(self, endpoint: str) -> None:
        """Put the sign-in limit (per client address) on ``endpoint``, on top of the tier's."""
        self._strict.add(endpoint)

    def exempt(self, endpoint: str) -> None:
        """Take ``endpoint`` out of every limit (health checks, metrics, docs)."""
        self._exempt.add(endpoint)

    def usage(self) -> QuotaUsage:
        """The current caller's tier and today's use of its quota."""
        caller = self.caller()
        tier = self.settings.tiers[caller.tier]
        item = self._daily.get(caller.tier)
        if item is None or not self.enabled:
            daily = None if item is None else item.amount
            return QuotaUsage(caller.tier, tier.rate, daily, 0, daily, None)
        key = item.key_for(NAMESPACE, "quota", caller.key)
        remaining = max(0, item.amount - self._storage.get(key))
        reset = self._storage.get_expiry(key)
        resets_at = datetime.fromtimestamp(reset, UTC) if remaining < item.amount else None
        return QuotaUsage(
            caller.tier, tier.rate, item.amount, item.amount - remaining, remaining, resets_at
        )

    def _check(self) -> None:
        endpoint = request.endpoint
        if request.method == "OPTIONS" or endpoint in self._exempt:
            return
        if endpoint in self._strict:
            self._count_strict(endpoint)
        caller = self.caller()
        self._count_rate(caller)
        if request.path.startswith("/api/v1/") and not request.path.startswith(QUOTA_FREE_PREFIXES):
            self._count_daily(caller)

    def _count_strict(self, endpoint: str) -> None:
        item = self._strict_item
        try:
            count, key = self._hit(item, "auth", endpoint, client_address())
        except Exception:
            log.exception("the rate-limit storage failed; sign-in refused for now")
            raise ServiceUnavailable("sign-in is unavailable for a moment") from None
        if count > item.amount:
            self._refuse(f"at most {item} per client on this endpoint", key)

    def _count_rate(self, caller: Caller) -> None:
        item = self._rates[caller.tier]
        try:
            count, key = self._hit(item, "rate", caller.key)
            reset = self._storage.get_expiry(key)
        except Exception:
            log.exception("the rate-limit storage failed; the request goes unlimited")
            return
        setattr(g, _WINDOW, _Window(item.amount, max(0, item.amount - count), reset))
        if count > item.amount:
            self._refuse(f"the {caller.tier} tier allows {item}", key)

    def _count_daily(self, caller: Caller) -> None:
        item = self._daily.get(caller.tier)
        if item is None:
            return
        try:
            count, key = self._hit(item, "quota", caller.key)
        except Exception:
            log.exception("the rate-limit storage failed; the request goes uncounted")
            return
        if count > item.amount:
            self._refuse(f"the daily quota of {item.amount} requests is used up", key)

    def _hit(self, item: RateLimitItem, *identifiers: str) -> tuple[int, str]:
        key = item.key_for(NAMESPACE, *identifiers)
        return self._storage.incr(key, item.get_expiry()), key

    def _refuse(self, why: str, key: str) -> NoReturn:
        # The limits library keeps time.time(); a refusal always waits at least a second.
        wait = max(1, int(self._storage.get_expiry(key) - time.time() + 0.999))
        raise TooManyRequests(why, retry_after=wait)

    @staticmethod
    def _headers(response: Response) -> Response:
        window: _Window | None = g.get(_WINDOW)
        if window is not None:
            response.headers["X-RateLimit-Limit"] = str(window.limit)
            response.headers["X-RateLimit-Remaining"] = str(window.remaining)
            response.headers["X-RateLimit-Reset"] = str(int(window.reset))
        return response


def _counters(url: str) -> Counters:
    if url.rstrip("/") == "memory:":
        return MemoryWindows()
    try:
        storage = storage_from_string(url)
    except Exception as exc:  # the library's own errors: unknown scheme, missing driver
        raise ConfigurationError(f"rate-limit storage {url!r} cannot be used: {exc}") from exc
    if not isinstance(storage, Storage):
        raise ConfigurationError(f"rate-limit storage {url!r} is asynchronous; use a plain one")
    return storage


def current_limits() -> Limits:
    """The limits of the app handling the current request."""
    limits = current_app.extensions[EXTENSION]
    assert isinstance(limits, Limits)
    return limits
