"""Sampling keeps or drops a client's events whole; rate limits cap a provider's event rate."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from telemetry.delivery.sampling import TokenBucket, sampled_in

from .conftest import ManagerFactory


class TestSampling:
    @given(client=st.uuids(), rate=st.floats(min_value=0.0, max_value=1.0))
    def test_the_decision_is_the_same_every_time_for_one_client(self, client: uuid.UUID, rate: float) -> None:
        first = sampled_in(str(client), "Amplitude", rate)
        assert all(sampled_in(str(client), "Amplitude", rate) == first for _ in range(3))

    def test_about_the_sampled_share_of_clients_is_kept(self) -> None:
        clients = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(2_000)]
        kept = sum(sampled_in(c, "Amplitude", 0.25) for c in clients)
        assert 0.20 * len(clients) < kept < 0.30 * len(clients)

    def test_a_client_kept_at_a_low_rate_is_kept_at_every_higher_rate(self) -> None:
        clients = [str(uuid.uuid4()) for _ in range(300)]
        for client in clients:
            if sampled_in(client, "GA4", 0.1):
                assert sampled_in(client, "GA4", 0.5)

    def test_a_provider_sampled_at_zero_sends_nothing_and_counts_every_event(
        self, fake_server: Any, make_manager: ManagerFactory
    ) -> None:
        manager = make_manager(sample_rate=0.0)
        for i in range(20):
            manager.track_event("sampled_event", {"n": i})
        manager.flush(1.0)
        assert fake_server.requests() == []
        assert manager.stats()["Amplitude"]["dropped"] == {"sampled_out": 20}

    def test_a_sampled_client_keeps_its_decision_across_runs(
        self, fake_server: Any, make_manager: ManagerFactory
    ) -> None:
        decisions = set()
        for _ in range(3):
            manager = make_manager(sample_rate=0.5)
            manager.track_event("sampled_event")
            manager.flush(2.0)
            decisions.add(manager.stats()["Amplitude"]["sent"])
            manager.shutdown(0.5)
        assert len(decisions) == 1

    def test_an_out_of_range_rate_disables_the_provider_with_the_reason(
        self, make_manager: ManagerFactory
    ) -> None:
        manager = make_manager(sample_rate=1.5)
        assert "sample_rate" in manager.disabled_providers["Amplitude"]


class TestRateLimits:
    def test_events_beyond_the_rate_are_dropped_and_counted(
        self, fake_server: Any, make_manager: ManagerFactory
    ) -> None:
        manager = make_manager(max_events_per_second=10)
        for i in range(100):
            manager.track_event("burst_event", {"n": i})
        assert manager.flush(5.0)
        stats = manager.stats()["Amplitude"]
        delivered = len(fake_server.events(vendor="amplitude"))
        assert 10 <= delivered <= 12
        assert stats["dropped"]["rate_limited"] == 100 - delivered

    def test_the_bucket_refills_with_time(self) -> None:
        bucket = TokenBucket(2.0)
        assert [bucket.allow(0.0) for _ in range(3)] == [True, True, False]
        assert bucket.allow(0.5)
        assert not bucket.allow(0.5)
        assert bucket.allow(10.0)
