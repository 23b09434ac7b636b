"""Resources and tags over HTTP: CRUD, ETag and If-Match, unknown fields, pagination."""

from __future__ import annotations

from typing import Any

Caller = Any


def test_admin_creates_a_resource_with_location_and_etag(admin: Caller) -> None:
    made = admin.post(
        "/resources",
        json={
            "name": "Lab 1",
            "kind": "lab",
            "timezone": "Europe/Berlin",
            "description": "wet lab",
        },
    )
    assert made.status_code == 201
    body = made.json
    assert body["name"] == "Lab 1"
    assert body["description"] == "wet lab"
    assert made.headers["Location"] == f"/api/v1/resources/{body['id']}"
    assert made.headers["ETag"] == '"1"'
    again = admin.get(f"/resources/{body['id']}")
    assert again.json == body
    assert again.headers["ETag"] == '"1"'


def test_plain_users_may_not_create_resources(problem: Any, ann: Caller) -> None:
    problem(ann.post("/resources", json={"name": "Mine"}), 403)


def test_anonymous_callers_are_asked_to_authenticate(problem: Any, anon: Caller) -> None:
    refused = anon.get("/resources")
    problem(refused, 401)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_made_up_token_is_refused(problem: Any, client: Any, make_caller: Any) -> None:
    problem(make_caller(client, "not-a-real-token-at-all").get("/resources"), 401)


def test_unknown_fields_are_refused_and_nothing_is_created(problem: Any, admin: Caller) -> None:
    refused = problem(admin.post("/resources", json={"name": "X", "is_admin": True}), 422)
    assert refused["errors"] == [{"field": "is_admin", "message": "unknown field"}]
    assert admin.get("/resources").json["items"] == []


def test_unknown_fields_in_a_patch_change_nothing(
    problem: Any, admin: Caller, room: dict[str, Any]
) -> None:
    patched = admin.patch(
        f"/resources/{room['id']}", json={"name": "New", "version": 9}, headers={"If-Match": '"1"'}
    )
    assert problem(patched, 422)["errors"][0]["field"] == "version"
    assert admin.get(f"/resources/{room['id']}").json["name"] == "Spree room"


def test_a_naive_datetime_is_refused_naming_the_field(
    problem: Any, admin: Caller, room: dict[str, Any]
) -> None:
    patched = admin.patch(
        f"/resources/{room['id']}",
        json={"status": "maintenance", "maintenance_until": "2030-02-01T00:00:00"},
        headers={"If-Match": '"1"'},
    )
    errors = problem(patched, 422)["errors"]
    assert errors[0]["field"] == "maintenance_until"
    assert "UTC offset" in errors[0]["message"]


def test_patch_needs_if_match(problem: Any, admin: Caller, room: dict[str, Any]) -> None:
    problem(admin.patch(f"/resources/{room['id']}", json={"name": "New"}), 428)


