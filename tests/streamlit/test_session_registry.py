"""The per-browser-session rules on their own: identity, page-view de-duplication, once-events, expiry."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from telemetry.integrations._sessions import SessionRegistry


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# A run of a page: which Streamlit page it is on, and which tab is open there (pages with tabs).
PAGES = {"home": None, "explore": ("events", "stations", "waveforms"), "settings": None}
runs = st.lists(
    st.sampled_from(["home", "explore", "settings"]).flatmap(
        lambda page: st.tuples(st.just(page), st.sampled_from(PAGES[page] or (None,)))
    ),
    max_size=30,
)


def counted(registry: SessionRegistry, sequence: list[tuple[str, str | None]], browser: str = "tab") -> int:
    """How many page views the registry counts when a browser session runs `sequence`."""
    total = 0
    for page, tab in sequence:
        registry.observe(browser, f"hash-{page}")
        total += registry.page_view(browser, f"hash-{page}", f"/{page}", None) is not None
        if tab is not None:
            total += registry.page_view(browser, f"hash-{page}", f"/{page}/{tab}", "tabs") is not None
    return total


def expected(sequence: list[tuple[str, str | None]]) -> int:
    """The rule: one page view per arrival on a page and per tab switch while staying on it,
    that is, per change of (page, open tab) from one run to the next."""
    return sum(1 for n, run in enumerate(sequence) if n == 0 or sequence[n - 1] != run)


class TestPageViewRule:
    @given(runs)
    def test_a_browser_session_counts_one_view_per_arrival_and_per_tab_switch(
        self, sequence: list[tuple[str, str | None]]
    ) -> None:
        assert counted(SessionRegistry(), sequence) == expected(sequence)

    @given(runs, st.lists(st.integers(min_value=0, max_value=29), max_size=10))
    def test_reruns_anywhere_count_nothing(
        self, sequence: list[tuple[str, str | None]], rerun_at: list[int]
    ) -> None:
        with_reruns = list(sequence)
        for index in sorted({i for i in rerun_at if i < len(sequence)}, reverse=True):
            with_reruns.insert(index, with_reruns[index])

        assert counted(SessionRegistry(), with_reruns) == counted(SessionRegistry(), sequence)

    def test_a_page_path_change_within_one_script_is_a_navigation(self) -> None:
        registry = SessionRegistry()
        steps = ["/flow/step1", "/flow/step1", "/flow/step2", "/flow/step1"]
        sent = [registry.page_view("tab", "one-script", path, None) is not None for path in steps]
        assert sent == [True, False, True, True]


class TestIdentity:
    def test_each_browser_session_has_its_own_session_stable_across_calls(self) -> None:
        registry = SessionRegistry()
        first = registry.event("a", "p")
        second = registry.event("b", "p")
        assert registry.event("a", "q") is first
        assert first.id != second.id

    def test_live_sessions_never_share_a_start_second(self) -> None:
        clock = Clock()
        registry = SessionRegistry(clock=clock)
        sessions = [registry.event(f"tab-{n}", None) for n in range(50)]
        assert len({s.number for s in sessions}) == 50
        assert all(s.started_at <= clock.now for s in sessions)

    def test_an_idle_browser_session_starts_a_new_session_and_counts_its_page_again(self) -> None:
        clock = Clock()
        registry = SessionRegistry(idle_timeout=1800, clock=clock)
        first = registry.page_view("tab", "home", "/home", None)
        clock.now += 1799
        assert registry.page_view("tab", "home", "/home", None) is None
        clock.now += 1801
        second = registry.page_view("tab", "home", "/home", None)
        assert first is not None
        assert second is not None
        assert second.id != first.id

    def test_the_least_recently_active_sessions_are_forgotten_beyond_the_cap(self) -> None:
        clock = Clock()
        registry = SessionRegistry(max_sessions=3, clock=clock)
        kept = registry.event("kept", None)
        for n in range(5):
            clock.now += 1
            registry.event(f"tab-{n}", None)
            registry.event("kept", None)
        assert len(registry) == 3
        assert registry.event("kept", None) is kept

    def test_concurrent_browser_sessions_keep_their_own_counts(self) -> None:
        registry = SessionRegistry()
        results: dict[str, tuple[int, int]] = {}
        sequence = [("home", None), ("explore", "events"), ("explore", "stations"), ("home", None)] * 25

        def browse(name: str) -> None:
            views = counted(registry, sequence, browser=name)
            results[name] = (views, registry.event(name, None).number)

        threads = [threading.Thread(target=browse, args=(f"tab-{n}",)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert {views for views, _ in results.values()} == {expected(sequence)}
        assert len({number for _, number in results.values()}) == 8


class TestOnceEvents:
    def test_an_event_is_sent_once_per_key_in_a_session(self) -> None:
        registry = SessionRegistry()
        sent = [
            registry.event_once("tab", None, "download_started", key, None) is not None
            for key in ("a.csv", "a.csv", "b.csv", "a.csv")
        ]
        assert sent == [True, False, True, False]
        assert registry.event_once("other-tab", None, "download_started", "a.csv", None) is not None

    def test_a_ttl_lets_the_event_through_again_once_it_has_passed(self) -> None:
        clock = Clock()
        registry = SessionRegistry(clock=clock)
        assert registry.event_once("tab", None, "poll", "k", 60) is not None
        clock.now += 59
        assert registry.event_once("tab", None, "poll", "k", 60) is None
        clock.now += 1
        assert registry.event_once("tab", None, "poll", "k", 60) is not None
