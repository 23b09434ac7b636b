"""Property tests of the served OpenAPI document: no operation answers 5xx or breaks its schema.

Each operation of the API runs as its own test, with cases that schemathesis generates from the
document the app serves (in process, through WSGI), once as an administrator and once as a
plain user (whose refusals must be documented answers too).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reserver.core import Reserver
from reserver.core.adapters.hashing import ScryptPasswordHasher
from reserver.core.identity import UserDraft
from reserver.core.settings import IdentitySettings
from reserver.core.testing.fakes import FixedClock
from reserver.flask import Environment, Services, Settings, create_app
from reserver.flask.api import operations

PASSWORD = "correct-horse-battery-staple-42"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    (op.method, prefix + op.rule.replace("<", "{").replace(">", "}")) for prefix, op in operations()
]


@pytest.fixture(scope="module")
def served() -> tuple[Any, Reserver]:
    """The served schema, and the system behind it (with an administrator and a user)."""
    reserver = Reserver.in_memory(
        clock=FixedClock(datetime(2030, 1, 7, 8, tzinfo=UTC)),
        identity=IdentitySettings(environment="development"),
        hasher=ScryptPasswordHasher(n=16, r=1, p=1),
    )
    reserver.identity.setup(UserDraft("admin"), PASSWORD)
    admin = reserver.identity.login("admin", PASSWORD).access_token  # type: ignore[union-attr]
    reserver.users.create(reserver.identity.authenticate(admin), UserDraft("ann"), PASSWORD)
    app = create_app(
        Settings(environment=Environment.TEST, rate_limits_enabled=False),
        services=Services(reserver),
    )
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), reserver


@pytest.mark.parametrize("who", ["admin", "ann"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_keeps_its_contract(
    served: tuple[Any, Reserver], method: str, path: str, who: str
) -> None:
    schema, reserver = served
    # A fresh session per operation: a generated log-out must not starve the others.
    token = reserver.identity.login(who, PASSWORD).access_token  # type: ignore[union-attr]
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    check()
