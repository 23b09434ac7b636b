"""Workspace-wide test set-up. It imports no adapter: tests/core must run with core alone."""

import os

import pytest
from hypothesis import HealthCheck, settings

# Before any test module imports the contracts, so their plain asserts explain themselves.
pytest.register_assert_rewrite("reserver.core.testing")

# Both build on Hypothesis' own defaults, not on whatever profile it auto-loaded from $CI.
# No deadline anywhere: a deadline is a timed assertion, and performance lives in bench/.
_defaults = settings.get_profile("default")
settings.register_profile("dev", _defaults, deadline=None)
# CI: the same examples on every run, no example database, a reproduction blob on failure, and
# no "too slow" health check on a busy two-core machine.
settings.register_profile(
    "ci",
    _defaults,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _profile() -> str:
    explicit = os.environ.get("HYPOTHESIS_PROFILE")
    if explicit:
        return explicit
    in_ci = os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}
    return "ci" if in_ci else "dev"


settings.load_profile(_profile())
