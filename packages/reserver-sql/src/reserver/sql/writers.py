"""Queue SQLite writers, and let the writers of one process share one COMMIT (group commit).

SQLite admits one writer at a time, and a writer that finds the database locked sleeps in
growing steps (up to 100 ms) before it tries again, so under contention some writers wait for
seconds (bench/RESULTS.md). The writers of all processes queue on an advisory file lock beside
the database (``<db>-writer.lock``) taken with short polls, so the database's own lock is almost
always free when a writer reaches ``BEGIN IMMEDIATE``.

Within a process, the writers that queue while one writes join its *group*: they run one after
another in the transaction its first member opened, each in a savepoint of its own (the
storage's part), and the last one commits for all. One BEGIN, one COMMIT (one fsync with
``synchronous=FULL``) and one pass of the file lock then serve the whole group; under load they
were half of the time a writer held the database (bench/RESULTS.md). A member's unit of work
ends only after the group's COMMIT, so what it acknowledges is as durable as before.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import attrs

from reserver.core.errors import StorageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: writers of one process still queue
    fcntl = None  # type: ignore[assignment]

H = TypeVar("H")
_FIRST_POLL, _LAST_POLL = 0.0001, 0.0005
# A group closes to newcomers at this size, so its first member's wait stays bounded.
MAX_MEMBERS = 8


@attrs.define(eq=False)
class _Group(Generic[H]):
    """One shared transaction and the writers taking turns in it."""

    shared: H | None = None  # set once the transaction is open
    queue: deque[int] = attrs.Factory(deque)  # tickets of the members still to run, in order
    running: bool = False
    size: int = 0
    failed_to_open: BaseException | None = None
    # Why the transaction can hold no more work (a member could not undo its own).
    spoiled: BaseException | None = None
    ended: bool = False
    commit_failure: BaseException | None = None
    lock_fd: int | None = None


@attrs.define(eq=False)
class Member(Generic[H]):
    """A writer's turn in its group: the shared transaction, and a way to report it broken."""

    shared: H
    _group: _Group[H]
    _changed: threading.Condition

    def spoil(self, reason: BaseException) -> None:
        """The shared transaction lost work that is not this member's: the group rolls back."""
        with self._changed:
            if self._group.spoiled is None:
                self._group.spoiled = reason


