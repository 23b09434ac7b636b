"""Idempotency keys: a retried create returns the first answer and changes nothing twice.

A client sends ``Idempotency-Key: <unique string>`` on a POST that creates something. The first
request with a key claims it; its response (anything but a 5xx) is stored against the key, the
acting user and a fingerprint of the request. A retry with the same key and the same request gets
that response again; the same key with another request is refused (422), and a retry that arrives
while the first is still running is told to wait (409). Claims of a request that died are taken
over after ``LEASE``; stored answers are forgotten after the store's time to live.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from reserver.core.errors import StorageError

LEASE = timedelta(seconds=60)
MAX_KEY = 200


@attrs.frozen
class StoredResponse:
    """What the first request answered."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


class IdempotencyError(Exception):
    """A key that cannot be used: ``in_progress`` (retry later), or reused for another request."""

    def __init__(self, message: str, *, in_progress: bool) -> None:
        super().__init__(message)
        self.in_progress = in_progress


class IdempotencyStore(Protocol):
    """Where idempotency keys and first answers live; safe to share between threads.

    - ``begin`` claims ``(owner, key)`` and returns ``None`` (the caller then calls ``finish``
      or ``abandon``), or returns the stored answer of an earlier request with the same
      fingerprint. It raises ``IdempotencyError`` when the key is claimed by a running request
      (``in_progress``) or was used with another fingerprint. Exactly one of many concurrent
      callers claims a key, across processes for shared stores.
    - A claim older than ``LEASE`` without an answer is taken over; entries older than the
      store's time to live are forgotten.
    """

    def begin(self, owner: str, key: str, fingerprint: str, now: datetime) -> StoredResponse | None:
        """Claim ``(owner, key)`` or return the answer stored for it."""

    def finish(self, owner: str, key: str, response: StoredResponse) -> None:
        """Store the answer of a claimed key."""

    def abandon(self, owner: str, key: str) -> None:
        """Release a claim that has no answer, so that a retry runs again."""


@attrs.define
class _Entry:
    fingerprint: str
    claimed_at: datetime
    response: StoredResponse | None = None


def _verdict(
    fingerprint: str, stored_fingerprint: str, response: StoredResponse | None
) -> StoredResponse:
    if stored_fingerprint != fingerprint:
        raise IdempotencyError(
            "this Idempotency-Key was already used for a different request", in_progress=False
        )
    if response is None:
        raise IdempotencyError(
            "a request with this Idempotency-Key is still running; retry shortly", in_progress=True
        )
    return response


class InMemoryIdempotencyStore:
    """Idempotency keys in this process's memory (tests, single-process servers)."""

    def __init__(self, ttl: timedelta = timedelta(hours=24)) -> None:
        self._ttl = ttl
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def begin(self, owner: str, key: str, fingerprint: str, now: datetime) -> StoredResponse | None:
        """Claim the key or return its stored answer (see ``IdempotencyStore``)."""
        with self._lock:
            self._forget(now)
            entry = self._entries.get((owner, key))
            if entry is None or (entry.response is None and now - entry.claimed_at > LEASE):
                self._entries[(owner, key)] = _Entry(fingerprint, now)
                return None
            return _verdict(fingerprint, entry.fingerprint, entry.response)

    def _forget(self, now: datetime) -> None:
        stale = [k for k, e in self._entries.items() if now - e.claimed_at > self._ttl]
        for k in stale:
            del self._entries[k]

    def finish(self, owner: str, key: str, response: StoredResponse) -> None:
        """Store the answer of the claimed key."""
        with self._lock:
            entry = self._entries.get((owner, key))
            if entry is not None:
                entry.response = response

    def abandon(self, owner: str, key: str) -> None:
        """Release the claim of a request that failed, so a retry runs again."""
        with self._lock:
            entry = self._entries.get((owner, key))
            if entry is not None and entry.response is None:
                del self._entries[(owner, key)]


_metadata = sa.MetaData()
_keys = sa.Table(
    "web_idempotency_keys",
    _metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(MAX_KEY), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False),  # POSIX seconds: no time zone to lose
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("content_type", sa.String(100), nullable=True),
    sa.Column("headers", sa.Text, nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=True),
)
_TABLE_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtextextended('web_idempotency_keys', 0))")


