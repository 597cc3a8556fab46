"""The offline queue: nothing undelivered is lost, across runs, exits and kill -9."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from telemetry.delivery import spool as spool_module

from .conftest import AMPLITUDE_KEY, FAST, ManagerFactory

ROOT = Path(__file__).resolve().parents[2]


def _spooled(tmp_path: Path, **changes: Any) -> Any:
    return dataclasses.replace(FAST, spool_path=tmp_path / "spool.sqlite", **changes)


def _insert_ids(fake: Any) -> list[str]:
    return [e.insert_id for e in fake.events(vendor="amplitude")]


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _on_disk(tmp_path: Path) -> int:
    """Bytes of the spool's database and WAL file."""
    return sum(p.stat().st_size for p in tmp_path.glob("spool.sqlite*"))


def _backlog_then_delivered(fake: Any, make_manager: ManagerFactory, tmp_path: Path) -> int:
    """3,000 events of about half a kilobyte spooled during an outage, then delivered; returns
    the bytes on disk at the peak. The space is given back in the background after the flush."""
    fake.faults.add("status", status=503)
    manager = make_manager(delivery=_spooled(tmp_path, queue_capacity=5_000))
    for i in range(3_000):
        manager.track_event("offline_event", {"n": i, "padding": "p" * 400})
    assert _wait_until(lambda: manager.stats()["Amplitude"]["spooled"] == 3_000)
    peak = _on_disk(tmp_path)
    fake.faults.clear()
    assert manager.flush(10.0)
    assert manager.stats()["Amplitude"]["spooled"] == 0
    return peak


def _run_child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


CHILD = """
    import sys, time
    from telemetry import AmplitudeConfig, DeliveryOptions, TelemetryManager
    base, db, spool, count, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    manager = TelemetryManager.from_configs(
        db, True, configs=[AmplitudeConfig(api_key="AMPLITUDE_KEY", endpoint=base)], environ={},
        delivery=DeliveryOptions(spool_path=spool, flush_interval=0.05, request_timeout=0.5,
                                 backoff_base=0.05, backoff_max=0.2, exit_grace=0.5))
    for i in range(count):
        manager.track_event("offline_event", {"n": i})
    if mode == "wait-spooled":
        while manager.stats()["Amplitude"]["spooled"] < count:
            time.sleep(0.01)
    print("tracked", flush=True)
    if mode == "wait-spooled":
        time.sleep(60)
""".replace("AMPLITUDE_KEY", AMPLITUDE_KEY)


