"""The OpenAPI document and the explorer: every route documented, components complete."""

from __future__ import annotations

from typing import Any

from flask import Flask

from reserver.flask import __all__ as public_api


def test_the_document_is_openapi_3_1(anon: Any) -> None:
    doc = anon.get("/api/v1/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_route_of_the_app_is_documented(app: Flask, anon: Any) -> None:
    doc = anon.get("/api/v1/openapi.json").json
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    undocumented = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("docs.", "static")):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method, path) not in documented:
                undocumented.append((method, path))
    assert undocumented == []


def test_every_reference_resolves(anon: Any) -> None:
    doc = anon.get("/api/v1/openapi.json").json
    schemas = doc["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    missing = {r for r in refs(doc) if r.split("/")[-1] not in schemas}
    assert missing == set()


def test_operations_document_their_problems_and_conventions(anon: Any) -> None:
    paths = anon.get("/api/v1/openapi.json").json["paths"]
    patch = paths["/api/v1/reservations/{reservation_id}"]["patch"]
    assert {"409", "412", "422", "428", "404", "401"} <= set(patch["responses"])
    assert any(p["name"] == "If-Match" and p["required"] for p in patch["parameters"])
    assert "ETag" in patch["responses"]["200"]["headers"]
    create = paths["/api/v1/reservations"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    problem = create["responses"]["409"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    token = paths["/api/v1/token"]["post"]["requestBody"]["content"]
    assert set(token) == {"application/json", "application/x-www-form-urlencoded"}
    assert "security" not in paths["/api/v1/token"]["post"]
    assert paths["/api/v1/resources"]["get"]["security"] == [{"bearer": []}]


def test_request_bodies_refuse_unknown_fields_in_the_schema_too(anon: Any) -> None:
    schemas = anon.get("/api/v1/openapi.json").json["components"]["schemas"]
    draft = schemas["ReservationRequest"]
    assert draft["additionalProperties"] is False
    assert draft["required"] == ["resource_id", "start", "end"]
    assert draft["properties"]["start"] == {"type": "string", "format": "date-time"}


def test_the_explorer_is_served_without_other_hosts(anon: Any) -> None:
    page = anon.get("/api/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/docs/explorer.js" in html
    assert "http" not in html.replace("http-equiv", "")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert anon.get("/api/docs/explorer.js").mimetype == "text/javascript"
    assert anon.get("/api/docs/explorer.css").mimetype == "text/css"
    assert anon.get("/api/docs/secrets.txt").status_code == 404


def test_the_public_api_is_pinned() -> None:
    assert public_api == sorted(public_api)
    assert public_api == [
        "Environment",
        "IdempotencyStore",
        "InMemoryIdempotencyStore",
        "Registration",
        "Services",
        "Settings",
        "SqlIdempotencyStore",
        "Tier",
        "build_services",
        "create_app",
        "current_principal",
        "current_services",
    ]
