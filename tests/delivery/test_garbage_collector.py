"""A backlog costs the garbage collector only its events: what the engine keeps per event is
plain data the collector does not track, so collections stay cheap however long the queue."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from telemetry.events import EVENT, Event, current_prefix, next_sequence

from .conftest import ManagerFactory

PARAMS = {"plan": "pro", "n": 42, "flag": True, "ratio": 0.5, "s": "x" * 32}


def _events(count: int) -> list[Event]:
    return [
        Event(EVENT, "test_event", dict(PARAMS), time.time(), next_sequence(), current_prefix())
        for _ in range(count)
    ]


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """No collection runs mid-count (each would untrack some objects and blur the figure)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def test_mapping_an_event_for_every_provider_leaves_nothing_tracked_on_it(
    make_manager: ManagerFactory,
) -> None:
    providers = make_manager(ga4=True).providers
    assert len(providers) == 2
    (event,) = _events(1)
    for provider in providers:
        assert provider.describe(event) is not None
    assert event.cleaned == PARAMS
    assert event.findings is None  # nothing personal in PARAMS
    assert not gc.is_tracked(event.cleaned)


def test_a_described_backlog_holds_one_tracked_object_per_event(
    make_manager: ManagerFactory, collector_paused: None
) -> None:
    providers = make_manager(ga4=True).providers
    count = 2_000
    gc.collect()
    before = len(gc.get_objects())
    backlog = _events(count)
    for provider in providers:
        for event in backlog:
            provider.describe(event)
    gc.collect()  # what a collection can untrack (tuples of plain values) is untracked now
    grown = len(gc.get_objects()) - before
    # The Event itself is tracked (a class instance); its params and the cleaned copy are not.
    # The slack covers the backlog's list and anything another thread of the session holds.
    assert grown <= 1.1 * count, f"{grown / count:.2f} tracked objects per event"


def test_personal_data_found_in_an_event_is_still_counted_for_every_provider(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(ga4=True)
    (event,) = _events(1)
    event.params["contact"] = "someone@example.com"
    for provider in manager.providers:
        mapped = provider.describe(event)
        assert mapped is not None
        assert "someone@example.com" not in repr(mapped)
    assert event.findings is not None
    for provider in manager.providers:
        assert provider.privacy_stats.as_dict()["pii_redacted"] == {"email": 1}, provider.name
