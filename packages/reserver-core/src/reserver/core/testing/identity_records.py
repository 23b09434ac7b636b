"""Identity storage contract, part one: users, sessions, backup codes, keys, invites, settings."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs
import pytest

from reserver.core.errors import ConflictError, NotFoundError
from reserver.core.identity.models import SessionId, UserQuery
from reserver.core.ids import UserId
from reserver.core.ports import Storage
from reserver.core.principals import Role
from reserver.core.queries import PageRequest
from reserver.core.testing.builders import T0
from reserver.core.testing.identity_builders import (
    FULL_USER_CHANGES,
    make_api_key,
    make_invite,
    make_refresh_token,
    make_user,
)


def _aware(*values: datetime | None) -> None:
    for value in values:
        assert value is None or value.utcoffset() is not None, f"{value!r} came back naive"


class IdentityRecordsContract:
    """Accounts and sessions keep what they are given and find it the way the ports promise."""

    def test_user_round_trips_with_every_field(self, storage: Storage) -> None:
        """A user comes back equal, every field and aware datetime included."""
        user = make_user("ada.lovelace", **FULL_USER_CHANGES)
        with storage.transaction() as tx:
            tx.identity.users.add(user)
        with storage.transaction(readonly=True) as tx:
            got = tx.identity.users.get(user.id)
        assert got == user
        _aware(got.created_at, got.password_changed_at)

    def test_users_are_found_by_username_and_email_case_insensitively(
        self, storage: Storage
    ) -> None:
        """Log-in names and e-mails match whatever their case."""
        user = make_user("grace", email="Grace.Hopper@Example.TEST")
        with storage.transaction() as tx:
            tx.identity.users.add(user)
        with storage.transaction(readonly=True) as tx:
            assert tx.identity.users.get_by_username("GRACE").id == user.id
            assert tx.identity.users.get_by_email("grace.hopper@example.test").id == user.id
            with pytest.raises(NotFoundError):
                tx.identity.users.get_by_username("nobody")
            with pytest.raises(NotFoundError):
                tx.identity.users.get_by_email("nobody@example.test")
            with pytest.raises(NotFoundError):
                tx.identity.users.get(UserId("missing"))

    @pytest.mark.parametrize("clash", ["username", "email", "id"])
    def test_a_taken_username_email_or_id_is_refused(self, storage: Storage, clash: str) -> None:
        """``add`` refuses a second user with the same name or e-mail in another case."""
        first = make_user("linus", email="linus@example.test")
        second = make_user("other", email="other@example.test")
        if clash == "username":
            second = attrs.evolve(second, username="linus")
        elif clash == "email":
            second = attrs.evolve(second, email="LINUS@example.test")
        else:
            second = attrs.evolve(second, id=first.id)
        with storage.transaction() as tx:
            tx.identity.users.add(first)
        with pytest.raises(ConflictError), storage.transaction() as tx:
            tx.identity.users.add(second)
        with storage.transaction(readonly=True) as tx:
            assert tx.identity.users.count() == 1

    def test_user_update_checks_the_version_and_moves_the_email(self, storage: Storage) -> None:
        """A stale version is refused; a new e-mail replaces the old one in look-ups."""
        user, other = make_user("ken"), make_user("dennis", email="dmr@example.test")
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.users.add(other)
        moved = attrs.evolve(user, email="ken@unix.test", version=2)
        with pytest.raises(ConflictError), storage.transaction() as tx:
            tx.identity.users.update(moved, expected_version=5)
        with storage.transaction() as tx:
            tx.identity.users.update(moved, expected_version=1)
        with storage.transaction(readonly=True) as tx:
            assert tx.identity.users.get_by_email("KEN@unix.test") == moved
            with pytest.raises(NotFoundError):
                tx.identity.users.get_by_email(str(user.email))
        taken = attrs.evolve(moved, email="DMR@example.test", version=3)
        with pytest.raises(ConflictError), storage.transaction() as tx:
            tx.identity.users.update(taken, expected_version=2)

    def test_find_filters_sorts_and_pages_users(self, storage: Storage) -> None:
        """``find`` filters on the storage's side, sorts by username and pages by cursor."""
        names = ["delta", "alpha", "echo", "charlie", "bravo"]
        users = {n: make_user(n) for n in names}
        users["echo"] = attrs.evolve(users["echo"], roles=frozenset({Role.ADMIN}), active=False)
        users["bravo"] = attrs.evolve(users["bravo"], custom_roles=frozenset({"librarian"}))
        with storage.transaction() as tx:
            for user in users.values():
                tx.identity.users.add(user)
        with storage.transaction(readonly=True) as tx:
            repo = tx.identity.users
            first = repo.find(UserQuery(), PageRequest(limit=2))
            assert [u.username for u in first.items] == ["alpha", "bravo"]
            second = repo.find(UserQuery(), PageRequest(limit=2, cursor=first.next_cursor))
            assert [u.username for u in second.items] == ["charlie", "delta"]
            last = repo.find(UserQuery(), PageRequest(limit=2, cursor=second.next_cursor))
            assert [u.username for u in last.items] == ["echo"]
            assert last.next_cursor is None
            assert [u.username for u in repo.find(UserQuery(text="HARL"), PageRequest()).items] == [
                "charlie"
            ]
            admins = repo.find(UserQuery(role=Role.ADMIN), PageRequest()).items
            assert [u.username for u in admins] == ["echo"]
            librarians = repo.find(UserQuery(custom_role="librarian"), PageRequest()).items
            assert [u.username for u in librarians] == ["bravo"]
            inactive = repo.find(UserQuery(active=False), PageRequest()).items
            assert [u.username for u in inactive] == ["echo"]
            assert repo.count() == 5

    def test_text_search_takes_wildcards_literally(self, storage: Storage) -> None:
        """``%`` and ``_`` in ``text`` are plain characters, not patterns."""
        with storage.transaction() as tx:
            tx.identity.users.add(make_user("a_b"))
            tx.identity.users.add(make_user("axb"))
        with storage.transaction(readonly=True) as tx:
            found = tx.identity.users.find(UserQuery(text="a_b"), PageRequest()).items
            assert [u.username for u in found] == ["a_b"]
            assert tx.identity.users.find(UserQuery(text="%"), PageRequest()).items == ()

    def test_refresh_tokens_rotate_once(self, storage: Storage) -> None:
        """``use`` succeeds once per token; revoked and unknown tokens are never usable."""
        user = make_user()
        token = make_refresh_token(user.id)
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.sessions.add(token)
        with storage.transaction(readonly=True) as tx:
            assert tx.identity.sessions.get_by_hash(token.token_hash) == token
            _aware(token.issued_at, token.expires_at)
            with pytest.raises(NotFoundError):
                tx.identity.sessions.get_by_hash("missing")
        with storage.transaction() as tx:
            assert tx.identity.sessions.use(token.token_hash, T0 + timedelta(minutes=5))
            assert not tx.identity.sessions.use(token.token_hash, T0 + timedelta(minutes=6))
            assert not tx.identity.sessions.use("missing", T0)
        with storage.transaction(readonly=True) as tx:
            used = tx.identity.sessions.get_by_hash(token.token_hash)
        assert used.used_at == T0 + timedelta(minutes=5)
        with pytest.raises(ConflictError), storage.transaction() as tx:
            tx.identity.sessions.add(token)

    def test_revoking_a_family_kills_the_session(self, storage: Storage) -> None:
        """Every token of a revoked family is revoked; unknown families count as revoked."""
        user = make_user()
        old = make_refresh_token(user.id, "fam-a", used_at=T0)
        new = make_refresh_token(user.id, "fam-a")
        other = make_refresh_token(user.id, "fam-b")
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            for token in (old, new, other):
                tx.identity.sessions.add(token)
        with storage.transaction() as tx:
            sessions = tx.identity.sessions
            assert not sessions.is_revoked(SessionId("fam-a"))
            assert sessions.is_revoked(SessionId("fam-unknown"))
            sessions.revoke_family(SessionId("fam-a"), T0 + timedelta(hours=1))
            assert sessions.is_revoked(SessionId("fam-a"))
            assert not sessions.is_revoked(SessionId("fam-b"))
            assert not sessions.use(new.token_hash, T0 + timedelta(hours=2))
            assert sessions.get_by_hash(old.token_hash).revoked_at == T0 + timedelta(hours=1)

    def test_a_token_joining_a_revoked_session_is_refused(self, storage: Storage) -> None:
        """A refresh that races a logout adds a token after the revoke: the session stays dead."""
        user = make_user()
        first = make_refresh_token(user.id, "fam-late")
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.sessions.add(first)
            tx.identity.sessions.revoke_family(SessionId("fam-late"), T0 + timedelta(hours=1))
        late = make_refresh_token(user.id, "fam-late")
        with storage.transaction() as tx:
            tx.identity.sessions.add(late)
        with storage.transaction() as tx:
            assert tx.identity.sessions.is_revoked(SessionId("fam-late"))
            assert not tx.identity.sessions.use(late.token_hash, T0 + timedelta(hours=2))

    def test_revoke_user_keeps_one_family_and_counts_the_others(self, storage: Storage) -> None:
        """``revoke_user`` ends every live family of the user except ``keep_family``."""
        user, someone = make_user(), make_user()
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.users.add(someone)
            for family in ("f1", "f2", "f3"):
                tx.identity.sessions.add(make_refresh_token(user.id, family))
            tx.identity.sessions.add(make_refresh_token(someone.id, "theirs"))
            tx.identity.sessions.revoke_family(SessionId("f3"), T0)
        with storage.transaction() as tx:
            count = tx.identity.sessions.revoke_user(
                user.id, T0 + timedelta(hours=1), keep_family=SessionId("f2")
            )
            assert count == 1
            assert tx.identity.sessions.is_revoked(SessionId("f1"))
            assert not tx.identity.sessions.is_revoked(SessionId("f2"))
            assert not tx.identity.sessions.is_revoked(SessionId("theirs"))

    def test_backup_codes_are_single_use_and_replaceable(self, storage: Storage) -> None:
        """A code works once; ``replace`` drops the old set; codes belong to one user."""
        user, other = make_user(), make_user()
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.users.add(other)
            tx.identity.mfa.replace(user.id, ["a" * 64, "b" * 64, "c" * 64])
        with storage.transaction() as tx:
            assert tx.identity.mfa.use(user.id, "a" * 64, T0)
            assert not tx.identity.mfa.use(user.id, "a" * 64, T0)
            assert not tx.identity.mfa.use(other.id, "b" * 64, T0)
            assert tx.identity.mfa.remaining(user.id) == 2
            tx.identity.mfa.replace(user.id, ["d" * 64])
            assert not tx.identity.mfa.use(user.id, "b" * 64, T0)
            assert tx.identity.mfa.remaining(user.id) == 1
            assert tx.identity.mfa.remaining(other.id) == 0

    def test_api_keys_round_trip_and_are_found_by_prefix(self, storage: Storage) -> None:
        """Keys come back equal, by id and prefix; updates keep; prefixes are unique."""
        user = make_user()
        first = make_api_key(user.id, expires_at=T0 + timedelta(days=30))
        second = make_api_key(user.id, created_at=T0 + timedelta(minutes=1))
        with storage.transaction() as tx:
            tx.identity.users.add(user)
            tx.identity.api_keys.add(second)
            tx.identity.api_keys.add(first)
        touched = attrs.evolve(first, last_used_at=T0 + timedelta(hours=1), revoked_at=T0)
        with storage.transaction() as tx:
            keys = tx.identity.api_keys
            assert keys.get(first.id) == first
            assert keys.get_by_prefix(second.prefix) == second
            assert list(keys.for_user(user.id)) == [first, second]
            keys.update(touched)
            with pytest.raises(NotFoundError):
                keys.get_by_prefix("nope")
        with storage.transaction(readonly=True) as tx:
            assert tx.identity.api_keys.get(first.id) == touched
        with pytest.raises(ConflictError), storage.transaction() as tx:
            tx.identity.api_keys.add(make_api_key(user.id, prefix=first.prefix))

    def test_invites_are_taken_once(self, storage: Storage) -> None:
        """``take`` returns an invite marked used, then refuses it."""
        admin = make_user()
        invite = make_invite(admin.id)
        with storage.transaction() as tx:
            tx.identity.users.add(admin)
            tx.identity.invites.add(invite)
        with storage.transaction() as tx:
            taken = tx.identity.invites.take(invite.code_hash, T0 + timedelta(hours=1))
            assert taken == attrs.evolve(invite, used_at=T0 + timedelta(hours=1))
            with pytest.raises(NotFoundError):
                tx.identity.invites.take(invite.code_hash, T0 + timedelta(hours=2))
            with pytest.raises(NotFoundError):
                tx.identity.invites.take("missing", T0)

    def test_settings_are_text_by_key(self, storage: Storage) -> None:
        """``get`` is ``None`` until ``put``; ``put`` overwrites."""
        with storage.transaction() as tx:
            assert tx.identity.settings.get("setup_complete") is None
            tx.identity.settings.put("setup_complete", "false")
            tx.identity.settings.put("setup_complete", "true")
        with storage.transaction(readonly=True) as tx:
            assert tx.identity.settings.get("setup_complete") == "true"

    def test_throttle_records_lists_clears_and_prunes(self, storage: Storage) -> None:
        """Failures come back oldest first from ``since``; ``clear`` and ``prune`` drop them."""
        times = [T0 + timedelta(seconds=s) for s in (30, 0, 60, 90)]
        with storage.transaction() as tx:
            for when in times:
                tx.identity.throttle.record("login:pair:ann|203.0.113.7", when)
            tx.identity.throttle.record("login:client:203.0.113.7", T0)
        with storage.transaction() as tx:
            throttle = tx.identity.throttle
            found = throttle.failures_since(
                "login:pair:ann|203.0.113.7", T0 + timedelta(seconds=30)
            )
            assert list(found) == sorted(times)[1:]
            _aware(*found)
            assert throttle.prune(T0 + timedelta(seconds=45)) == 3
            assert (
                list(throttle.failures_since("login:pair:ann|203.0.113.7", T0)) == sorted(times)[2:]
            )
            throttle.clear("login:pair:ann|203.0.113.7")
            assert list(throttle.failures_since("login:pair:ann|203.0.113.7", T0)) == []

    def test_identity_writes_roll_back_with_their_unit(self, storage: Storage) -> None:
        """A unit of work that raises leaves no user, session or setting behind."""
        user = make_user()

        class Boom(Exception):
            pass

        def write_then_fail() -> None:
            with storage.transaction() as tx:
                tx.identity.users.add(user)
                tx.identity.sessions.add(make_refresh_token(user.id))
                tx.identity.settings.put("setup_complete", "true")
                tx.identity.throttle.record("k", T0)
                raise Boom

        with pytest.raises(Boom):
            write_then_fail()
        with storage.transaction(readonly=True) as tx:
            assert tx.identity.users.count() == 0
            assert tx.identity.settings.get("setup_complete") is None
            assert list(tx.identity.throttle.failures_since("k", T0)) == []
