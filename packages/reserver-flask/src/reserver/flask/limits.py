"""Rate limits per caller and tier (Flask-Limiter), strict limits on sign-in, daily quotas.

The caller is the authenticated user (``user:<id>``) or, without valid credentials, the
client address (``ip:<addr>``): a made-up bearer token buys nothing. The tier comes from the
principal's role, or from ``Settings.user_tiers``. Storage is in memory by default; give a
``redis://`` URL to share limits between processes and hosts.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import attrs
from flask_limiter import Limiter
from limits import RateLimitItemPerDay
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from flask import Flask, Response, current_app, request
from reserver.flask.api.messages import QuotaUsage
from reserver.flask.auth import client_address, optional_principal
from reserver.flask.settings import Settings

EXTENSION = "reserver.limits"
QUOTA_FREE_PREFIXES = ("/api/v1/openapi.json", "/api/v1/setup/status")


@attrs.frozen
class Caller:
    """Who a request counts against, and in which tier."""

    key: str
    user: str | None
    tier: str


class Limits:
    """The limiter and the daily quotas of one app."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.settings = settings
        # Registered before the limiter's own hook, so it runs after it (Flask runs them in
        # reverse): Flask-Limiter adds Retry-After to every answer, which only makes sense on
        # refusals.
        app.after_request(_retry_after_on_refusals_only)
        self.limiter = Limiter(
            key_func=lambda: self.caller().key,
            app=app,
            default_limits=[lambda: self.settings.tiers[self.caller().tier].rate],
            storage_uri=settings.rate_limit_storage_url,
            headers_enabled=True,
            enabled=settings.rate_limits_enabled,
            key_prefix="reserver",
        )
        self._daily = (
            FixedWindowRateLimiter(self.limiter.storage) if settings.rate_limits_enabled else None
        )
        app.extensions[EXTENSION] = self
        app.before_request(self._count_daily)

    def caller(self) -> Caller:
        """The caller of the current request."""
        principal = optional_principal()
        if principal is None:
            return Caller(f"ip:{client_address()}", None, "anonymous")
        role = "admin" if principal.is_admin else "user"
        return Caller(
            f"user:{principal.id}", principal.id, self.settings.tier_of(principal.id, role)
        )

    def strict(self, app: Flask, endpoint: str) -> None:
        """Put the sign-in limit (per client address) on ``endpoint``, on top of the tier's."""
        limit = self.limiter.limit(
            self.settings.auth_rate_limit, key_func=client_address, override_defaults=False
        )
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])  # type: ignore[assignment]

    def exempt(self, app: Flask, endpoint: str) -> None:
        """Take ``endpoint`` out of every limit (health checks, metrics, docs)."""
        exempt = self.limiter.exempt(app.view_functions[endpoint])
        app.view_functions[endpoint] = exempt  # type: ignore[assignment]

    def _item(self, tier: str) -> RateLimitItemPerDay | None:
        daily = self.settings.tiers[tier].daily
        return None if daily is None else RateLimitItemPerDay(daily)

    def _count_daily(self) -> None:
        if self._daily is None or not request.path.startswith("/api/v1/"):
            return
        if request.path.startswith(QUOTA_FREE_PREFIXES) or request.method == "OPTIONS":
            return
        caller = self.caller()
        item = self._item(caller.tier)
        if item is not None and not self._daily.hit(item, "quota", caller.key):
            reset, _ = self._daily.get_window_stats(item, "quota", caller.key)
            wait = max(1, int(reset - time.time()))  # the limits library keeps time.time()
            raise TooManyRequests(
                f"the daily quota of {item.amount} requests is used up", retry_after=wait
            )

    def usage(self) -> QuotaUsage:
        """The current caller's tier and today's use of its quota."""
        caller = self.caller()
        tier = self.settings.tiers[caller.tier]
        item = self._item(caller.tier)
        if item is None or self._daily is None:
            daily = None if item is None else item.amount
            return QuotaUsage(caller.tier, tier.rate, daily, 0, daily, None)
        reset, remaining = self._daily.get_window_stats(item, "quota", caller.key)
        resets_at = datetime.fromtimestamp(reset, UTC) if remaining < item.amount else None
        return QuotaUsage(
            caller.tier, tier.rate, item.amount, item.amount - remaining, remaining, resets_at
        )


def _retry_after_on_refusals_only(response: Response) -> Response:
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def current_limits() -> Limits:
    """The limits of the app handling the current request."""
    limits = current_app.extensions[EXTENSION]
    assert isinstance(limits, Limits)
    return limits
