"""Identity storage contract, part two: OAuth, roles and grants, and single-use races."""

from __future__ import annotations

import functools
from datetime import timedelta

import attrs
import pytest

from reserver.core.errors import ConflictError, NotFoundError
from reserver.core.identity.models import Action, ClientId
from reserver.core.ports import Storage
from reserver.core.principals import Permission
from reserver.core.testing.builders import T0, make_resource, store
from reserver.core.testing.identity_builders import (
    make_client,
    make_code,
    make_grant,
    make_oauth_token,
    make_refresh_token,
    make_role,
    make_user,
)
from reserver.core.testing.races import CONFLICT, WON, race

RACERS = 8


def _refuse_unless(won: bool) -> None:
    if not won:
        raise ConflictError("lost the race")


class IdentityAccessContract:
    """OAuth records, custom roles and grants; single-use secrets under concurrency."""

    def test_clients_round_trip_list_and_delete(self, storage: Storage) -> None:
        """Clients come back equal, list oldest first by owner, and delete."""
        owner, other = make_user(), make_user()
        first = make_client(owner.id)
        second = make_client(other.id, created_at=T0 + timedelta(minutes=1), secret_hash=None)
        with storage.transaction() as tx:
            tx.identity.users.add(owner)
            tx.identity.users.add(other)
            tx.identity.clients.add(second)
            tx.identity.clients.add(first)
        with storage.transaction() as tx:
            clients = tx.identity.clients
            assert clients.get(first.id) == first
            assert clients.get(second.id).public
            assert list(clients.all()) == [first, second]
            assert list(clients.for_owner(owner.id)) == [first]
            clients.delete(first.id)
            with pytest.raises(NotFoundError):
                clients.get(first.id)
            with pytest.raises(NotFoundError):
                clients.delete(ClientId("missing"))
        with pytest.raises(ConflictError), storage.transaction() as tx:
            tx.identity.clients.add(second)

    def test_codes_are_taken_once(self, storage: Storage) -> None:
        """``take`` returns the code marked used, then raises ``NotFoundError``."""
        user = make_user()
        client = make_client(user.id)
        code = make_code(client.id, user.id)
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.clients.add(client)
            tx.identity.codes.add(code)
        with storage.transaction() as tx:
            taken = tx.identity.codes.take(code.code_hash, T0 + timedelta(minutes=1))
            assert taken == attrs.evolve(code, used_at=T0 + timedelta(minutes=1))
            with pytest.raises(NotFoundError):
                tx.identity.codes.take(code.code_hash, T0 + timedelta(minutes=2))
            with pytest.raises(NotFoundError):
                tx.identity.codes.take("missing", T0)

    def test_oauth_tokens_revoke_one_or_all_of_a_client(self, storage: Storage) -> None:
        """``revoke`` ends one token; ``revoke_client`` ends the client's live ones."""
        user = make_user()
        client, other = make_client(user.id), make_client(user.id)
        tokens = [make_oauth_token(client.id, user.id) for _ in range(3)]
        theirs = make_oauth_token(other.id, user.id, scopes=frozenset(Permission))
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.clients.add(client)
            tx.identity.clients.add(other)
            for token in [*tokens, theirs]:
                tx.identity.oauth_tokens.add(token)
        with storage.transaction() as tx:
            repo = tx.identity.oauth_tokens
            assert repo.get_by_hash(theirs.token_hash) == theirs
            repo.revoke(tokens[0].token_hash, T0)
            repo.revoke("missing", T0)
            assert repo.revoke_client(client.id, T0 + timedelta(minutes=1)) == 2
            assert repo.get_by_hash(tokens[0].token_hash).revoked_at == T0
            assert repo.get_by_hash(tokens[1].token_hash).revoked_at == T0 + timedelta(minutes=1)
            assert repo.get_by_hash(theirs.token_hash).revoked_at is None
            with pytest.raises(NotFoundError):
                repo.get_by_hash("missing")

    def test_custom_roles_round_trip_update_and_delete(self, storage: Storage) -> None:
        """Roles come back equal, by name; ``update`` replaces; names are unique."""
        role = make_role("librarian")
        with storage.transaction() as tx:
            tx.identity.roles.add(make_role("auditor", permissions=frozenset()))
            tx.identity.roles.add(role)
        changed = attrs.evolve(role, permissions=frozenset({Permission.VIEW}), description="")
        with storage.transaction() as tx:
            roles = tx.identity.roles
            assert roles.get("librarian") == role
            assert [r.name for r in roles.all()] == ["auditor", "librarian"]
            roles.update(changed)
            assert roles.get("librarian") == changed
            roles.delete("auditor")
            with pytest.raises(NotFoundError):
                roles.get("auditor")
            with pytest.raises(NotFoundError):
                roles.delete("auditor")
        with pytest.raises(ConflictError), storage.transaction() as tx:
            tx.identity.roles.add(role)

    def test_grants_are_listed_by_resource_and_subject(self, storage: Storage) -> None:
        """Grants list sorted; ``restricted`` names resources with a grant of the action."""
        lab, vault = make_resource(name="Lab"), make_resource(name="Vault")
        store(storage, lab, vault)
        see = make_grant(lab.id, "role:staff", Action.SEE)
        book = make_grant(lab.id, "user:ann", Action.BOOK)
        approve = make_grant(vault.id, "role:staff", Action.APPROVE)
        with storage.transaction() as tx:
            for grant in (approve, book, see):
                tx.identity.grants.add(grant)
        with storage.transaction() as tx:
            grants = tx.identity.grants
            assert list(grants.for_resource(lab.id)) == sorted(
                [see, book], key=lambda g: g.action.value
            )
            assert set(grants.for_subjects(["role:staff", "user:bob"])) == {see, approve}
            assert grants.restricted(Action.SEE) == {lab.id}
            assert grants.restricted(Action.APPROVE) == {vault.id}
            grants.delete(attrs.evolve(see, created_at=T0 + timedelta(days=1)))
            assert grants.restricted(Action.SEE) == frozenset()
            with pytest.raises(NotFoundError):
                grants.delete(see)
        with pytest.raises(ConflictError), storage.transaction() as tx:
            tx.identity.grants.add(book)

    @pytest.mark.slow
    def test_concurrent_uses_of_one_secret_have_one_winner(self, storage: Storage) -> None:
        """A refresh token, a backup code, a code and an invite: of N racers exactly one wins."""
        user = make_user()
        client = make_client(user.id)
        token = make_refresh_token(user.id)
        code = make_code(client.id, user.id)
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.clients.add(client)
            tx.identity.sessions.add(token)
            tx.identity.codes.add(code)
            tx.identity.mfa.replace(user.id, ["f" * 64])

        def refresh() -> None:
            with storage.transaction() as tx:
                _refuse_unless(tx.identity.sessions.use(token.token_hash, T0))

        def backup() -> None:
            with storage.transaction() as tx:
                _refuse_unless(tx.identity.mfa.use(user.id, "f" * 64, T0))

        def redeem() -> None:
            with storage.transaction() as tx:
                try:
                    tx.identity.codes.take(code.code_hash, T0)
                except NotFoundError as exc:
                    raise ConflictError("lost the race") from exc

        for attempt in (refresh, backup, redeem):
            outcomes = race([functools.partial(attempt) for _ in range(RACERS)])
            assert outcomes.count(WON) == 1, f"{attempt.__name__}: {outcomes}"
            assert set(outcomes) <= {WON, CONFLICT}, f"{attempt.__name__}: {outcomes}"
