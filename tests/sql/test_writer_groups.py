"""Group commit: the writers of one process that queue behind one share its transaction."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from reserver.core.errors import StorageError
from reserver.core.models import Resource
from reserver.core.queries import PageRequest, ResourceQuery
from reserver.core.spans import TimeSpan
from reserver.core.testing.builders import at, make_group, make_reservation, make_resource, store
from reserver.sql import SqlStorage
from reserver.sql.engine import READONLY
from reserver.sql.storage import SqlTransaction
from reserver.sql.writers import MAX_MEMBERS, Member, WriterGroups

WAIT = 10.0  # for the test's own waits; a writer waits for its turn three times as long


class Transactions:
    """A fake database: what the groups opened, committed and rolled back, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.opened = 0
        self.fail_begin: BaseException | None = None
        self.fail_commit: BaseException | None = None
        self.begin_gate = threading.Event()
        self.begin_gate.set()
        self.on_commit: Callable[[], None] = lambda: None

    def begin(self) -> int:
        self.begin_gate.wait(WAIT)
        if self.fail_begin is not None:
            raise self.fail_begin
        self.opened += 1
        self.log.append(f"begin {self.opened}")
        return self.opened

    def commit(self, handle: int) -> None:
        self.on_commit()
        if self.fail_commit is not None:
            raise self.fail_commit
        self.log.append(f"commit {handle}")

    def abort(self, handle: int) -> None:
        self.log.append(f"abort {handle}")

    def groups(self, wait: float = 3 * WAIT) -> WriterGroups[int]:
        return WriterGroups(None, wait, begin=self.begin, commit=self.commit, abort=self.abort)


@pytest.fixture
def db() -> Transactions:
    return Transactions()