class WriterGroups(Generic[H]):
    """One group of writers at a time per database file, across threads and processes.

    ``begin`` opens the shared transaction (and returns what members need of it); ``commit``
    and ``abort`` end it. Each may raise; ``commit`` must leave nothing open when it does.
    """

    def __init__(
        self,
        database: str | None,
        wait: float,
        *,
        begin: Callable[[], H],
        commit: Callable[[H], None],
        abort: Callable[[H], None],
    ) -> None:
        usable = database not in (None, "", ":memory:") and fcntl is not None
        self._path = f"{database}-writer.lock" if usable else None
        self._wait = wait
        self._begin, self._commit, self._abort = begin, commit, abort
        # Held by the group whose transaction is open, from its BEGIN to its COMMIT.
        self._writing = threading.Lock()
        self._changed = threading.Condition()
        self._forming: _Group[H] | None = None  # the group a new writer joins
        self._tickets = itertools.count()
        self._waiting = 0

    def waiting(self) -> int:
        """How many writers of this process wait for their turn now."""
        with self._changed:
            return self._waiting

    @contextmanager
    def turn(self) -> Iterator[Member[H]]:
        """Wait for this writer's turn in a group; it ends after the group's COMMIT.

        Raises:
            StorageError: the turn did not come in time, the group's transaction could not be
                opened, or its COMMIT failed (then nothing of this writer's was kept).
        """
        deadline = time.monotonic() + self._wait
        group, ticket, leads = self._join()
        if leads:
            self._open(group, ticket, deadline)
        self._take_turn(group, ticket, deadline)
        assert group.shared is not None
        done = False
        try:
            yield Member(group.shared, group, self._changed)
            done = True
        finally:
            self._leave(group, done)

    def _join(self) -> tuple[_Group[H], int, bool]:
        with self._changed:
            group = self._forming
            leads = group is None
            if group is None:
                group = self._forming = _Group()
            ticket = next(self._tickets)
            group.queue.append(ticket)
            self._waiting += 1
            group.size += 1
            if group.size >= MAX_MEMBERS:
                self._forming = None
            return group, ticket, leads

    def _open(self, group: _Group[H], ticket: int, deadline: float) -> None:
        """Take the database for ``group`` and open its transaction; on failure fail them all."""
        try:
            if not self._writing.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise StorageError("the database stayed busy; try again")
            try:
                fd = None if self._path is None else _lock_file(self._path, deadline)
                try:
                    shared = self._begin()
                except BaseException:
                    _unlock_file(fd)
                    raise
            except BaseException:
                self._writing.release()
                raise
        except BaseException as exc:
            with self._changed:
                group.failed_to_open = exc
                group.queue.remove(ticket)
                self._waiting -= 1
                if self._forming is group:
                    self._forming = None
                self._changed.notify_all()
            raise
        with self._changed:
            group.shared, group.lock_fd = shared, fd
            self._changed.notify_all()

    def _take_turn(self, group: _Group[H], ticket: int, deadline: float) -> None:
        with self._changed:
            while True:
                if group.failed_to_open is not None or group.spoiled is not None:
                    group.queue.remove(ticket)
                    self._waiting -= 1
                    cause = group.failed_to_open or group.spoiled
                    raise StorageError("the database could not take this write; try again") from (
                        cause
                    )
                if group.shared is not None and not group.running and group.queue[0] == ticket:
                    group.queue.popleft()
                    self._waiting -= 1
                    group.running = True
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            group.queue.remove(ticket)
            self._waiting -= 1
            # The turn had come to it or was about to: if no member is left, it ends the group.
            ends = group.shared is not None and not group.running and not group.queue
            group.running = group.running or ends
        if ends:
            self._end(group)
        raise StorageError("the database stayed busy; try again")

    def _leave(self, group: _Group[H], done: bool) -> None:
        """Hand the turn on, or end the group if no member is left to run."""
        with self._changed:
            group.running = False
            hands_on = bool(group.queue) and group.spoiled is None
            if hands_on:
                self._changed.notify_all()
                if not done:
                    return  # its work was undone; the group's COMMIT is no concern of its own
                while not group.ended:
                    self._changed.wait()
                failure = group.commit_failure
            else:
                group.running = True  # nobody else may start while it ends
        if not hands_on:
            failure = self._end(group)
        if done and failure is not None:
            raise StorageError(
                f"the write was not saved: its group's transaction failed ({failure})"
            ) from failure

    def _end(self, group: _Group[H]) -> BaseException | None:
        """COMMIT the group's transaction (ROLLBACK if spoiled) and let the next group write."""
        with self._changed:
            if self._forming is group:
                self._forming = None
            spoiled = group.spoiled
        assert group.shared is not None
        failure: BaseException | None = spoiled
        try:
            if spoiled is None:
                self._commit(group.shared)
            else:
                self._abort(group.shared)
        except BaseException as exc:
            failure = exc
        finally:
            _unlock_file(group.lock_fd)
            self._writing.release()
            with self._changed:
                group.ended, group.commit_failure = True, failure
                self._changed.notify_all()
        return failure


def _lock_file(path: str, deadline: float) -> int:
    """Take the file lock that orders the writers of every process; its descriptor."""
    # Opened per group: a descriptor inherited across fork would share the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    poll = _FIRST_POLL
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StorageError("the database stayed busy; try again") from None
            time.sleep(poll)
            poll = min(poll * 2, _LAST_POLL)
        except BaseException:
            os.close(fd)
            raise


def _unlock_file(fd: int | None) -> None:
    if fd is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
