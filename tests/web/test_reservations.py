"""Reservations and series over HTTP: booking, refusals, edits, cancellation, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

MONDAY = datetime(2030, 1, 7, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> str:
    return (MONDAY + timedelta(days=day, hours=hour, minutes=minute)).isoformat()


def book(caller: Any, resource_id: str, day: int, start: int, end: int, **extra: Any) -> Any:
    return caller.post(
        "/reservations",
        json={"resource_id": resource_id, "start": at(day, start), "end": at(day, end), **extra},
    )


@pytest.fixture
def booked(ann: Any, room: dict[str, Any]) -> dict[str, Any]:
    made = book(ann, room["id"], 1, 10, 11, title="Planning")
    assert made.status_code == 201, made.json
    return made.json  # type: ignore[no-any-return]


def test_booking_answers_201_with_location_and_etag(ann: Any, room: dict[str, Any]) -> None:
    made = book(ann, room["id"], 1, 10, 11, title="Planning")
    assert made.status_code == 201
    body = made.json
    assert body["holder"] == ann.id
    assert body["status"] == "confirmed"
    assert body["span"] == {"start": at(1, 10), "end": at(1, 11)}
    assert made.headers["Location"] == f"/api/v1/reservations/{body['id']}"
    assert made.headers["ETag"] == '"1"'


def test_offsets_are_kept_as_instants(ann: Any, room: dict[str, Any]) -> None:
    made = ann.post(
        "/reservations",
        json={
            "resource_id": room["id"],
            "start": "2030-01-08T11:00:00+01:00",
            "end": "2030-01-08T12:00:00+01:00",
        },
    )
    assert made.json["span"]["start"] == "2030-01-08T10:00:00+00:00"


def test_a_naive_start_is_refused_naming_the_field(
    problem: Any, ann: Any, room: dict[str, Any]
) -> None:
    refused = ann.post(
        "/reservations",
        json={"resource_id": room["id"], "start": "2030-01-08T10:00:00", "end": at(1, 11)},
    )
    fields = {e["field"] for e in problem(refused, 422)["errors"]}
    assert fields == {"start"}


def test_second_booking_of_the_same_slot_is_refused_with_reasons_and_alternatives(
    problem: Any, bob: Any, booked: dict[str, Any], room: dict[str, Any]
) -> None:
    refused = problem(book(bob, room["id"], 1, 10, 11), 409)
    assert [v["rule"] for v in refused["violations"]] == ["overlap"]
    assert refused["alternatives"], "the next free slots are suggested"
    assert refused["alternatives"][0]["start"] == at(1, 11)


def test_guests_may_not_book(problem: Any, guest: Any, room: dict[str, Any]) -> None:
    problem(book(guest, room["id"], 1, 10, 11), 403)


def test_users_may_not_book_for_someone_else(
    problem: Any, ann: Any, bob: Any, admin: Any, room: dict[str, Any]
) -> None:
    problem(book(ann, room["id"], 1, 10, 11, holder=bob.id), 403)
    made = book(admin, room["id"], 1, 10, 11, holder=bob.id)
    assert made.status_code == 201
    assert made.json["holder"] == bob.id


def test_booking_an_unknown_resource_is_a_404(problem: Any, ann: Any) -> None:
    problem(book(ann, "nope", 1, 10, 11), 404)


def test_others_cannot_see_a_reservation(
    problem: Any, bob: Any, admin: Any, booked: dict[str, Any]
) -> None:
    problem(bob.get(f"/reservations/{booked['id']}"), 404)
    problem(bob.get(f"/reservations/{booked['id']}/history"), 404)
    problem(bob.post(f"/reservations/{booked['id']}/cancel"), 404)
    problem(
        bob.patch(
            f"/reservations/{booked['id']}", json={"title": "x"}, headers={"If-Match": '"1"'}
        ),
        404,
    )
    assert admin.get(f"/reservations/{booked['id']}").status_code == 200


def test_my_reservations_and_the_listing_show_only_ones_own(
    ann: Any, bob: Any, admin: Any, booked: dict[str, Any], room: dict[str, Any]
) -> None:
    book(bob, room["id"], 2, 10, 11)
    assert [r["id"] for r in ann.get("/reservations/my").json["items"]] == [booked["id"]]
    assert [r["holder"] for r in ann.get("/reservations").json["items"]] == [ann.id]
    assert ann.get(f"/reservations?holder={bob.id}").json["items"] == []
    everyone = admin.get("/reservations").json["items"]
    assert [r["holder"] for r in everyone] == [ann.id, bob.id]
    only_bob = admin.get(f"/reservations?holder={bob.id}").json["items"]
    assert [r["holder"] for r in only_bob] == [bob.id]


def test_listing_filters_by_window_and_status(
    admin: Any, ann: Any, booked: dict[str, Any], room: dict[str, Any]
) -> None:
    book(ann, room["id"], 3, 10, 11)
    window = admin.get(f"/reservations?start={at(3, 0)}&end={at(4, 0)}".replace("+", "%2B"))
    assert [r["span"]["start"] for r in window.json["items"]] == [at(3, 10)]
    ann.post(f"/reservations/{booked['id']}/cancel", json={"reason": "ill"})
    cancelled = admin.get("/reservations?status=cancelled").json["items"]
    assert [r["id"] for r in cancelled] == [booked["id"]]


def test_an_unencoded_plus_in_a_query_offset_still_reads_as_an_offset(
    admin: Any, booked: dict[str, Any]
) -> None:
    window = admin.get(f"/reservations?start={at(1, 0)}&end={at(2, 0)}")
    assert [r["id"] for r in window.json["items"]] == [booked["id"]]


def test_edit_moves_with_if_match_and_records_history(
    problem: Any, ann: Any, booked: dict[str, Any]
) -> None:
    path = f"/reservations/{booked['id']}"
    problem(ann.patch(path, json={"start": at(1, 12), "end": at(1, 13)}), 428)
    moved = ann.patch(
        path, json={"start": at(1, 12), "end": at(1, 13)}, headers={"If-Match": '"1"'}
    )
    assert moved.status_code == 200, moved.json
    assert moved.json["span"]["start"] == at(1, 12)
    assert moved.headers["ETag"] == '"2"'
    problem(ann.patch(path, json={"title": "late"}, headers={"If-Match": '"1"'}), 412)
    history = ann.get(f"{path}/history").json
    assert [h["action"] for h in history] == ["created", "moved"]


def test_a_move_onto_someone_elses_booking_is_refused(
    problem: Any, ann: Any, bob: Any, booked: dict[str, Any], room: dict[str, Any]
) -> None:
    other = book(bob, room["id"], 1, 14, 15).json
    moved = bob.patch(
        f"/reservations/{other['id']}",
        json={"start": at(1, 10), "end": at(1, 11)},
        headers={"If-Match": '"1"'},
    )
    assert [v["rule"] for v in problem(moved, 409)["violations"]] == ["overlap"]


def test_cancel_with_and_without_a_body(problem: Any, ann: Any, room: dict[str, Any]) -> None:
    first = book(ann, room["id"], 1, 8, 9).json
    second = book(ann, room["id"], 1, 9, 10).json
    cancelled = ann.post(f"/reservations/{first['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "cancelled"
    with_reason = ann.post(f"/reservations/{second['id']}/cancel", json={"reason": "ill"})
    assert with_reason.json["cancel_reason"] == "ill"
    problem(ann.post(f"/reservations/{first['id']}/cancel"), 409)


def test_multi_resource_booking_is_all_or_nothing(
    problem: Any, admin: Any, ann: Any, bob: Any, room: dict[str, Any]
) -> None:
    beamer = admin.post("/resources", json={"name": "Beamer", "kind": "equipment"}).json
    book(bob, beamer["id"], 1, 10, 11)
    body = {"resource_ids": [room["id"], beamer["id"]], "start": at(1, 10), "end": at(1, 11)}
    problem(ann.post("/reservations/multi", json=body), 409)
    assert ann.get("/reservations/my").json["items"] == []
    body["start"], body["end"] = at(1, 12), at(1, 13)
    made = ann.post("/reservations/multi", json=body)
    assert made.status_code == 201
    assert len(made.json["reservations"]) == 2


def test_recurring_series_is_booked_read_edited_and_cancelled(
    problem: Any, ann: Any, bob: Any, room: dict[str, Any]
) -> None:
    made = ann.post(
        "/reservations/recurring",
        json={
            "resource_id": room["id"],
            "start": at(1, 9),
            "end": at(1, 10),
            "rule": {"frequency": "weekly", "count": 4},
            "title": "Sync",
        },
    )
    assert made.status_code == 201, made.json
    series = made.json["series"]
    assert len(made.json["reservations"]) == 4
    detail = ann.get(f"/series/{series['id']}").json
    assert [o["span"]["start"] for o in detail["occurrences"]] == [
        at(1, 9),
        at(8, 9),
        at(15, 9),
        at(22, 9),
    ]
    problem(bob.get(f"/series/{series['id']}"), 404)
    keys = [o["occurrence_key"] for o in detail["occurrences"]]
    moved = ann.patch(
        f"/series/{series['id']}",
        json={"scope": "this_and_following", "occurrence_key": keys[2], "start": at(15, 11)},
    )
    assert moved.status_code == 200, moved.json
    assert [o["span"]["start"] for o in moved.json] == [at(15, 11), at(22, 11)]
    cancelled = ann.post(
        f"/series/{series['id']}/cancel", json={"scope": "one", "occurrence_key": keys[0]}
    )
    assert [o["status"] for o in cancelled.json] == ["cancelled"]
    everything = ann.post(f"/series/{series['id']}/cancel", json={"scope": "all"})
    assert len(everything.json) == 3


def test_a_series_with_a_conflict_is_refused_unless_skipping(
    problem: Any, ann: Any, bob: Any, room: dict[str, Any]
) -> None:
    book(bob, room["id"], 8, 9, 10)
    body = {
        "resource_id": room["id"],
        "start": at(1, 9),
        "end": at(1, 10),
        "rule": {"frequency": "weekly", "count": 3},
    }
    problem(ann.post("/reservations/recurring", json=body), 409)
    made = ann.post("/reservations/recurring", json={**body, "skip_conflicts": True})
    assert made.status_code == 201
    assert len(made.json["reservations"]) == 2
    assert [v["rule"] for v in made.json["skipped"]] == ["overlap"]


def test_a_retry_with_the_same_idempotency_key_books_once(
    ann: Any, admin: Any, room: dict[str, Any]
) -> None:
    body = {"resource_id": room["id"], "start": at(1, 10), "end": at(1, 11)}
    key = {"Idempotency-Key": "booking-42"}
    first = ann.post("/reservations", json=body, headers=key)
    again = ann.post("/reservations", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(admin.get("/reservations").json["items"]) == 1


def test_a_refusal_is_replayed_too(problem: Any, ann: Any, bob: Any, room: dict[str, Any]) -> None:
    taken = book(bob, room["id"], 1, 10, 11).json
    body = {"resource_id": room["id"], "start": at(1, 10), "end": at(1, 11)}
    key = {"Idempotency-Key": "k1"}
    problem(ann.post("/reservations", json=body, headers=key), 409)
    bob.post(f"/reservations/{taken['id']}/cancel")
    replay = ann.post("/reservations", json=body, headers=key)
    assert problem(replay, 409)
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_an_idempotency_key_reused_for_another_request_is_refused(
    problem: Any, ann: Any, room: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": "k2"}
    book_body = {"resource_id": room["id"], "start": at(1, 10), "end": at(1, 11)}
    assert ann.post("/reservations", json=book_body, headers=key).status_code == 201
    other = {**book_body, "start": at(2, 10), "end": at(2, 11)}
    problem(ann.post("/reservations", json=other, headers=key), 422)
    assert len(ann.get("/reservations/my").json["items"]) == 1


def test_idempotency_keys_are_per_user(ann: Any, bob: Any, room: dict[str, Any]) -> None:
    key = {"Idempotency-Key": "same"}
    first = ann.post(
        "/reservations",
        json={"resource_id": room["id"], "start": at(1, 10), "end": at(1, 11)},
        headers=key,
    )
    second = bob.post(
        "/reservations",
        json={"resource_id": room["id"], "start": at(1, 12), "end": at(1, 13)},
        headers=key,
    )
    assert first.status_code == second.status_code == 201
    assert second.json["holder"] == bob.id