class Attempt(threading.Thread):
    """A thread that runs ``attempt`` once and keeps how it ended."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True, name=name)
        self.error: BaseException | None = None
        self.done = threading.Event()

    def attempt(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        try:
            self.attempt()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def outcome(self) -> str:
        """``"ok"``, or the name of the exception it ended with."""
        assert self.done.wait(WAIT), f"{self.name} never finished"
        return "ok" if self.error is None else type(self.error).__name__


class Writer(Attempt):
    """One writer: takes its turn, runs ``body`` in it, and keeps what happened."""

    def __init__(self, groups: WriterGroups[int], name: str, body: Callable[[Member[int]], None]):
        super().__init__(name)
        self.groups, self.body = groups, body
        self.handle: int | None = None

    def attempt(self) -> None:
        with self.groups.turn() as member:
            self.handle = member.shared
            self.body(member)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@contextmanager
def first_writer_holding(groups: WriterGroups[int]) -> Iterator[tuple[Writer, threading.Event]]:
    """A writer in its turn until the event is set: the others queue behind it."""
    release = threading.Event()
    writer = Writer(groups, "first", lambda member: _wait(release))
    writer.start()
    wait_until(lambda: writer.handle is not None)
    try:
        yield writer, release
    finally:
        release.set()


def queued(groups: WriterGroups[Any], count: int) -> None:
    """Wait until ``count`` writers of ``groups`` wait for their turn."""
    wait_until(lambda: groups.waiting() == count)


def _wait(event: threading.Event) -> None:
    assert event.wait(WAIT)


def start(groups: WriterGroups[int], name: str, body: Callable[[Member[int]], None]) -> Writer:
    writer = Writer(groups, name, body)
    writer.start()
    return writer


def noop(member: Member[int]) -> None:
    pass


def behind_first(
    groups: WriterGroups[int],
    *bodies: Callable[[Member[int]], None],
    writers: list[Writer] | None = None,
) -> list[Writer]:
    """A first writer holds its turn while ``bodies`` queue behind it, in order; then all run.

    Returns the writers, the first one first (into ``writers`` as they start, if given).
    """
    started = [] if writers is None else writers
    with first_writer_holding(groups) as (first, release):
        started.append(first)
        for n, body in enumerate(bodies, 1):
            started.append(start(groups, f"w{n}", body))
            queued(groups, n)
        release.set()
    return started


def test_writers_that_queue_behind_one_share_its_transaction_and_its_commit(
    db: Transactions,
) -> None:
    groups = db.groups()
    order: list[str] = []
    writers: list[Writer] = []
    finished_before_commit: list[bool] = []
    db.on_commit = lambda: finished_before_commit.extend(w.done.is_set() for w in writers)

    def records(name: str, member: Member[int]) -> None:
        order.append(name)

    bodies = [functools.partial(records, f"w{n}") for n in range(3)]
    behind_first(groups, *bodies, writers=writers)
    assert [w.outcome() for w in writers] == ["ok"] * 4
    assert db.log == ["begin 1", "commit 1"]
    assert {w.handle for w in writers} == {1}
    assert order == ["w0", "w1", "w2"]
    assert finished_before_commit == [False] * 4, "a member's unit ended before the COMMIT"


def test_a_member_that_fails_leaves_the_others_to_commit(db: Transactions) -> None:
    groups = db.groups()

    def fails(member: Member[int]) -> None:
        raise ValueError("refused")

    writers = behind_first(groups, fails, noop)
    assert [w.outcome() for w in writers] == ["ok", "ValueError", "ok"]
    assert db.log == ["begin 1", "commit 1"]


def test_a_failed_commit_fails_every_member_that_succeeded(db: Transactions) -> None:
    groups = db.groups()
    db.fail_commit = OSError("disk full")
    first, second = behind_first(groups, noop)
    assert [first.outcome(), second.outcome()] == ["StorageError", "StorageError"]
    assert "disk full" in str(first.error)
    assert isinstance(second.error, StorageError)
    assert second.error.__cause__ is db.fail_commit


def test_a_spoiled_transaction_rolls_back_the_whole_group(db: Transactions) -> None:
    """A member that could not undo its own work fails everyone in the group, done or not."""
    groups = db.groups()

    def spoils(member: Member[int]) -> None:
        member.spoil(RuntimeError("savepoint lost"))
        raise RuntimeError("its own failure")

    first, spoiling, waiting = behind_first(groups, spoils, noop)
    outcomes = [first.outcome(), spoiling.outcome(), waiting.outcome()]
    assert outcomes == ["StorageError", "RuntimeError", "StorageError"]
    assert waiting.handle is None, "a member ran in a spoiled transaction"
    assert db.log == ["begin 1", "abort 1"]
    # The next writer gets a fresh transaction.
    assert start(groups, "after", noop).outcome() == "ok"
    assert db.log[-2:] == ["begin 2", "commit 2"]


def test_a_group_that_cannot_open_fails_its_members_and_the_next_one_opens(
    db: Transactions,
) -> None:
    groups = db.groups()
    db.fail_begin = OSError("database is locked")
    db.begin_gate.clear()
    leader = start(groups, "leader", noop)
    queued(groups, 1)
    member = start(groups, "member", noop)
    queued(groups, 2)
    db.begin_gate.set()
    assert [leader.outcome(), member.outcome()] == ["OSError", "StorageError"]
    assert member.error is not None
    assert member.error.__cause__ is db.fail_begin
    assert groups.waiting() == 0
    db.fail_begin = None
    assert start(groups, "later", noop).outcome() == "ok"
    assert db.log == ["begin 1", "commit 1"]


def test_a_writer_that_waits_too_long_gives_up_and_the_group_goes_on(
    db: Transactions,
) -> None:
    groups = db.groups(wait=0.2)
    with first_writer_holding(groups) as (first, release):
        impatient = start(groups, "impatient", noop)
        assert impatient.outcome() == "StorageError"
        assert "busy" in str(impatient.error)
        assert groups.waiting() == 0
        release.set()
    assert first.outcome() == "ok"
    assert db.log == ["begin 1", "commit 1"]


def test_a_full_group_closes_and_the_next_opens_after_its_commit(db: Transactions) -> None:
    groups = db.groups()
    first, *writers = behind_first(groups, *[noop] * (MAX_MEMBERS + 1))
    assert [w.outcome() for w in [first, *writers]] == ["ok"] * (MAX_MEMBERS + 2)
    # The first group held MAX_MEMBERS writers; the second began only after its COMMIT.
    assert db.log == ["begin 1", "commit 1", "begin 2", "commit 2"]
    assert [w.handle for w in writers].count(1) == MAX_MEMBERS - 1


# -- on SQLite: savepoints in one transaction, one COMMIT --------------------------------------


class StoredWriter(Attempt):
    """A writing unit of work of ``storage`` in a thread of its own."""

    def __init__(self, storage: SqlStorage, work: Callable[[SqlTransaction], None]) -> None:
        super().__init__("writer")
        self.storage, self.work = storage, work
        self.entered = threading.Event()
        self.saved_on_return: bool | None = None
        self.added: list[Resource] = []

    def attempt(self) -> None:
        with self.storage.transaction() as tx:
            self.entered.set()
            self.work(tx)
        self.saved_on_return = self._all_saved()

    def add(self, tx: SqlTransaction, resource: Resource) -> None:
        tx.resources.add(resource)
        self.added.append(resource)

    def _all_saved(self) -> bool:
        """Whether another connection, outside the group, sees every resource it added."""
        with self.storage.transaction(readonly=True) as tx:
            found = tx.resources.get_many([r.id for r in self.added])
        return len(found) == len(self.added)


@pytest.fixture
def sqlite_storage(sqlite_url: str) -> Iterator[SqlStorage]:
    storage = SqlStorage.from_url(sqlite_url)
    yield storage
    storage.close()


def writers_of(storage: SqlStorage) -> WriterGroups[Any]:
    writers = storage._writers  # the test watches the queue fill
    assert writers is not None
    return writers


def in_one_group(
    storage: SqlStorage, *works: Callable[[StoredWriter, SqlTransaction], None]
) -> list[StoredWriter]:
    """Run ``works`` as writers of one group, in order: the first waits for the rest to queue."""
    release = threading.Event()
    writers: list[StoredWriter] = []

    def first(tx: SqlTransaction) -> None:
        assert release.wait(WAIT)
        works[0](writers[0], tx)

    writers.append(StoredWriter(storage, first))
    writers[0].start()
    assert writers[0].entered.wait(WAIT)
    for n, work in enumerate(works[1:], 1):
        writers.append(StoredWriter(storage, functools.partial(_as_writer, writers, n, work)))
        writers[n].start()
        queued(writers_of(storage), n)
    release.set()
    for writer in writers:
        writer.outcome()
    return writers


def _as_writer(
    writers: list[StoredWriter],
    n: int,
    work: Callable[[StoredWriter, SqlTransaction], None],
    tx: SqlTransaction,
) -> None:
    work(writers[n], tx)


def adds(writer: StoredWriter, tx: SqlTransaction) -> None:
    writer.add(tx, make_resource())


def commits_of(storage: SqlStorage) -> list[int]:
    """A list that counts the COMMITs of writing units from now on."""
    commits: list[int] = []

    def count(connection: sa.Connection) -> None:
        if not connection.get_execution_options().get(READONLY, False):
            commits.append(1)

    sa.event.listen(storage.engine, "commit", count)
    return commits


def test_sqlite_writers_of_a_group_commit_once_and_return_only_when_saved(
    sqlite_storage: SqlStorage,
) -> None:
    commits = commits_of(sqlite_storage)
    writers = in_one_group(sqlite_storage, adds, adds, adds, adds)
    assert [w.outcome() for w in writers] == ["ok"] * 4
    assert len(commits) == 1
    assert [w.saved_on_return for w in writers] == [True] * 4


def test_a_writer_that_fails_in_a_group_undoes_its_own_work_only(
    sqlite_storage: SqlStorage,
) -> None:
    def adds_then_fails(writer: StoredWriter, tx: SqlTransaction) -> None:
        adds(writer, tx)
        tx.resources.add(writer.added[0])  # a taken id: the database refuses it

    writers = in_one_group(sqlite_storage, adds, adds_then_fails, adds)
    assert [w.outcome() for w in writers] == ["ok", "ConflictError", "ok"]
    with sqlite_storage.transaction(readonly=True) as tx:
        stored = {r.id for r in tx.resources.find(ResourceQuery(), PageRequest(limit=10)).items}
    assert stored == {writers[0].added[0].id, writers[2].added[0].id}


def test_a_first_writer_that_fails_rolls_back_alone_and_its_group_goes_on(
    sqlite_storage: SqlStorage,
) -> None:
    """The first writer works without a savepoint; its failure must not touch the others."""
    commits = commits_of(sqlite_storage)

    def adds_then_fails(writer: StoredWriter, tx: SqlTransaction) -> None:
        adds(writer, tx)
        raise RuntimeError("refused")

    writers = in_one_group(sqlite_storage, adds_then_fails, adds, adds)
    assert [w.outcome() for w in writers] == ["RuntimeError", "ok", "ok"]
    assert [w.saved_on_return for w in writers[1:]] == [True, True]
    with sqlite_storage.transaction(readonly=True) as tx:
        stored = {r.id for r in tx.resources.find(ResourceQuery(), PageRequest(limit=10)).items}
    assert stored == {writers[1].added[0].id, writers[2].added[0].id}
    assert len(commits) == 1


def test_after_a_first_writer_rolled_back_the_next_is_still_all_or_nothing(
    sqlite_storage: SqlStorage,
) -> None:
    """The transaction is begun again for the next writer, not left in autocommit mode."""
    resource = make_resource()
    store(sqlite_storage, resource)
    kept = make_reservation(resource.id, at(5), at(6))

    def fails(writer: StoredWriter, tx: SqlTransaction) -> None:
        raise RuntimeError("refused")

    def books_twice_then_clashes(writer: StoredWriter, tx: SqlTransaction) -> None:
        tx.reservations.add(make_reservation(resource.id, at(0), at(1)))
        tx.reservations.add(make_reservation(resource.id, at(0.5), at(1.5)))

    def books(writer: StoredWriter, tx: SqlTransaction) -> None:
        tx.reservations.add(kept)

    writers = in_one_group(sqlite_storage, fails, books_twice_then_clashes, books)
    assert [w.outcome() for w in writers] == ["RuntimeError", "ConflictError", "ok"]
    with sqlite_storage.transaction(readonly=True) as tx:
        held = tx.reservations.blocking_overlaps([resource.id], TimeSpan(at(-1), at(24)))
    assert [r.id for r in held] == [kept.id]


def test_a_group_whose_commit_fails_saves_nothing_and_leaves_no_cached_row_behind(
    sqlite_storage: SqlStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later writer read what an earlier one changed; the caches must never keep it.

    The failed group took the counter to the value the next committed change gives it: a
    cache filled inside the group would answer for that change with the lost name.
    """
    group = make_group(name="first")
    store(sqlite_storage, group)
    seen: list[str] = []

    def renames(writer: StoredWriter, tx: SqlTransaction) -> None:
        tx.groups.update(attrs.evolve(group, name="lost"))

    def reads(writer: StoredWriter, tx: SqlTransaction) -> None:
        seen.append(tx.groups.get(group.id).name)
        fail_next_commit(sqlite_storage, monkeypatch)

    writers = in_one_group(sqlite_storage, renames, reads)
    assert [w.outcome() for w in writers] == ["StorageError", "StorageError"]
    assert seen == ["lost"]
    with sqlite_storage.transaction() as tx:
        assert tx.groups.get(group.id).name == "first"
        tx.groups.update(attrs.evolve(group, name="third"))
    with sqlite_storage.transaction(readonly=True) as tx:
        assert tx.groups.get(group.id).name == "third"


