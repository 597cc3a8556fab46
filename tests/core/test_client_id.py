"""client_id: one UUID per database, persisted in SQLite, never a reason to raise."""

from __future__ import annotations

import json
import logging
import multiprocessing
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import telemetry.context
from telemetry import AnalyticsSettings, TelemetryManager

from ._support import (
    AMP_KEY,
    GA_SECRET,
    MEASUREMENT_ID,
    capture_telemetry_logs,
    clean_environ,
    ga4_config,
    run_python,
)
from .conftest import MakeManager

RACERS = 6


def stored_client_ids(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT key, value FROM analytics_metadata").fetchall()


def assert_uuid(value: Any) -> None:
    assert isinstance(value, str)
    assert str(uuid.UUID(value)) == value


def _race_for_client_id(db: str, barrier: Any, results: Any) -> None:
    """Runs in a spawned process: wait for every racer, then create the manager at the same moment."""
    barrier.wait(timeout=30)
    manager = TelemetryManager.from_configs(db, True, ga4_config=ga4_config("http://127.0.0.1:9"), environ={})
    results.put((manager.get_client_id(), manager.context.client_id_persisted))


class TestPersistence:
    def test_client_id_is_a_uuid_stored_in_the_analytics_metadata_table(
        self, make_manager: MakeManager, db_path: Path
    ) -> None:
        client_id = make_manager().get_client_id()

        assert_uuid(client_id)
        assert stored_client_ids(db_path) == [("client_id", client_id)]
        with sqlite3.connect(db_path) as connection:
            columns = connection.execute("PRAGMA table_info(analytics_metadata)").fetchall()
        assert [(name, kind, pk) for _, name, kind, _, _, pk in columns] == [
            ("key", "TEXT", 1),
            ("value", "TEXT", 0),
        ]

    def test_managers_on_the_same_database_share_the_client_id(
        self, make_manager: MakeManager, db_path: Path
    ) -> None:
        first = make_manager().get_client_id()
        second = make_manager().get_client_id()
        assert first == second
        assert make_manager(db=db_path.with_name("other.sqlite")).get_client_id() != first

    def test_an_existing_client_id_row_is_reused_not_replaced(
        self, make_manager: MakeManager, db_path: Path
    ) -> None:
        db_path.parent.mkdir(parents=True)
        existing = str(uuid.uuid4())
        with sqlite3.connect(db_path) as connection:
            connection.execute("CREATE TABLE analytics_metadata (key TEXT PRIMARY KEY, value TEXT)")
            connection.execute("INSERT INTO analytics_metadata VALUES ('other', 'kept')")
            connection.execute("INSERT INTO analytics_metadata VALUES ('client_id', ?)", (existing,))

        assert make_manager().get_client_id() == existing
        assert sorted(stored_client_ids(db_path)) == [("client_id", existing), ("other", "kept")]

    def test_every_process_using_the_database_gets_the_same_client_id(
        self, make_manager: MakeManager, db_path: Path
    ) -> None:
        code = """
            import sys
            from telemetry import TelemetryManager, GA4Config
            config = GA4Config(measurement_id="G-X", api_secret="s3cr3t", endpoint="http://127.0.0.1:9")
            manager = TelemetryManager.from_configs(sys.argv[1], True, ga4_config=config, environ={})
            print(manager.get_client_id())
        """
        first = run_python(code, str(db_path))
        second = run_python(code, str(db_path))
        assert first.returncode == second.returncode == 0, first.stderr + second.stderr

        assert_uuid(first.stdout.strip())
        assert first.stdout.strip() == second.stdout.strip() == make_manager().get_client_id()

    def test_processes_creating_a_new_database_at_the_same_moment_agree_on_one_id(
        self, db_path: Path
    ) -> None:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(RACERS)
        results = context.Queue()
        racers = [
            context.Process(target=_race_for_client_id, args=(str(db_path), barrier, results))
            for _ in range(RACERS)
        ]
        for racer in racers:
            racer.start()
        try:
            outcomes = [results.get(timeout=60) for _ in racers]
        finally:
            for racer in racers:
                racer.join(timeout=30)

        assert [racer.exitcode for racer in racers] == [0] * RACERS
        assert all(persisted for _, persisted in outcomes), outcomes
        ids = {client_id for client_id, _ in outcomes}
        assert len(ids) == 1, ids
        assert stored_client_ids(db_path) == [("client_id", ids.pop())]


@pytest.fixture(params=["unwritable", "locked", "corrupt"])
def unusable_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str]]:
    """A database path that cannot be used, and the words the warning must contain."""
    if request.param == "unwritable":
        blocker = tmp_path / "a-regular-file"
        blocker.write_text("not a directory")
        yield blocker / "database.sqlite", "unable to open database file"
    elif request.param == "locked":
        path = tmp_path / "locked.sqlite"
        monkeypatch.setattr(telemetry.context, "_BUSY_TIMEOUT_SECONDS", 0.1)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("CREATE TABLE unrelated (x)")
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield path, "locked"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    else:
        path = tmp_path / "corrupt.sqlite"
        path.write_bytes(b"\x00garbage, not SQLite\xff" * 512)
        yield path, "not a database"


