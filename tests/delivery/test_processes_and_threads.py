"""Many caller threads, and a real os.fork(): every event once, the parent's never from the child."""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any

import pytest

from .conftest import FAST, ManagerFactory


class TestCallerThreads:
    def test_events_from_many_threads_are_all_delivered_once(
        self, fake_server: Any, make_manager: ManagerFactory
    ) -> None:
        manager = make_manager(ga4=True)
        start = threading.Barrier(8)

        def track(worker: int) -> None:
            start.wait()
            for i in range(500):
                manager.track_event("threaded_event", {"worker": worker, "n": i})

        threads = [threading.Thread(target=track, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert manager.flush(10.0)
        amplitude = fake_server.events(vendor="amplitude")
        assert len({e.insert_id for e in amplitude}) == len(amplitude) == 4_000
        assert len(fake_server.events(vendor="ga4")) == 4_000
        for stats in manager.stats().values():
            assert stats["sent"] == 4_000
            assert stats["dropped"] == {}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")
class TestFork:
    def test_a_forked_child_delivers_its_own_events_and_never_the_parents(
        self, fake_server: Any, make_manager: ManagerFactory
    ) -> None:
        manager = make_manager(delivery=dataclasses.replace(FAST, flush_interval=30.0))
        for i in range(5):
            manager.track_event("parent_event", {"n": i})
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                manager.track_event("child_event")
                code = 0 if manager.flush(5.0) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        names = [e.name for e in fake_server.events(vendor="amplitude")]
        assert names == ["child_event"]
        assert manager.flush(5.0)
        names = sorted(e.name for e in fake_server.events(vendor="amplitude"))
        assert names == ["child_event"] + ["parent_event"] * 5
        prefixes = {e.insert_id.split("-")[0] for e in fake_server.events(vendor="amplitude")}
        assert len(prefixes) == 2, "the child must stamp its own dedup-id prefix"


class TestLazyThreads:
    def test_no_thread_starts_before_the_first_event(self, make_manager: ManagerFactory) -> None:
        manager = make_manager(ga4=True)
        assert manager.delivery.threads() == []
        manager.track_event("first_event")
        assert len(manager.delivery.threads()) == 2

    def test_no_thread_ever_starts_when_analytics_is_disabled(self, tmp_path: Any) -> None:
        from telemetry import AmplitudeConfig, TelemetryManager

        before = {t.ident for t in threading.enumerate()}
        manager = TelemetryManager.from_configs(
            tmp_path / "t.sqlite", False, AmplitudeConfig(api_key="AMP-KEY-unused-1"), environ={}
        )
        for i in range(10):
            manager.track_event("ignored", {"n": i})
        manager.flush(0.1)
        manager.shutdown(0.1)
        assert {t.ident for t in threading.enumerate()} - before == set()
        assert manager.delivery.threads() == []
