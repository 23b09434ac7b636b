"""In-memory storage: the whole state in dicts, one lock, and an undo log for all or nothing.

A unit of work holds the storage's lock from start to end, so units never interleave and the
overlap check and the write are atomic. Every write records how to undo itself; a unit that
raises replays those records in reverse. Models are frozen, so storing references is safe and
no unit ever copies the state.
"""

from reserver.core.adapters.memory.storage import InMemoryStorage

__all__ = ["InMemoryStorage"]
