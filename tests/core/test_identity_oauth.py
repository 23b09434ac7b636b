from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from reserver.core import PermissionDeniedError, Principal, Reserver, ValidationError
from reserver.core.adapters.clock import FixedClock
from reserver.core.errors import AuthenticationError, OAuthError, OAuthErrorCode
from reserver.core.identity import OAuthClient
from reserver.core.principals import Permission

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)
REDIRECT = "https://app.example.test/callback"


@pytest.fixture
def client(ident: Reserver, root: Principal) -> tuple[OAuthClient, str]:
    made, secret = ident.oauth.register_client(
        root,
        "Room display",
        [REDIRECT],
        ["authorization_code", "client_credentials"],
        ["view", "book", "manage_own"],
        owner=root.id,
    )
    assert secret is not None
    return made, secret


def authorize(r: Reserver, who: Principal, client: OAuthClient, scope: str | None = "view") -> str:
    return r.oauth.authorize(who, client.id, REDIRECT, scope, CHALLENGE, "S256", state="xyz").code


def redeem(r: Reserver, client: OAuthClient, secret: str, code: str, verifier: str = VERIFIER):
    return r.oauth.token(
        "authorization_code",
        client.id,
        secret,
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )


def topics(r: Reserver) -> list[str]:
    with r.storage.transaction(readonly=True) as tx:
        return [m.topic for m in tx.outbox.due(r.clock.now() + timedelta(days=400), 10_000)]


def test_only_integration_managers_register_clients(
    ident: Reserver, ann_user: Principal, root: Principal
) -> None:
    with pytest.raises(PermissionDeniedError):
        ident.oauth.register_client(
            ann_user, "Mine", [REDIRECT], ["client_credentials"], ["view"], owner=ann_user.id
        )
    with pytest.raises(ValidationError):
        ident.oauth.register_client(
            root, "Plain http", ["http://evil.test/cb"], ["authorization_code"], ["view"], root.id
        )
    with pytest.raises(ValidationError, match="owner may not"):
        ident.oauth.register_client(
            root, "Too wide", [REDIRECT], ["client_credentials"], ["manage_users"], ann_user.id
        )


def test_the_code_grant_with_pkce_gives_a_working_token(
    ident: Reserver, ann_user: Principal, client: tuple[OAuthClient, str]
) -> None:
    made, secret = client
    grant = ident.oauth.authorize(
        ann_user, made.id, REDIRECT, "view book", CHALLENGE, "S256", "a b&c"
    )
    query = parse_qs(urlsplit(grant.location).query)
    assert query == {"code": [grant.code], "state": ["a b&c"]}, "the redirect is URL-encoded"
    tokens = redeem(ident, made, secret, grant.code)
    assert tokens.refresh_token is None
    assert tokens.scope == "book view"
    acting = ident.identity.authenticate(tokens.access_token)
    assert acting.id == ann_user.id
    assert acting.permissions == {Permission.VIEW, Permission.BOOK}
    assert "identity.oauth_token_issued" in topics(ident)


def test_a_wrong_verifier_is_refused(
    ident: Reserver, ann_user: Principal, client: tuple[OAuthClient, str]
) -> None:
    made, secret = client
    code = authorize(ident, ann_user, made)
    with pytest.raises(OAuthError) as refused:
        redeem(ident, made, secret, code, verifier="x" * 43)
    assert refused.value.code is OAuthErrorCode.INVALID_GRANT
    with pytest.raises(OAuthError) as missing:
        ident.oauth.token("authorization_code", made.id, secret, code=code, redirect_uri=REDIRECT)
    assert missing.value.code is OAuthErrorCode.INVALID_REQUEST


def test_plain_pkce_is_refused(
    ident: Reserver, ann_user: Principal, client: tuple[OAuthClient, str]
) -> None:
    made, _ = client
    with pytest.raises(ValidationError, match="S256"):
        ident.oauth.authorize(ann_user, made.id, REDIRECT, "view", VERIFIER, "plain")
    with pytest.raises(ValidationError, match="S256"):
        ident.oauth.authorize(ann_user, made.id, REDIRECT, "view", "", "S256")


def test_a_code_works_once(
    ident: Reserver, ann_user: Principal, client: tuple[OAuthClient, str]
) -> None:
    made, secret = client
    code = authorize(ident, ann_user, made)
    redeem(ident, made, secret, code)
    with pytest.raises(OAuthError) as again:
        redeem(ident, made, secret, code)
    assert again.value.code is OAuthErrorCode.INVALID_GRANT


