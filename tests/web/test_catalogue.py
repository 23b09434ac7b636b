"""Groups, business hours, blackouts and availability over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
WEEKDAYS_9_TO_17 = {"days": [[{"opens": "09:00", "closes": "17:00"}]] * 5 + [[], []]}


def at(day: int, hour: int, minute: int = 0) -> str:
    return (MONDAY + timedelta(days=day, hours=hour, minutes=minute)).isoformat()


def q(value: str) -> str:
    return value.replace("+", "%2B")


@pytest.fixture
def site(admin: Any) -> dict[str, Any]:
    made = admin.post(
        "/resource-groups", json={"name": "Berlin", "kind": "site", "timezone": "Europe/Berlin"}
    )
    assert made.status_code == 201, made.json
    return made.json  # type: ignore[no-any-return]


def test_groups_nest_move_and_list_their_resources(
    problem: Any, admin: Any, ann: Any, site: dict[str, Any]
) -> None:
    floor = admin.post("/resource-groups", json={"name": "Floor 1", "parent_id": site["id"]}).json
    assert floor["path"] == [site["id"]]
    desk = admin.post("/resources", json={"name": "Desk", "group_id": floor["id"]}).json
    assert desk["timezone"] == "Europe/Berlin", "the zone comes from the site"
    tree = ann.get("/resource-groups/tree").json
    assert tree[0]["group"]["id"] == site["id"]
    assert tree[0]["children"][0]["group"]["id"] == floor["id"]
    members = ann.get(f"/resource-groups/{site['id']}/resources").json["items"]
    assert [r["id"] for r in members] == [desk["id"]]
    subtree = ann.get(f"/resource-groups/{site['id']}/subtree").json
    assert [n["group"]["id"] for n in subtree] == [site["id"]]
    moved = admin.post(f"/resource-groups/{floor['id']}/move", json={"parent_id": None})
    assert moved.json["parent_id"] is None
    assert moved.json["path"] == []
    problem(admin.post(f"/resource-groups/{site['id']}/move", json={"parent_id": site["id"]}), 409)
    problem(ann.post("/resource-groups", json={"name": "Mine"}), 403)


def test_groups_are_renamed_and_only_empty_ones_deleted(
    problem: Any, admin: Any, site: dict[str, Any]
) -> None:
    renamed = admin.patch(f"/resource-groups/{site['id']}", json={"name": "Berlin HQ"})
    assert renamed.json["name"] == "Berlin HQ"
    room = admin.post("/resources", json={"name": "Room", "group_id": site["id"]}).json
    problem(admin.delete(f"/resource-groups/{site['id']}"), 409)
    admin.patch(f"/resources/{room['id']}", json={"group_id": None}, headers={"If-Match": '"1"'})
    assert admin.delete(f"/resource-groups/{site['id']}").status_code == 204
    problem(admin.get(f"/resource-groups/{site['id']}"), 404)
    assert [g["id"] for g in admin.get("/resource-groups").json] == []


def test_business_hours_on_resource_group_and_globally(
    problem: Any, admin: Any, ann: Any, room: dict[str, Any], site: dict[str, Any]
) -> None:
    path = f"/resources/{room['id']}/business-hours"
    assert ann.get(path).json["own"] is None
    assert admin.put("/business-hours/global", json=WEEKDAYS_9_TO_17).status_code == 200
    assert ann.get("/business-hours/global").json["hours"] == WEEKDAYS_9_TO_17
    assert ann.get(path).json == {"own": None, "effective": WEEKDAYS_9_TO_17}
    mornings = {"days": [[{"opens": "08:00", "closes": "12:00"}]] * 7}
    assert admin.put(path, json=mornings).json == mornings
    assert ann.get(path).json == {"own": mornings, "effective": mornings}
    assert admin.delete(path).status_code == 204
    assert ann.get(path).json["effective"] == WEEKDAYS_9_TO_17
    group_path = f"/resource-groups/{site['id']}/business-hours"
    assert admin.put(group_path, json=mornings).status_code == 200
    assert ann.get(group_path).json == {"hours": mornings}
    assert admin.delete(group_path).status_code == 204
    assert admin.delete("/business-hours/global").status_code == 204
    problem(ann.put(path, json=mornings), 403)
    broken = {"days": [[{"opens": "12:00", "closes": "08:00"}]] * 7}
    problem(admin.put(path, json=broken), 422)
    problem(ann.get("/resources/nope/business-hours"), 404)


def test_bookings_outside_business_hours_are_refused(
    problem: Any, admin: Any, ann: Any, room: dict[str, Any]
) -> None:
    admin.put(f"/resources/{room['id']}/business-hours", json=WEEKDAYS_9_TO_17)
    refused = ann.post(
        "/reservations", json={"resource_id": room["id"], "start": at(1, 7), "end": at(1, 8)}
    )
    assert [v["rule"] for v in problem(refused, 409)["violations"]] == ["business_hours"]


def test_blackouts_by_day_and_span_on_every_scope(
    problem: Any, admin: Any, ann: Any, room: dict[str, Any], site: dict[str, Any]
) -> None:
    day = admin.post(
        f"/resources/{room['id']}/blackout-dates",
        json={"first_day": "2030-01-08", "reason": "cleaning"},
    )
    assert day.status_code == 201, day.json
    assert day.json["last_day"] == "2030-01-08"
    assert [b["id"] for b in ann.get(f"/resources/{room['id']}/blackout-dates").json] == [
        day.json["id"]
    ]
    refused = ann.post(
        "/reservations", json={"resource_id": room["id"], "start": at(1, 10), "end": at(1, 11)}
    )
    assert [v["rule"] for v in problem(refused, 409)["violations"]] == ["blackout"]
    span = admin.post("/blackout-dates", json={"start": at(3, 0), "end": at(3, 6), "reason": "x"})
    assert span.json["span"] == {"start": at(3, 0), "end": at(3, 6)}
    assert len(ann.get("/blackout-dates").json) == 1
    yearly = admin.post(
        f"/resource-groups/{site['id']}/blackout-dates",
        json={"first_day": "2030-12-24", "last_day": "2030-12-26", "yearly": True},
    )
    assert yearly.status_code == 201
    assert len(ann.get(f"/resource-groups/{site['id']}/blackout-dates").json) == 1
    problem(
        admin.post(
            "/blackout-dates", json={"first_day": "2030-01-08", "start": at(1, 0), "end": at(1, 1)}
        ),
        422,
    )
    problem(admin.post("/blackout-dates", json={"start": at(1, 0)}), 422)
    problem(ann.post("/blackout-dates", json={"first_day": "2030-01-08"}), 403)
    assert admin.delete(f"/blackout-dates/{day.json['id']}").status_code == 204
    problem(admin.delete(f"/blackout-dates/{day.json['id']}"), 404)


def test_available_slots_by_day_and_window(
    problem: Any, admin: Any, ann: Any, bob: Any, room: dict[str, Any]
) -> None:
    admin.put(f"/resources/{room['id']}/business-hours", json=WEEKDAYS_9_TO_17)
    bob.post("/reservations", json={"resource_id": room["id"], "start": at(1, 9), "end": at(1, 12)})
    slots = ann.get(
        f"/resources/{room['id']}/available-slots?date=2030-01-08&slot_duration=60"
    ).json
    starts = [s["start"] for s in slots]
    assert at(1, 9) not in starts
    assert starts[0] == at(1, 12)
    assert starts[-1] == at(1, 16)
    between = f"start={q(at(1, 12))}&end={q(at(1, 14))}"
    window = ann.get(f"/resources/{room['id']}/available-slots?slot_duration=60&{between}").json
    assert [s["start"] for s in window] == [
        at(1, 12),
        at(1, 12, 15),
        at(1, 12, 30),
        at(1, 12, 45),
        at(1, 13),
    ]
    problem(ann.get(f"/resources/{room['id']}/available-slots?slot_duration=60"), 422)
    problem(
        ann.get(f"/resources/{room['id']}/available-slots?date=2030-01-08&slot_duration=0"), 422
    )
    problem(
        ann.get(
            f"/resources/{room['id']}/available-slots?date=2030-01-08&slot_duration=99999999999"
        ),
        422,
    )


def test_next_available_and_schedule_hide_the_holder(
    admin: Any, ann: Any, bob: Any, room: dict[str, Any]
) -> None:
    admin.put(f"/resources/{room['id']}/business-hours", json=WEEKDAYS_9_TO_17)
    bob.post("/reservations", json={"resource_id": room["id"], "start": at(0, 9), "end": at(0, 17)})
    found = ann.get(f"/resources/{room['id']}/next-available?slot_duration=30").json
    assert found == {"slot": {"start": at(1, 9), "end": at(1, 9, 30)}}
    busy = ann.get(f"/resources/{room['id']}/schedule").json
    assert busy == [{"start": at(0, 9), "end": at(0, 17)}]
    assert "bob" not in ann.get(f"/resources/{room['id']}/schedule").get_data(as_text=True)
    none = ann.get(f"/resources/{room['id']}/next-available?slot_duration=600&days_ahead=1").json
    assert none == {"slot": None}


def test_find_free_resources_for_a_span_or_a_duration(
    problem: Any, admin: Any, ann: Any, bob: Any, room: dict[str, Any]
) -> None:
    other = admin.post("/resources", json={"name": "Annex", "tags": ["video"]}).json
    bob.post(
        "/reservations", json={"resource_id": room["id"], "start": at(1, 10), "end": at(1, 11)}
    )
    span = ann.get(f"/availability/find?tags=video&start={q(at(1, 10))}&end={q(at(1, 11))}").json
    assert [f["resource"]["id"] for f in span] == [other["id"]]
    window = ann.get(
        f"/availability/find?duration=60&window_start={q(at(1, 10))}&window_end={q(at(1, 12))}"
    ).json
    assert [(f["resource"]["name"], f["slot"]["start"]) for f in window] == [
        ("Annex", at(1, 10)),
        ("Spree room", at(1, 11)),
    ]
    problem(ann.get("/availability/find"), 422)
    problem(ann.get("/availability/find?duration=60&limit=0"), 422)
