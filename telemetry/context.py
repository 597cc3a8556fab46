"""Shared run context: the persistent anonymous client_id, this run's session, runtime, version."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ._log import get_logger
from ._version import installed_version
from .policy import EventPolicy

log = get_logger("telemetry.context")

TABLE = "analytics_metadata"
CLIENT_ID_KEY = "client_id"
_BUSY_TIMEOUT_SECONDS = 5.0
"""How long a first run waits for another process creating the same database (normally ~0)."""


@dataclass(frozen=True)
class Session:
    """One run of the application: a UUID for the design's API and the start time vendors need.

    GA4 wants a numeric session id (the start in seconds), Amplitude the start in milliseconds;
    both are derived from the same start time, so every provider describes the same session.
    """

    id: str
    started_at: float

    @property
    def number(self) -> int:
        """The session start in whole seconds (GA4's `session_id`)."""
        return int(self.started_at)

    @property
    def start_ms(self) -> int:
        """The session start in milliseconds (Amplitude's `session_id`)."""
        return int(self.started_at * 1000)

    @classmethod
    def start(cls) -> Session:
        return cls(str(uuid.uuid4()), time.time())


@dataclass(frozen=True)
class ClientIdResult:
    """The client_id, and whether it is persisted (with the reason when it is not)."""

    client_id: str
    persisted: bool
    problem: str | None = None


def load_or_create_client_id(db_path: str | os.PathLike[str]) -> ClientIdResult:
    """Read the client_id from SQLite, creating it once; never raises.

    `INSERT OR IGNORE` on the primary key makes creation atomic: when several processes create the
    database at the same moment, exactly one random id wins and every process reads that one.
    """
    candidate = str(uuid.uuid4())
    try:
        path = Path(db_path)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, value TEXT)")
            connection.execute(
                f"INSERT OR IGNORE INTO {TABLE} (key, value) VALUES (?, ?)",
                (CLIENT_ID_KEY, candidate),
            )
            row = connection.execute(f"SELECT value FROM {TABLE} WHERE key = ?", (CLIENT_ID_KEY,)).fetchone()
        finally:
            connection.close()
    except (sqlite3.Error, OSError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        log.warning(
            "client_id database %s unusable (%s); using an in-memory id for this run",
            db_path,
            problem,
        )
        return ClientIdResult(candidate, persisted=False, problem=problem)
    if row is None or not isinstance(row[0], str) or not row[0]:
        problem = "client_id row is empty"
        log.warning("client_id database %s: %s; using an in-memory id for this run", db_path, problem)
        return ClientIdResult(candidate, persisted=False, problem=problem)
    return ClientIdResult(row[0], persisted=True)


def detect_runtime() -> str:
    """ "streamlit" only inside a running Streamlit app, "cli" otherwise.

    Importing streamlit is not enough (a CLI that imports it is still a CLI): a Streamlit runtime
    must exist in this process.
    """
    if "streamlit" not in sys.modules:
        return "cli"
    try:
        from streamlit import runtime

        return "streamlit" if runtime.exists() else "cli"
    except Exception:  # noqa: BLE001 - any streamlit version quirk means "not a Streamlit run"
        return "cli"


class TelemetryContext:
    """State shared by every provider of one manager: identity, session, runtime, version.

    With analytics disabled the database is neither created nor read and client_id is None.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None,
        analytics_enabled: bool = True,
        *,
        app_version: str | None = None,
        runtime: str | None = None,
        policy: EventPolicy | str | None = None,
    ) -> None:
        self._db_path = None if db_path is None else str(db_path)
        self._policy = EventPolicy.coerce(policy)
        self._analytics_enabled = analytics_enabled
        self._session = Session.start()
        self._runtime = runtime or detect_runtime()
        self._lib_version = app_version or installed_version()
        self._client_id: str | None = None
        self._persisted = False
        self._storage_problem: str | None = None
        if analytics_enabled:
            if self._db_path is None:
                self._client_id = str(uuid.uuid4())
                self._storage_problem = "no database path given"
            else:
                result = load_or_create_client_id(self._db_path)
                self._client_id = result.client_id
                self._persisted = result.persisted
                self._storage_problem = result.problem

    @property
    def client_id(self) -> str | None:
        return self._client_id

    @property
    def session(self) -> Session:
        return self._session

    @property
    def session_id(self) -> str:
        return self._session.id

    @property
    def runtime(self) -> str:
        return self._runtime

    @property
    def lib_version(self) -> str:
        return self._lib_version

    @property
    def analytics_enabled(self) -> bool:
        return self._analytics_enabled

    @property
    def db_path(self) -> str | None:
        return self._db_path

    @property
    def client_id_persisted(self) -> bool:
        return self._persisted

    @property
    def policy(self) -> EventPolicy:
        """The manager's event policy (mode, schema, PII guard), read by providers on the worker."""
        return self._policy

    @policy.setter
    def policy(self, value: EventPolicy | str | None) -> None:
        self._policy = EventPolicy.coerce(value)

    @property
    def storage_problem(self) -> str | None:
        """Why the client_id is not persisted, or None when it is."""
        return self._storage_problem

    def __repr__(self) -> str:
        return (
            f"TelemetryContext(db_path={self._db_path!r}, analytics_enabled={self._analytics_enabled}, "
            f"runtime={self._runtime!r}, lib_version={self._lib_version!r})"
        )