class TestUndeliveredEventsSurviveTheRun:
    def test_events_the_backend_refused_are_delivered_by_the_next_run_exactly_once(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        fake_server.faults.add("status", status=503)
        first = make_manager(delivery=_spooled(tmp_path))
        for i in range(30):
            first.track_event("offline_event", {"n": i})
        assert first.flush(0.5) is False
        first.shutdown(0.2)
        assert first.stats()["Amplitude"]["spooled"] == 30
        fake_server.faults.clear()
        second = make_manager(delivery=_spooled(tmp_path))
        fake_server.wait_for(30, vendor="amplitude")
        assert second.flush(5.0)
        ids = _insert_ids(fake_server)
        assert len(ids) == 30
        assert len(set(ids)) == 30
        assert second.stats()["Amplitude"]["spooled"] == 0

    def test_an_outage_never_blocks_draining_so_nothing_is_dropped_from_memory(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        fake_server.faults.add("status", status=503)
        manager = make_manager(delivery=_spooled(tmp_path, queue_capacity=500))
        for i in range(3_000):
            manager.track_event("offline_event", {"n": i})
            if i % 250 == 0:
                manager.flush(0.05)
        _wait_until(lambda: manager.stats()["Amplitude"]["spooled"] >= 3_000)
        stats = manager.stats()["Amplitude"]
        assert stats["dropped"] == {}, stats
        assert stats["spooled"] == 3_000
        fake_server.faults.clear()
        assert manager.flush(10.0)
        assert len(set(_insert_ids(fake_server))) == 3_000

    def test_the_offline_queue_is_bounded_and_evicts_the_oldest(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        fake_server.faults.add("status", status=503)
        manager = make_manager(delivery=_spooled(tmp_path, spool_max_events=50))
        for i in range(80):
            manager.track_event("offline_event", {"n": i})
        manager.flush(0.5)
        stats = manager.stats()["Amplitude"]
        assert stats["spooled"] == 50
        assert stats["dropped"] == {"spool_full": 30}
        fake_server.faults.clear()
        assert manager.flush(5.0)
        numbers = sorted(e.params["n"] for e in fake_server.events(vendor="amplitude"))
        assert numbers == list(range(30, 80))

    def test_the_file_gives_its_space_back_once_the_backlog_is_delivered(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        peak = _backlog_then_delivered(fake_server, make_manager, tmp_path)
        assert peak > 1_000_000  # 3,000 events of about half a kilobyte
        assert _wait_until(lambda: _on_disk(tmp_path) < peak // 10)

    def test_a_file_made_without_auto_vacuum_gives_its_space_back_too(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        """A spool in a file that already had tables (the app's own database, or one made before
        this spool set auto_vacuum) is converted once its backlog is gone, and then shrinks."""
        with closing(sqlite3.connect(tmp_path / "spool.sqlite")) as app_db:
            app_db.execute("CREATE TABLE app_data (value TEXT)")
            app_db.execute("INSERT INTO app_data VALUES ('kept')")
            app_db.commit()

        peak = _backlog_then_delivered(fake_server, make_manager, tmp_path)

        assert peak > 1_000_000
        assert _wait_until(lambda: _on_disk(tmp_path) < peak // 10)
        with closing(sqlite3.connect(tmp_path / "spool.sqlite")) as app_db:
            assert app_db.execute("SELECT value FROM app_data").fetchall() == [("kept",)]
            assert app_db.execute("PRAGMA auto_vacuum").fetchone() == (2,)

    def test_a_large_app_database_is_never_rewritten_to_shrink_the_queue(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A VACUUM would lock the app's database while it rewrites it: beyond the bound, the
        file keeps its mode and its pages (as before); only the WAL is truncated."""
        monkeypatch.setattr(spool_module, "VACUUM_MAX_LIVE_BYTES", 64 * 1024)
        with closing(sqlite3.connect(tmp_path / "spool.sqlite")) as app_db:
            app_db.execute("CREATE TABLE app_data (value TEXT)")
            app_db.executemany("INSERT INTO app_data VALUES (?)", [("x" * 1000,)] * 200)
            app_db.commit()

        _backlog_then_delivered(fake_server, make_manager, tmp_path)

        wal = tmp_path / "spool.sqlite-wal"
        assert _wait_until(lambda: not wal.exists() or wal.stat().st_size == 0)  # the shrink ran
        with closing(sqlite3.connect(tmp_path / "spool.sqlite")) as app_db:
            assert app_db.execute("SELECT COUNT(*) FROM app_data").fetchone() == (200,)
            assert app_db.execute("PRAGMA auto_vacuum").fetchone() == (0,)

    def test_an_unusable_offline_queue_falls_back_to_memory_delivery(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        manager = make_manager(delivery=dataclasses.replace(FAST, spool_path=blocker / "spool.sqlite"))
        manager.track_event("offline_event", {"n": 1})
        assert manager.flush(5.0)
        assert len(fake_server.events(vendor="amplitude")) == 1


class TestEventsInFlightAtTheEnd:
    def test_events_of_a_process_killed_with_sigkill_are_delivered_by_the_next_run(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        fault = fake_server.faults.add("hang")
        spool = tmp_path / "spool.sqlite"
        child = _run_child(
            CHILD, fake_server.base_url, str(tmp_path / "t.sqlite"), str(spool), "25", "wait-spooled"
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "tracked", child.stderr
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
        finally:
            child.kill()
        assert child.returncode == -signal.SIGKILL
        fault.remove()
        make_manager(delivery=_spooled(tmp_path), db=tmp_path / "t.sqlite")
        received = fake_server.wait_for(25, vendor="amplitude", timeout=10)
        assert len({e.insert_id for e in received}) == 25

    def test_a_process_exiting_with_a_black_holed_backend_ends_within_the_grace_and_the_next_run_delivers(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        fault = fake_server.faults.add("hang")
        spool = tmp_path / "spool.sqlite"
        child = _run_child(CHILD, fake_server.base_url, str(tmp_path / "t.sqlite"), str(spool), "1", "exit")
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "tracked"
        started = time.monotonic()
        child.wait(timeout=30)
        elapsed = time.monotonic() - started
        assert child.returncode == 0, child.stderr.read() if child.stderr else ""
        assert elapsed < 0.5 + 1.5, f"exit took {elapsed:.2f} s with a 0.5 s grace"
        fault.remove()
        make_manager(delivery=_spooled(tmp_path), db=tmp_path / "t.sqlite")
        (event,) = fake_server.wait_for(1, vendor="amplitude", timeout=10)
        assert event.name == "offline_event"


def _ga4_backlog(fake: Any, make_manager: ManagerFactory, tmp_path: Path, count: int) -> None:
    """Leave `count` GA4 events on disk: a first run spools them while GA4 answers 503."""
    fault = fake.faults.add("status", status=503, route="/mp/collect")
    first = make_manager(ga4=True, delivery=_spooled(tmp_path))
    for n in range(count):
        first.track_event("from_disk", {"n": n})
    assert _wait_until(lambda: first.stats()["GA4"]["spooled"] == count)
    first.shutdown(0.2)
    fault.remove()
    fake.clear()


def _delivered_ga4(fake: Any) -> list[Any]:
    return [r for r in fake.requests(path="/mp/collect") if r.status == 204]


def _ga4_numbers(fake: Any) -> list[int]:
    return sorted(e.params["n"] for e in fake.events("ga4") if e.accepted)


class TestRequestsInFlightFromDisk:
    def test_a_backlog_on_disk_is_sent_with_two_requests_in_flight(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        _ga4_backlog(fake_server, make_manager, tmp_path, 100)
        fake_server.faults.add("latency", latency=0.3, route="/mp/collect")
        manager = make_manager(ga4=True, delivery=_spooled(tmp_path))
        assert manager.flush(10.0)

        first, second, *rest = _delivered_ga4(fake_server)
        assert len(rest) == 2
        # Each answer takes 0.3 s; the second request arrived before the first was answered.
        assert second.time - first.time < 0.25
        assert _ga4_numbers(fake_server) == list(range(100))
        assert manager.stats()["GA4"]["spooled"] == 0

    def test_a_batch_split_while_the_next_is_in_flight_is_resent_in_halves_and_nothing_twice(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        _ga4_backlog(fake_server, make_manager, tmp_path, 100)
        # The first request waits 0.3 s for its 413, so the second is answered before it.
        fake_server.faults.add("413", route="/mp/collect", count=1, latency=0.3)
        manager = make_manager(ga4=True, delivery=_spooled(tmp_path))
        assert manager.flush(10.0)

        assert [r.status for r in fake_server.requests(path="/mp/collect")].count(413) == 1
        # GA4 has no dedup id: a batch sent twice would show as events received twice.
        assert _ga4_numbers(fake_server) == list(range(100))
        # The second batch; the first 24 of the split one in halves of 12, its last event with the
        # next 24 events, and the rest (the fake records them as they end, so sorted).
        assert sorted(len(r.events) for r in _delivered_ga4(fake_server)) == [1, 12, 12, 25, 25, 25]
        stats = manager.stats()["GA4"]
        assert (stats["sent"], stats["spooled"], stats["dropped"]) == (100, 0, {})

    def test_requests_failing_together_lengthen_the_backoff_once(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        _ga4_backlog(fake_server, make_manager, tmp_path, 50)
        # Two rounds in which both requests in flight fail. Counted once per round, the second
        # wait is 0.4 to 0.8 s; counted per request it would be 1.6 to 3.2 s.
        fake_server.faults.add("status", status=503, route="/mp/collect", count=4)
        slow = _spooled(tmp_path, backoff_base=0.4, backoff_max=10.0)
        manager = make_manager(ga4=True, delivery=slow)
        fake_server.wait_for(50, vendor="ga4", timeout=10)

        attempts = fake_server.requests(path="/mp/collect")
        assert [r.status for r in attempts] == [503, 503, 503, 503, 204, 204]
        assert attempts[4].time - attempts[3].time < 1.2
        assert _ga4_numbers(fake_server) == list(range(50))
        assert manager.stats()["GA4"]["retried"] == 100

    def test_a_retry_after_on_a_later_request_in_flight_is_honoured(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        _ga4_backlog(fake_server, make_manager, tmp_path, 50)
        # The first request fails slowly with a 503 (a short backoff); the second, answered
        # first, asks with a 429 for 1 s.
        fake_server.faults.add("status", status=503, route="/mp/collect", count=1, latency=0.2)
        fake_server.faults.add("429", route="/mp/collect", count=1, retry_after=1)
        options = _spooled(tmp_path, backoff_base=0.02, retry_after_max=5.0)
        make_manager(ga4=True, delivery=options)
        fake_server.wait_for(50, vendor="ga4", timeout=10)

        first, second, third, _ = fake_server.requests(path="/mp/collect")
        assert sorted([first.status, second.status]) == [429, 503]
        assert third.time - max(first.time, second.time) >= 0.9
        assert _ga4_numbers(fake_server) == list(range(50))


class TestFlushInterruptsBackoff:
    def test_flush_cuts_a_long_backoff_short_in_memory_mode(
        self, fake_server: Any, make_manager: ManagerFactory
    ) -> None:
        fake_server.faults.add("status", status=503, count=1)
        manager = make_manager(delivery=dataclasses.replace(FAST, backoff_base=30.0, backoff_max=30.0))
        manager.track_event("backoff_event")
        fake_server.wait_for_requests(1)
        started = time.monotonic()
        assert manager.flush(5.0)
        assert time.monotonic() - started < 5.0
        assert len(fake_server.events(vendor="amplitude")) == 1

    def test_flush_cuts_a_long_backoff_short_with_the_offline_queue(
        self, fake_server: Any, make_manager: ManagerFactory, tmp_path: Path
    ) -> None:
        fake_server.faults.add("status", status=503, count=1)
        manager = make_manager(delivery=_spooled(tmp_path, backoff_base=30.0, backoff_max=30.0))
        manager.track_event("backoff_event")
        fake_server.wait_for_requests(1)
        assert manager.flush(5.0)
        assert len(fake_server.events(vendor="amplitude")) == 1