def test_patch_with_the_current_etag_changes_and_bumps_it(
    admin: Caller, room: dict[str, Any]
) -> None:
    patched = admin.patch(
        f"/resources/{room['id']}",
        json={"name": "Havel room", "tags": ["Video", "quiet"]},
        headers={"If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.json
    assert patched.json["name"] == "Havel room"
    assert sorted(patched.json["tags"]) == ["quiet", "video"]
    assert patched.headers["ETag"] == '"2"'


def test_patch_with_a_stale_etag_is_a_failed_precondition(
    problem: Any, admin: Caller, room: dict[str, Any]
) -> None:
    admin.patch(f"/resources/{room['id']}", json={"name": "A"}, headers={"If-Match": '"1"'})
    stale = admin.patch(f"/resources/{room['id']}", json={"name": "B"}, headers={"If-Match": '"1"'})
    problem(stale, 412)
    assert admin.get(f"/resources/{room['id']}").json["name"] == "A"


def test_a_malformed_if_match_is_a_failed_precondition(
    problem: Any, admin: Caller, room: dict[str, Any]
) -> None:
    problem(
        admin.patch(f"/resources/{room['id']}", json={"name": "B"}, headers={"If-Match": "*x"}),
        412,
    )


def test_delete_retires_and_hides_the_resource_from_listings(
    admin: Caller, room: dict[str, Any]
) -> None:
    retired = admin.delete(f"/resources/{room['id']}")
    assert retired.status_code == 200
    assert retired.json["retired_at"] is not None
    assert admin.get("/resources").json["items"] == []
    listed = admin.get("/resources?include_retired=true").json["items"]
    assert [r["id"] for r in listed] == [room["id"]]


def test_unknown_resource_is_a_404_problem(problem: Any, ann: Caller) -> None:
    problem(ann.get("/resources/nope"), 404)


def test_listing_pages_with_cursor(admin: Caller) -> None:
    for n in range(5):
        assert (
            admin.post("/resources", json={"name": f"Desk {n}", "kind": "desk"}).status_code == 201
        )
    first = admin.get("/resources?limit=2").json
    assert [r["name"] for r in first["items"]] == ["Desk 0", "Desk 1"]
    second = admin.get(f"/resources?limit=2&cursor={first['next_cursor']}").json
    assert [r["name"] for r in second["items"]] == ["Desk 2", "Desk 3"]
    third = admin.get(f"/resources?limit=2&cursor={second['next_cursor']}").json
    assert [r["name"] for r in third["items"]] == ["Desk 4"]
    assert third["next_cursor"] is None


def test_a_tampered_cursor_and_a_bad_limit_are_refused(problem: Any, admin: Caller) -> None:
    assert problem(admin.get("/resources?cursor=%%%"), 422)["errors"][0]["field"] == "cursor"
    assert problem(admin.get("/resources?limit=0"), 422)["errors"][0]["field"] == "limit"
    assert problem(admin.get("/resources?limit=ten"), 422)["errors"][0]["field"] == "limit"


def test_unknown_query_parameters_are_refused(problem: Any, admin: Caller) -> None:
    refused = problem(admin.get("/resources?tag=video"), 422)
    assert refused["errors"] == [{"field": "tag", "message": "unknown query parameter"}]


def test_listing_filters_by_tags_kind_and_capacity(admin: Caller) -> None:
    admin.post(
        "/resources", json={"name": "Big", "tags": ["video"], "attributes": {"capacity": 12}}
    )
    admin.post(
        "/resources", json={"name": "Small", "tags": ["video"], "attributes": {"capacity": 2}}
    )
    admin.post("/resources", json={"name": "Desk", "kind": "desk"})
    names = lambda q: [r["name"] for r in admin.get(f"/resources?{q}").json["items"]]  # noqa: E731
    assert names("tags=video") == ["Big", "Small"]
    assert names("tags=video&min_capacity=10") == ["Big"]
    assert names("kind=desk") == ["Desk"]
    assert names("q=sma") == ["Small"]


def test_tags_are_counted_renamed_and_deleted(problem: Any, admin: Caller, ann: Caller) -> None:
    admin.post("/resources", json={"name": "A", "tags": ["video", "quiet"]})
    admin.post("/resources", json={"name": "B", "tags": ["video"]})
    assert ann.get("/resources/tags").json == [
        {"tag": "quiet", "count": 1},
        {"tag": "video", "count": 2},
    ]
    renamed = admin.put("/resources/tags/rename", json={"old": "video", "new": "camera"})
    assert renamed.json == {"changed": 2}
    assert admin.delete("/resources/tags/quiet").json == {"changed": 1}
    assert ann.get("/resources/tags").json == [{"tag": "camera", "count": 2}]
    problem(ann.delete("/resources/tags/camera"), 403)


def test_a_body_that_is_not_json_is_unsupported(problem: Any, admin: Caller) -> None:
    problem(admin.post("/resources", data="name=x", content_type="text/plain"), 415)


def test_malformed_json_is_a_bad_request(problem: Any, admin: Caller) -> None:
    problem(admin.post("/resources", data="{nope", content_type="application/json"), 400)


def test_a_json_array_body_is_refused(problem: Any, admin: Caller) -> None:
    refused = problem(admin.post("/resources", json=[1, 2]), 422)
    assert refused["errors"][0]["field"] == "body"


def test_integers_beyond_json_range_are_refused(problem: Any, admin: Any) -> None:
    body = {"name": "Huge", "attributes": {"capacity": 10**30}}
    refused = problem(admin.post("/resources", json=body), 422)
    assert refused["errors"][0]["field"] == "attributes.capacity"
    problem(admin.post("/resources", json={"name": "Bool", "attributes": {"capacity": True}}), 422)
