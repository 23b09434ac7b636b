"""Identity over HTTP: setup, registration, sessions, MFA, administration, keys and OAuth."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from typing import Any

import pytest

from reserver.core.identity.totp import code_at

PASSWORD = "correct-horse-battery-staple-42"
NEW_PASSWORD = "velvet-otter-climbs-north-93"


def login(caller: Any, username: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    return caller.post("/token", json={"username": username, "password": password}, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_setup_runs_once_then_is_closed(problem: Any, client: Any, make_caller: Any) -> None:
    anon = make_caller(client, None)
    assert anon.get("/setup/status").json == {
        "setup_complete": False,
        "setup_reopened": False,
        "user_count": 0,
    }
    made = anon.post("/setup/initialize", json={"username": "root", "password": PASSWORD})
    assert made.status_code == 201, made.json
    assert made.json["roles"] == ["admin"]
    assert "password" not in made.get_data(as_text=True)
    again = anon.post("/setup/initialize", json={"username": "evil", "password": PASSWORD})
    problem(again, 409)
    assert anon.get("/setup/status").json["setup_complete"] is True
    problem(anon.post("/setup/unlock", json={"setup_token": "x" * 40}), 403)


def test_register_then_log_in_with_json_or_a_form(problem: Any, anon: Any, admin: Any) -> None:
    made = anon.post("/register", json={"username": "Carla", "password": PASSWORD})
    assert made.status_code == 201, made.json
    assert made.json["username"] == "carla"
    assert made.json["roles"] == ["user"]
    tokens = login(anon, "CARLA").json
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] > 0
    form = anon.post("/token", data={"username": "carla", "password": PASSWORD})
    assert form.status_code == 200
    assert anon.get("/users/me", headers=bearer(form.json["access_token"])).json["username"] == (
        "carla"
    )
    problem(anon.post("/register", json={"username": "carla", "password": PASSWORD}), 409)


def test_registration_refuses_mass_assignment(problem: Any, anon: Any) -> None:
    for extra in ({"roles": ["admin"]}, {"is_admin": True}, {"id": "x"}, {"active": True}):
        body = {"username": "mallory", "password": PASSWORD, **extra}
        refused = problem(anon.post("/register", json=body), 422)
        assert refused["errors"][0]["message"] == "unknown field"
    problem(login(anon, "mallory"), 401)


def test_profile_changes_refuse_role_fields(problem: Any, ann: Any) -> None:
    problem(ann.patch("/users/me", json={"roles": ["admin"]}), 422)
    problem(ann.patch("/users/me", json={"display_name": "Ann", "version": 99}), 422)
    assert ann.get("/users/me").json["roles"] == ["user"]
    changed = ann.patch("/users/me", json={"display_name": "Ann A.", "timezone": "Europe/Paris"})
    assert changed.json["display_name"] == "Ann A."
    assert changed.json["timezone"] == "Europe/Paris"


def test_wrong_passwords_are_401_without_saying_which_part(problem: Any, anon: Any) -> None:
    assert (
        problem(login(anon, "ann", "wrong-password-123456"), 401)["detail"]
        == (problem(login(anon, "nobody-at-all", "wrong-password-123456"), 401)["detail"])
    )


def test_refresh_rotates_and_a_reused_token_ends_the_session(
    problem: Any, anon: Any, people: Any
) -> None:
    first = login(anon, "ann").json
    rotated = anon.post("/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    fresh = rotated.json
    problem(anon.post("/token/refresh", json={"refresh_token": first["refresh_token"]}), 401)
    problem(anon.post("/token/refresh", json={"refresh_token": fresh["refresh_token"]}), 401)
    problem(anon.get("/users/me", headers=bearer(fresh["access_token"])), 401)


def test_refresh_tokens_are_never_read_from_the_query(problem: Any, anon: Any) -> None:
    first = login(anon, "ann").json
    problem(anon.post(f"/token/refresh?refresh_token={first['refresh_token']}"), 415)


def test_a_token_from_a_logged_out_session_is_dead(problem: Any, anon: Any) -> None:
    tokens = login(anon, "ann").json
    assert anon.post("/logout", headers=bearer(tokens["access_token"])).status_code == 204
    problem(anon.get("/users/me", headers=bearer(tokens["access_token"])), 401)
    problem(anon.post("/token/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)


def test_password_change_needs_the_current_one_and_ends_other_sessions(
    problem: Any, anon: Any, ann: Any
) -> None:
    other = login(anon, "ann").json["access_token"]
    wrong = {"current_password": "not-my-password-123", "new_password": NEW_PASSWORD}
    problem(ann.post("/users/me/password", json=wrong), 401)
    weak = {"current_password": PASSWORD, "new_password": "short"}
    assert problem(ann.post("/users/me/password", json=weak), 422)["errors"][0]["field"] == (
        "new_password"
    )
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert ann.post("/users/me/password", json=right).status_code == 204
    problem(anon.get("/users/me", headers=bearer(other)), 401)
    assert login(anon, "ann", NEW_PASSWORD).status_code == 200


def _enable_mfa(ann: Any, clock: Any) -> tuple[str, list[str]]:
    enrolment = ann.post("/auth/mfa/setup").json
    secret = enrolment["secret"]
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    codes = ann.post("/auth/mfa/verify", json={"code": code_at(secret, clock.now())})
    assert codes.status_code == 200, codes.json
    clock.advance(timedelta(seconds=60))
    return secret, codes.json["codes"]


def test_mfa_is_enforced_at_log_in_and_a_code_works_once(
    problem: Any, anon: Any, ann: Any, clock: Any
) -> None:
    secret, _ = _enable_mfa(ann, clock)
    first = login(anon, "ann").json
    assert set(first) == {"challenge", "expires_in"}, "no tokens before the second factor"
    code = code_at(secret, clock.now())
    tokens = anon.post("/token/mfa", json={"challenge": first["challenge"], "code": code})
    assert tokens.status_code == 200, tokens.json
    assert "access_token" in tokens.json
    second = login(anon, "ann").json
    replay = anon.post("/token/mfa", json={"challenge": second["challenge"], "code": code})
    problem(replay, 401)


def test_backup_codes_work_once_and_mfa_can_be_turned_off(
    problem: Any, anon: Any, ann: Any, clock: Any
) -> None:
    secret, backup = _enable_mfa(ann, clock)
    assert ann.get("/auth/mfa/backup-codes").json == {"remaining": len(backup)}
    challenge = login(anon, "ann").json["challenge"]
    used = anon.post("/token/mfa", json={"challenge": challenge, "code": backup[0]})
    assert used.status_code == 200
    challenge = login(anon, "ann").json["challenge"]
    problem(anon.post("/token/mfa", json={"challenge": challenge, "code": backup[0]}), 401)
    clock.advance(timedelta(seconds=60))
    off = ann.post(
        "/auth/mfa/disable", json={"password": PASSWORD, "code": code_at(secret, clock.now())}
    )
    assert off.status_code == 204, off.json
    assert "access_token" in login(anon, "ann").json


def test_lockout_cannot_be_turned_against_a_victim(problem: Any, client: Any, anon: Any) -> None:
    attacker = {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}}
    answers = [
        login(anon, "ann", "guessing-password-000", **attacker).status_code for _ in range(12)
    ]
    assert 429 in answers, "the attacker is slowed down"
    victim = login(anon, "ann", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert victim.status_code == 200, victim.json


def test_throttled_attempts_say_when_to_retry(problem: Any, anon: Any) -> None:
    attacker = {"environ_base": {"REMOTE_ADDR": "203.0.113.10"}}
    answers = [login(anon, "bob", "guessing-password-000", **attacker) for _ in range(12)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused
    assert int(refused[0].headers["Retry-After"]) >= 1
    problem(refused[0], 429)


def test_administrators_manage_users_and_others_may_not(
    problem: Any, admin: Any, ann: Any, anon: Any
) -> None:
    made = admin.post("/users", json={"username": "dora", "password": PASSWORD})
    assert made.status_code == 201, made.json
    dora = made.json["id"]
    listed = admin.get("/users?q=dor").json["items"]
    assert [u["username"] for u in listed] == ["dora"]
    promoted = admin.put(f"/users/{dora}/roles", json={"roles": ["admin"]})
    assert promoted.json["roles"] == ["admin"]
    session = login(anon, "dora").json["access_token"]
    off = admin.put(f"/users/{dora}/active", json={"active": False})
    assert off.json["active"] is False
    problem(anon.get("/users/me", headers=bearer(session)), 401)
    problem(ann.get("/users"), 403)
    problem(ann.put(f"/users/{ann.id}/roles", json={"roles": ["admin"]}), 403)
    problem(ann.get(f"/users/{dora}"), 403)
    assert ann.get(f"/users/{ann.id}").json["username"] == "ann"
    reset = admin.post(f"/users/{ann.id}/password", json={"new_password": NEW_PASSWORD})
    assert reset.status_code == 204
    assert login(anon, "ann", NEW_PASSWORD).status_code == 200


def test_invites_custom_roles_and_grants(
    problem: Any, admin: Any, ann: Any, bob: Any, room: dict[str, Any]
) -> None:
    code = admin.post("/users/invites", json={}).json["code"]
    assert code
    role = admin.post("/roles", json={"name": "booker", "permissions": ["view", "book"]})
    assert role.status_code == 201, role.json
    assert [r["name"] for r in admin.get("/roles").json] == ["booker"]
    changed = admin.put("/roles/booker", json={"permissions": ["view"]})
    assert changed.json["permissions"] == ["view"]
    grant = {"subject": f"user:{ann.id}", "action": "book"}
    path = f"/resources/{room['id']}/grants"
    assert admin.post(path, json=grant).status_code == 201
    assert admin.get(path).json[0]["subject"] == f"user:{ann.id}"
    booking = {"resource_id": room["id"], "start": "2030-01-08T10:00:00+00:00"}
    booking["end"] = "2030-01-08T11:00:00+00:00"
    problem(bob.post("/reservations", json=booking), 403)
    assert ann.post("/reservations", json=booking).status_code == 201
    assert admin.post(f"{path}/revoke", json=grant).status_code == 204
    assert admin.get(path).json == []
    problem(ann.post("/roles", json={"name": "x", "permissions": ["view"]}), 403)
    assert admin.delete("/roles/booker").status_code == 204


def test_api_keys_authenticate_within_their_scopes(
    problem: Any, anon: Any, ann: Any, room: dict[str, Any]
) -> None:
    made = ann.post("/api-keys", json={"name": "script", "scopes": ["view"]})
    assert made.status_code == 201, made.json
    key = made.json["key"]
    assert key.startswith("rk_")
    assert "key_hash" not in made.json["api_key"]
    assert anon.get("/resources", headers=bearer(key)).status_code == 200
    booking = {
        "resource_id": room["id"],
        "start": "2030-01-08T10:00:00+00:00",
        "end": "2030-01-08T11:00:00+00:00",
    }
    problem(anon.post("/reservations", json=booking, headers=bearer(key)), 403)
    assert [k["name"] for k in ann.get("/api-keys").json] == ["script"]
    revoked = ann.delete(f"/api-keys/{made.json['api_key']['id']}")
    assert revoked.json["revoked_at"] is not None
    problem(anon.get("/resources", headers=bearer(key)), 401)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_oauth_authorization_code_with_pkce(problem: Any, admin: Any, ann: Any, anon: Any) -> None:
    registered = admin.post(
        "/oauth/clients",
        json={
            "name": "Calendar sync",
            "redirect_uris": ["https://app.example/callback"],
            "scopes": ["view", "book"],
            "owner": ann.id,
        },
    )
    assert registered.status_code == 201, registered.json
    client_id = registered.json["client"]["id"]
    secret = registered.json["client_secret"]
    verifier, challenge = _pkce()
    consent = {
        "client_id": client_id,
        "redirect_uri": "https://app.example/callback",
        "code_challenge": challenge,
        "scope": "view",
        "state": "xyz",
    }
    granted = ann.post("/oauth/authorize", json=consent)
    assert granted.status_code == 200, granted.json
    assert granted.json["location"].startswith("https://app.example/callback?")
    exchange = {
        "grant_type": "authorization_code",
        "code": granted.json["code"],
        "redirect_uri": "https://app.example/callback",
        "client_id": client_id,
        "client_secret": secret,
    }
    problem(anon.post("/oauth/token", data={**exchange, "code_verifier": "x" * 43}), 400)
    granted = ann.post("/oauth/authorize", json=consent).json
    exchange["code"] = granted["code"]
    tokens = anon.post("/oauth/token", data={**exchange, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.json
    access = tokens.json["access_token"]
    assert anon.get("/users/me", headers=bearer(access)).json["id"] == ann.id
    revoked = anon.post(
        "/oauth/revoke", data={"token": access, "client_id": client_id, "client_secret": secret}
    )
    assert revoked.status_code == 204
    problem(anon.get("/users/me", headers=bearer(access)), 401)


def test_oauth_errors_carry_the_rfc_6749_code(problem: Any, anon: Any) -> None:
    refused = anon.post("/oauth/token", data={"grant_type": "password", "client_id": "nope"})
    assert problem(refused, 400)["error"] == "unsupported_grant_type"
    basic = anon.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"nope:bad").decode()},
    )
    assert problem(basic, 401)["error"] == "invalid_client"


def test_sign_in_endpoints_have_a_strict_limit(problem: Any, services: Any, people: Any) -> None:
    from reserver.flask import Environment, Settings, create_app

    settings = Settings(environment=Environment.TEST, auth_rate_limit="3/minute")
    client = create_app(settings, services=services).test_client()
    body = {"username": "ann", "password": PASSWORD}
    answers = [client.post("/api/v1/token", json=body).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    token = people["ann"][1]
    me = client.get("/api/v1/users/me", headers=bearer(token))
    assert me.status_code == 200, "the strict limit is per endpoint"


@pytest.fixture
def ann_objects(admin: Any, ann: Any, room: dict[str, Any], clock: Any) -> dict[str, str]:
    """Things that belong to Ann, by the path variable that names them."""
    made = ann.post(
        "/reservations",
        json={
            "resource_id": room["id"],
            "start": "2030-01-08T10:00:00+00:00",
            "end": "2030-01-08T11:00:00+00:00",
        },
    ).json
    series = ann.post(
        "/reservations/recurring",
        json={
            "resource_id": room["id"],
            "start": "2030-01-09T10:00:00+00:00",
            "end": "2030-01-09T11:00:00+00:00",
            "rule": {"frequency": "daily", "count": 2},
        },
    ).json["series"]
    key = ann.post("/api-keys", json={"name": "k", "scopes": ["view"]}).json["api_key"]
    return {"reservation_id": made["id"], "series_id": series["id"], "key_id": key["id"]}


def test_no_route_shows_or_changes_another_users_object(
    bob: Any, ann: Any, ann_objects: dict[str, str]
) -> None:
    from reserver.flask.api import operations

    swept = 0
    for prefix, op in operations():
        owned = [p for p in op.path_params if p in ann_objects]
        if not owned or not op.authenticated:
            continue
        path = op.rule
        for name in op.path_params:
            path = path.replace(f"<{name}>", ann_objects[name])
        answer = bob.request(op.method, prefix + path, json={}, headers={"If-Match": '"1"'})
        assert answer.status_code == 404, f"{op.method} {op.rule}: {answer.status_code}"
        swept += 1
    assert swept >= 8
    assert ann.get(f"/reservations/{ann_objects['reservation_id']}").json["status"] == "confirmed"
    assert [k["revoked_at"] for k in ann.get("/api-keys").json] == [None]
