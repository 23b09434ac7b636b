"""The caller's rate-limit tier and daily quota: ``/api/v1/quotas``."""

from __future__ import annotations

from reserver.core.principals import Principal
from reserver.flask.api.messages import QuotaUsage
from reserver.flask.api.routing import Api
from reserver.flask.limits import current_limits

api = Api("quotas", "quotas")


@api.operation("GET", "/quotas/my-usage")
def my_usage(principal: Principal) -> QuotaUsage:
    """The caller's tier, its rate limit, and how much of today's quota is used."""
    return current_limits().usage()
