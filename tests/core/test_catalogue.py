from __future__ import annotations

import pytest

from reserver.core import (
    Attributes,
    ConflictError,
    GroupDraft,
    PageRequest,
    PermissionDeniedError,
    Principal,
    Reserver,
    ResourceDraft,
    ResourcePatch,
    ResourceQuery,
    ValidationError,
)


def test_only_admins_manage_resources(reserver: Reserver, ann: Principal) -> None:
    with pytest.raises(PermissionDeniedError):
        reserver.resources.create(ann, ResourceDraft(name="Mine", timezone="UTC"))


def test_unknown_time_zone_is_refused(reserver: Reserver, admin: Principal) -> None:
    with pytest.raises(ValidationError) as bad:
        reserver.resources.create(admin, ResourceDraft(name="X", timezone="Mars/Olympus"))
    assert "timezone" in bad.value.fields
    assert reserver.resources.list(admin).items == ()


def test_update_checks_the_version(reserver: Reserver, admin: Principal, room) -> None:
    renamed = reserver.resources.update(
        admin, room.id, ResourcePatch(name="Room B"), expected_version=1
    )
    assert (renamed.name, renamed.version) == ("Room B", 2)
    with pytest.raises(ConflictError):
        reserver.resources.update(admin, room.id, ResourcePatch(name="Room C"), expected_version=1)
    assert reserver.resources.get(admin, room.id).name == "Room B"


def test_list_filters_and_pages(reserver: Reserver, admin: Principal, ann: Principal) -> None:
    site = reserver.groups.create(
        admin, GroupDraft(name="Berlin", kind="site", timezone="Europe/Berlin")
    )
    floor = reserver.groups.create(
        admin, GroupDraft(name="Floor 1", kind="floor", parent_id=site.id)
    )
    made = [
        reserver.resources.create(
            admin,
            ResourceDraft(
                name=f"Room {i:02d}",
                group_id=floor.id if i % 2 else None,
                tags=frozenset({"video", "big"} if i % 3 == 0 else {"video"}),
                attributes=Attributes(capacity=i),
            ),
        )
        for i in range(12)
    ]
    assert made[1].timezone == "Europe/Berlin", "a resource takes its group's zone"
    in_site = reserver.resources.list(
        ann, ResourceQuery(group_ids=frozenset({site.id})), PageRequest(limit=50)
    )
    assert [r.name for r in in_site.items] == [f"Room {i:02d}" for i in range(1, 12, 2)]
    big = reserver.resources.list(
        ann, ResourceQuery(tags_all=frozenset({"VIDEO", "big"}), min_capacity=4)
    )
    assert [r.name for r in big.items] == ["Room 06", "Room 09"]
    seen, cursor = [], None
    while True:
        page = reserver.resources.list(ann, page=PageRequest(limit=5, cursor=cursor))
        seen += [r.name for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(r.name for r in made)
    text = reserver.resources.list(ann, ResourceQuery(text="om 1"))
    assert [r.name for r in text.items] == ["Room 10", "Room 11"]


def test_tags_rename_and_delete(reserver: Reserver, admin: Principal) -> None:
    reserver.resources.create(
        admin, ResourceDraft(name="A", timezone="UTC", tags=frozenset({"Video", "quiet"}))
    )
    reserver.resources.create(
        admin, ResourceDraft(name="B", timezone="UTC", tags=frozenset({"video"}))
    )
    assert reserver.resources.tags(admin) == {"video": 2, "quiet": 1}
    assert reserver.resources.rename_tag(admin, "video", "av") == 2
    assert reserver.resources.delete_tag(admin, "quiet") == 1
    assert reserver.resources.tags(admin) == {"av": 2}


def test_group_move_refuses_cycles_and_rewrites_paths(reserver: Reserver, admin: Principal) -> None:
    site = reserver.groups.create(admin, GroupDraft(name="Site"))
    building = reserver.groups.create(admin, GroupDraft(name="Building", parent_id=site.id))
    floor = reserver.groups.create(admin, GroupDraft(name="Floor", parent_id=building.id))
    with pytest.raises(ConflictError):
        reserver.groups.move(admin, site.id, floor.id)
    other = reserver.groups.create(admin, GroupDraft(name="Other site"))
    reserver.groups.move(admin, building.id, other.id)
    assert reserver.groups.get(admin, floor.id).path == (other.id, building.id)
    assert {g.id for g in reserver.groups.subtree(admin, other.id)} == {
        other.id,
        building.id,
        floor.id,
    }
    assert {g.id for g in reserver.groups.subtree(admin, site.id)} == {site.id}


def test_group_delete_only_when_empty(reserver: Reserver, admin: Principal) -> None:
    site = reserver.groups.create(admin, GroupDraft(name="Site"))
    room = reserver.resources.create(
        admin, ResourceDraft(name="R", timezone="UTC", group_id=site.id)
    )
    with pytest.raises(ConflictError):
        reserver.groups.delete(admin, site.id)
    reserver.resources.update(admin, room.id, ResourcePatch(group_id=None), expected_version=1)
    reserver.groups.delete(admin, site.id)
    assert reserver.groups.list(admin) == []