def _engine_url(url: str) -> str:
    """The same URL reserver-sql accepts, with the psycopg 3 driver for bare PostgreSQL URLs."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url.removeprefix(bare)
    return url


class SqlIdempotencyStore:
    """Idempotency keys in their own table (``web_idempotency_keys``) through SQLAlchemy Core.

    The primary key on (owner, key) decides which of several processes claims a key. The table
    is made on first use; the workers of a server that open their stores together may race to
    make it, so PostgreSQL makes it under an advisory lock (its ``IF NOT EXISTS`` alone is not
    safe against a concurrent creator), and SQLite's ``IF NOT EXISTS`` is decided under its
    write lock.
    """

    def __init__(self, engine: sa.Engine, ttl: timedelta = timedelta(hours=24)) -> None:
        self._engine = engine
        self._ttl = ttl
        with _translate_errors(), engine.begin() as db:
            if db.dialect.name == "postgresql":
                db.execute(_TABLE_LOCK)
            db.execute(sa.schema.CreateTable(_keys, if_not_exists=True))

    @classmethod
    def from_url(cls, url: str, ttl: timedelta = timedelta(hours=24)) -> SqlIdempotencyStore:
        """Open the store on the database that ``url`` names."""
        engine = sa.create_engine(_engine_url(url), pool_pre_ping=True)
        try:
            return cls(engine, ttl)
        except BaseException:
            engine.dispose()
            raise

    def begin(self, owner: str, key: str, fingerprint: str, now: datetime) -> StoredResponse | None:
        """Claim the key or return its stored answer (see ``IdempotencyStore``)."""
        at = now.timestamp()
        mine = (_keys.c.owner == owner) & (_keys.c.key == key)
        with _translate_errors(), self._engine.begin() as db:
            db.execute(
                sa.delete(_keys).where(mine & (_keys.c.claimed_at < at - self._ttl.total_seconds()))
            )
            db.execute(
                sa.delete(_keys).where(
                    mine
                    & _keys.c.status.is_(None)
                    & (_keys.c.claimed_at < at - LEASE.total_seconds())
                )
            )
        try:
            with self._engine.begin() as db:
                db.execute(
                    sa.insert(_keys).values(
                        owner=owner, key=key, fingerprint=fingerprint, claimed_at=at
                    )
                )
            return None
        except sa_exc.IntegrityError:
            pass
        except sa_exc.SQLAlchemyError as exc:
            raise StorageError(f"idempotency store: {exc}") from exc
        with _translate_errors(), self._engine.connect() as db:
            row = db.execute(sa.select(_keys).where(mine)).one_or_none()
        if row is None:  # forgotten between the two statements: claim it afresh
            return self.begin(owner, key, fingerprint, now)
        stored = None
        if row.status is not None:
            headers = tuple((str(k), str(v)) for k, v in json.loads(row.headers or "[]"))
            stored = StoredResponse(row.status, bytes(row.body or b""), row.content_type, headers)
        return _verdict(fingerprint, row.fingerprint, stored)

    def finish(self, owner: str, key: str, response: StoredResponse) -> None:
        """Store the answer of the claimed key."""
        with _translate_errors(), self._engine.begin() as db:
            db.execute(
                sa.update(_keys)
                .where((_keys.c.owner == owner) & (_keys.c.key == key))
                .values(
                    status=response.status,
                    content_type=response.content_type,
                    headers=json.dumps(response.headers),
                    body=response.body,
                )
            )

    def abandon(self, owner: str, key: str) -> None:
        """Release the claim of a request that failed, so a retry runs again."""
        with _translate_errors(), self._engine.begin() as db:
            db.execute(
                sa.delete(_keys).where(
                    (_keys.c.owner == owner) & (_keys.c.key == key) & _keys.c.status.is_(None)
                )
            )

    def close(self) -> None:
        """Release the store's connections."""
        self._engine.dispose()


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except sa_exc.SQLAlchemyError as exc:
        raise StorageError(f"idempotency store: {exc}") from exc


if TYPE_CHECKING:
    _memory: type[IdempotencyStore] = InMemoryIdempotencyStore
    _sql: type[IdempotencyStore] = SqlIdempotencyStore