def test_a_code_is_bound_to_its_client_redirect_and_lifetime(
    ident: Reserver,
    root: Principal,
    ann_user: Principal,
    client: tuple[OAuthClient, str],
    clock: FixedClock,
) -> None:
    made, secret = client
    other, other_secret = ident.oauth.register_client(
        root, "Other", [REDIRECT], ["authorization_code"], ["view"], owner=root.id
    )
    assert other_secret is not None
    with pytest.raises(OAuthError):
        redeem(ident, other, other_secret, authorize(ident, ann_user, made))
    with pytest.raises(ValidationError, match="not registered"):
        ident.oauth.authorize(ann_user, made.id, "https://evil.test/cb", "view", CHALLENGE)
    code = authorize(ident, ann_user, made)
    clock.advance(timedelta(minutes=11))
    with pytest.raises(OAuthError):
        redeem(ident, made, secret, code)


def test_scopes_never_exceed_the_client_or_its_owner(
    ident: Reserver, root: Principal, ann_user: Principal, client: tuple[OAuthClient, str]
) -> None:
    made, secret = client
    with pytest.raises(OAuthError) as beyond_client:
        authorize(ident, ann_user, made, scope="view manage_users")
    assert beyond_client.value.code is OAuthErrorCode.INVALID_SCOPE
    # The owner is demoted to guest: the client's tokens shrink to what a guest may do.
    ident.users.set_roles(root, ann_user.id, ["admin"])  # someone must stay admin
    ident.users.set_roles(ident.identity.authenticate(_session(ident, "ann")), root.id, ["guest"])
    tokens = ident.oauth.token("client_credentials", made.id, secret, scope="view book")
    assert tokens.scope == "view"
    assert ident.identity.authenticate(tokens.access_token).permissions == {Permission.VIEW}


def _session(r: Reserver, name: str) -> str:
    tokens = r.identity.login(name, "seventeen paper lanterns drifting")
    return tokens.access_token  # type: ignore[union-attr]


def test_client_credentials_act_as_the_owner(
    ident: Reserver, root: Principal, client: tuple[OAuthClient, str]
) -> None:
    made, secret = client
    tokens = ident.oauth.token("client_credentials", made.id, secret)
    acting = ident.identity.authenticate(tokens.access_token)
    assert acting.id == root.id
    assert acting.scopes == {
        Permission.VIEW,
        Permission.BOOK,
        Permission.MANAGE_OWN,
    }
    with pytest.raises(OAuthError) as wrong:
        ident.oauth.token("client_credentials", made.id, "not-the-secret")
    assert wrong.value.code is OAuthErrorCode.INVALID_CLIENT


def test_grant_types_are_enforced(ident: Reserver, root: Principal) -> None:
    made, secret = ident.oauth.register_client(
        root, "Code only", [REDIRECT], ["authorization_code"], ["view"], owner=root.id
    )
    with pytest.raises(OAuthError) as refused:
        ident.oauth.token("client_credentials", made.id, secret)
    assert refused.value.code is OAuthErrorCode.UNAUTHORIZED_CLIENT
    with pytest.raises(OAuthError) as unknown:
        ident.oauth.token("password", made.id, secret)
    assert unknown.value.code is OAuthErrorCode.UNSUPPORTED_GRANT_TYPE


def test_revocation_is_bound_to_the_client(
    ident: Reserver, root: Principal, client: tuple[OAuthClient, str]
) -> None:
    made, secret = client
    other, other_secret = ident.oauth.register_client(
        root, "Other", [], ["client_credentials"], ["view"], owner=root.id
    )
    tokens = ident.oauth.token("client_credentials", made.id, secret)
    ident.oauth.revoke(tokens.access_token, other.id, other_secret)  # not its token: ignored
    ident.identity.authenticate(tokens.access_token)
    ident.oauth.revoke(tokens.access_token, made.id, secret)
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(tokens.access_token)
    assert "identity.oauth_token_revoked" in topics(ident)


def test_deleting_a_client_kills_its_tokens(
    ident: Reserver, root: Principal, client: tuple[OAuthClient, str]
) -> None:
    made, secret = client
    tokens = ident.oauth.token("client_credentials", made.id, secret)
    ident.oauth.delete_client(root, made.id)
    with pytest.raises(AuthenticationError):
        ident.identity.authenticate(tokens.access_token)
    assert ident.oauth.list_clients(root) == []


def test_public_clients_need_pkce_and_have_no_credentials_grant(
    ident: Reserver, root: Principal, ann_user: Principal
) -> None:
    with pytest.raises(ValidationError):
        ident.oauth.register_client(
            root, "SPA", [REDIRECT], ["client_credentials"], ["view"], root.id, public=True
        )
    spa, secret = ident.oauth.register_client(
        root, "SPA", [REDIRECT], ["authorization_code"], ["view"], root.id, public=True
    )
    assert secret is None
    tokens = ident.oauth.token(
        "authorization_code",
        spa.id,
        code=authorize(ident, ann_user, spa),
        redirect_uri=REDIRECT,
        code_verifier=VERIFIER,
    )
    assert ident.identity.authenticate(tokens.access_token).id == ann_user.id