def fail_next_commit(storage: SqlStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    dialect = storage.engine.dialect
    real = dialect.do_commit

    def fails_once(dbapi_connection: Any) -> None:
        monkeypatch.setattr(dialect, "do_commit", real)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(dialect, "do_commit", fails_once)


def test_a_writer_that_ends_the_shared_transaction_fails_its_whole_group(
    sqlite_storage: SqlStorage,
) -> None:
    def ends_it(writer: StoredWriter, tx: SqlTransaction) -> None:
        adds(writer, tx)
        driver: Any = tx._db.connection.connection.driver_connection
        driver.execute("ROLLBACK")
        raise RuntimeError("broke the transaction")

    writers = in_one_group(sqlite_storage, adds, ends_it, adds)
    assert [w.outcome() for w in writers] == ["StorageError", "RuntimeError", "StorageError"]
    with sqlite_storage.transaction(readonly=True) as tx:
        assert tx.resources.find(ResourceQuery(), PageRequest(limit=10)).items == ()
    store(sqlite_storage, make_resource())  # the next group writes as usual


def test_writers_keep_a_connection_of_their_own_and_readers_never_switch_query_only(
    sqlite_storage: SqlStorage,
) -> None:
    """Alternating read-only and writing units send no ``PRAGMA query_only`` once warm."""
    store(sqlite_storage, make_resource())
    with sqlite_storage.transaction(readonly=True):
        pass
    pragmas: list[str] = []

    def watch(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "query_only" in statement:
            pragmas.append(statement)

    sa.event.listen(sqlite_storage.engine, "before_cursor_execute", watch)
    for _ in range(5):
        store(sqlite_storage, make_resource())
        with sqlite_storage.transaction(readonly=True) as tx:
            assert tx.resources.find(ResourceQuery(), PageRequest(limit=10)).items
    assert pragmas == []
