"""The offline queue: encoded events kept in SQLite (WAL) until the vendor has accepted them.

A worker writes each event here before sending it and deletes it once delivered, so events that
could not be delivered, or were in flight when the process ended or was killed, are sent by the
next run. Delivery is at least once; vendors deduplicate on the events' dedup ids. The file is
bounded: beyond `max_events` per provider the oldest events are evicted and counted; once the
backlog of an outage has been delivered, the file gives its space back (incremental vacuum).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .._log import get_logger

log = get_logger("telemetry.delivery.spool")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS telemetry_spool ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " provider TEXT NOT NULL,"
    " route TEXT NOT NULL,"
    " body BLOB NOT NULL,"
    " created REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS telemetry_spool_provider ON telemetry_spool (provider, id)",
)


SHRINK_AFTER_DELETED = 1_000
"""Rows deleted since the last shrink before an emptied queue returns its pages to the disk."""
_INCREMENTAL = 2
"""`PRAGMA auto_vacuum` of a file whose freed pages `incremental_vacuum` can hand back."""
VACUUM_MAX_LIVE_BYTES = 8 * 1024 * 1024
"""A file whose data outside the spool exceeds this is never rewritten by a VACUUM: that would
hold the app's own database locked for as long as the rewrite takes."""


class SpoolError(Exception):
    """The offline queue cannot be used; the worker falls back to memory-only delivery."""


@dataclass(frozen=True)
class SpooledEvent:
    id: int
    route: str
    body: bytes