class TestUnusableDatabase:
    def test_an_unusable_database_gives_an_in_memory_id_and_one_warning_saying_why(
        self, make_manager: MakeManager, fake_server: Any, unusable_db: tuple[Path, str]
    ) -> None:
        path, reason = unusable_db
        with capture_telemetry_logs(logging.WARNING) as logs:
            manager = make_manager(db=path)
            manager.track_event("still_tracked")
            assert manager.flush()
            received = fake_server.wait_for(2, kind="event")

        client_id = manager.get_client_id()
        assert_uuid(client_id)
        assert manager.context.client_id_persisted is False
        assert [e.client_id for e in received] == [client_id, client_id]
        assert len(logs.records) == 1, logs.lines
        assert logs.records[0].levelno == logging.WARNING
        assert reason in logs.records[0].getMessage()
        assert "in-memory" in logs.records[0].getMessage()

    def test_a_corrupt_database_file_is_left_untouched(
        self, make_manager: MakeManager, tmp_path: Path
    ) -> None:
        path = tmp_path / "corrupt.sqlite"
        garbage = b"\x00garbage, not SQLite\xff" * 512
        path.write_bytes(garbage)

        make_manager(db=path)

        assert path.read_bytes() == garbage


class TestNoDatabaseWhenNothingIsSent:
    @pytest.mark.parametrize(
        ("settings", "extra"),
        [
            pytest.param(AnalyticsSettings(analytics_enabled=False), {}, id="analytics_enabled-false"),
            pytest.param(object(), {}, id="settings-without-analytics_enabled"),
            pytest.param(AnalyticsSettings(), {"DO_NOT_TRACK": "1"}, id="DO_NOT_TRACK"),
            pytest.param(AnalyticsSettings(), {"TELEMETRY_DISABLED": "1"}, id="TELEMETRY_DISABLED"),
            pytest.param(AnalyticsSettings(), {"DO_NOT_TRACK": "true"}, id="DO_NOT_TRACK-true"),
        ],
    )
    def test_disabled_analytics_creates_no_database_and_sends_nothing(
        self, fake_server: Any, db_path: Path, settings: Any, extra: dict[str, str]
    ) -> None:
        env = {
            "GA_MEASUREMENT_ID": MEASUREMENT_ID,
            "GA_API_SECRET": GA_SECRET,
            "AMPLITUDE_API_KEY": AMP_KEY,
            "TELEMETRY_ENDPOINT": fake_server.base_url,
            **extra,
        }
        manager = TelemetryManager.from_settings(settings, db_path, environ=env)
        manager.track_event("must_not_leave")
        manager.track_page_view("/nowhere", "Nowhere")
        manager.flush()

        assert not db_path.parent.exists()
        assert manager.get_client_id() is None
        assert manager.enabled_providers == []
        assert {"GA4", "Amplitude"} <= set(manager.disabled_providers)
        assert manager.delivery.threads() == []
        assert fake_server.requests() == []
        manager.shutdown()

    def test_from_configs_with_analytics_disabled_creates_no_database_and_sends_nothing(
        self, fake_server: Any, db_path: Path
    ) -> None:
        manager = TelemetryManager.from_configs(
            db_path,
            analytics_enabled=False,
            ga4_config=ga4_config(fake_server.base_url),
            environ={},
        )
        manager.track_event("must_not_leave")
        manager.flush()

        assert not db_path.parent.exists()
        assert manager.get_client_id() is None
        assert manager.disabled_providers == {"GA4": "analytics disabled"}
        assert fake_server.requests() == []

    @pytest.mark.parametrize("value", ["0", "", "false"])
    def test_an_opt_out_variable_that_is_not_truthy_does_not_opt_out(
        self, fake_server: Any, db_path: Path, value: str
    ) -> None:
        env = {
            "GA_MEASUREMENT_ID": MEASUREMENT_ID,
            "GA_API_SECRET": GA_SECRET,
            "TELEMETRY_ENDPOINT": fake_server.base_url,
            "DO_NOT_TRACK": value,
            "TELEMETRY_DISABLED": value,
        }
        manager = TelemetryManager.from_settings(AnalyticsSettings(), db_path, environ=env)
        try:
            assert manager.enabled_providers == ["GA4"]
            assert db_path.exists()
        finally:
            manager.shutdown(timeout=0.5)

    def test_no_configured_provider_creates_no_database(self, db_path: Path) -> None:
        manager = TelemetryManager.from_settings(AnalyticsSettings(), db_path, environ={})

        assert not db_path.parent.exists()
        assert manager.get_client_id() is None
        assert manager.enabled_providers == []
        assert manager.disabled_providers["GA4"] == "GA_MEASUREMENT_ID is not set"
        assert manager.disabled_providers["Amplitude"] == "AMPLITUDE_API_KEY is not set"

    def test_do_not_track_in_the_process_environment_is_honoured(
        self, fake_server: Any, db_path: Path
    ) -> None:
        code = """
            import json, sys
            from telemetry import AnalyticsSettings, TelemetryManager
            manager = TelemetryManager.from_settings(AnalyticsSettings(), sys.argv[1])
            manager.track_event("must_not_leave")
            manager.flush()
            print(json.dumps([manager.get_client_id(), manager.disabled_providers]))
        """
        env = clean_environ(
            GA_MEASUREMENT_ID=MEASUREMENT_ID,
            GA_API_SECRET=GA_SECRET,
            AMPLITUDE_API_KEY=AMP_KEY,
            TELEMETRY_ENDPOINT=fake_server.base_url,
            DO_NOT_TRACK="1",
        )
        done = run_python(code, str(db_path), env=env)

        assert done.returncode == 0, done.stderr
        client_id, disabled = json.loads(done.stdout)
        assert client_id is None
        assert {"GA4", "Amplitude"} <= set(disabled)
        assert set(disabled.values()) == {"DO_NOT_TRACK is set"}
        assert not db_path.parent.exists()
        assert fake_server.requests() == []