class Spool:
    """One provider's share of the offline-queue database. Used by one thread at a time."""

    def __init__(self, path: str | os.PathLike[str], provider: str, max_events: int) -> None:
        self.path = Path(path)
        self.provider = provider
        self.max_events = max(1, max_events)
        self._connection: sqlite3.Connection | None = None
        self._count = 0
        self._deleted = 0
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(
                    self.path, timeout=5.0, isolation_level=None, check_same_thread=False
                )
                # Takes effect on a new file only (before its first table): freed pages can then
                # be handed back with `incremental_vacuum` instead of a full VACUUM.
                connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                for statement in _SCHEMA:
                    connection.execute(statement)
                (self._count,) = connection.execute(
                    "SELECT COUNT(*) FROM telemetry_spool WHERE provider = ?", (self.provider,)
                ).fetchone()
            except (sqlite3.Error, OSError) as exc:
                raise SpoolError(f"{type(exc).__name__}: {exc}") from exc
            self._connection = connection
        return self._connection

    @property
    def count(self) -> int:
        """Events of this provider on disk (as last seen by this process)."""
        return self._count

    def append(self, rows: list[tuple[str, bytes]]) -> tuple[int, int]:
        """Store `(route, body)` rows; returns (id of the last row, oldest rows evicted)."""
        if not rows:
            return (self.last_id(), 0)
        with self._lock:
            connection = self._connect()
            now = time.time()
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(
                    "INSERT INTO telemetry_spool (provider, route, body, created) VALUES (?, ?, ?, ?)",
                    [(self.provider, route, body, now) for route, body in rows],
                )
                (last,) = connection.execute("SELECT last_insert_rowid()").fetchone()
                self._count += len(rows)
                evicted = max(0, self._count - self.max_events)
                if evicted:
                    connection.execute(
                        "DELETE FROM telemetry_spool WHERE id IN (SELECT id FROM telemetry_spool"
                        " WHERE provider = ? ORDER BY id LIMIT ?)",
                        (self.provider, evicted),
                    )
                    self._count -= evicted
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(connection)
                raise SpoolError(f"{type(exc).__name__}: {exc}") from exc
            return (int(last), evicted)

    def head(self, limit: int, max_bytes: int, after: int = 0) -> list[SpooledEvent]:
        """The oldest events with an id above `after`, of one route, at most `limit` of them and
        `max_bytes` in total."""
        with self._lock:
            try:
                rows = (
                    self._connect()
                    .execute(
                        "SELECT id, route, body FROM telemetry_spool"
                        " WHERE provider = ? AND id > ? ORDER BY id LIMIT ?",
                        (self.provider, after, limit),
                    )
                    .fetchall()
                )
            except sqlite3.Error as exc:
                raise SpoolError(f"{type(exc).__name__}: {exc}") from exc
        batch: list[SpooledEvent] = []
        size = 0
        for row_id, route, body in rows:
            if batch and (route != batch[0].route or size + len(body) + 1 > max_bytes):
                break
            batch.append(SpooledEvent(int(row_id), str(route), bytes(body)))
            size += len(body) + 1
        return batch

    def delete(self, ids: list[int]) -> None:
        """Forget delivered (or rejected) events."""
        if not ids:
            return
        with self._lock:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany("DELETE FROM telemetry_spool WHERE id = ?", [(i,) for i in ids])
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(connection)
                raise SpoolError(f"{type(exc).__name__}: {exc}") from exc
            self._count = max(0, self._count - len(ids))
            self._deleted += len(ids)

    def shrink_if_drained(self) -> None:
        """Once a backlog is delivered (the queue empty after many deletions), give its space back."""
        if self._count or self._deleted < SHRINK_AFTER_DELETED:
            return
        with self._lock:
            self._shrink(self._connect())

    def _shrink(self, connection: sqlite3.Connection) -> None:
        """Give the pages of a delivered backlog back to the disk (database and WAL file)."""
        self._deleted = 0
        try:
            if connection.execute("PRAGMA auto_vacuum").fetchone() != (_INCREMENTAL,):
                self._convert_when_empty(connection)
            # executescript steps the pragma to the end; execute() would free one page.
            connection.executescript("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
        except sqlite3.Error as exc:  # another process may hold the file: try after the next backlog
            log.debug("%s: offline queue not shrunk (%s)", self.provider, exc)

    @staticmethod
    def _convert_when_empty(connection: sqlite3.Connection) -> None:
        """A file that had tables before the spool (the app's own database, or an older spool)
        cannot shrink incrementally; once no provider has a row left, one VACUUM converts it,
        provided the data it must rewrite is small (`VACUUM_MAX_LIVE_BYTES`)."""
        if connection.execute("SELECT 1 FROM telemetry_spool LIMIT 1").fetchone() is not None:
            return
        (pages,) = connection.execute("PRAGMA page_count").fetchone()
        (free,) = connection.execute("PRAGMA freelist_count").fetchone()
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        if (pages - free) * page_size > VACUUM_MAX_LIVE_BYTES:
            return
        connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
        connection.execute("VACUUM")

    def purge(self) -> None:
        """Delete every event of this provider (the user opted out)."""
        with self._lock:
            connection = self._connect()
            try:
                connection.execute("DELETE FROM telemetry_spool WHERE provider = ?", (self.provider,))
            except sqlite3.Error as exc:
                raise SpoolError(f"{type(exc).__name__}: {exc}") from exc
            self._count = 0
            self._shrink(connection)  # the opted-out events' pages leave the disk too

    def pending_upto(self, last_id: int) -> int:
        """How many of this provider's events with id <= `last_id` are still on disk."""
        with self._lock:
            try:
                (count,) = (
                    self._connect()
                    .execute(
                        "SELECT COUNT(*) FROM telemetry_spool WHERE provider = ? AND id <= ?",
                        (self.provider, last_id),
                    )
                    .fetchone()
                )
            except sqlite3.Error as exc:
                raise SpoolError(f"{type(exc).__name__}: {exc}") from exc
            return int(count)

    def last_id(self) -> int:
        with self._lock:
            try:
                (value,) = (
                    self._connect()
                    .execute(
                        "SELECT COALESCE(MAX(id), 0) FROM telemetry_spool WHERE provider = ?",
                        (self.provider,),
                    )
                    .fetchone()
                )
            except sqlite3.Error as exc:
                raise SpoolError(f"{type(exc).__name__}: {exc}") from exc
            return int(value)

    def has_pending(self) -> bool:
        """Whether a previous run left events for this provider (opens the database)."""
        try:
            self._connect()
        except SpoolError:
            return False
        return self._count > 0

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._connection.close()
                self._connection = None

    def forget_connection(self) -> None:
        """After fork: the parent's connection must not be used or closed by the child."""
        self._connection = None
        self._lock = threading.Lock()


def _rollback(connection: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        connection.execute("ROLLBACK")
