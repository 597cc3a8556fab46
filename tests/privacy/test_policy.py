"""The event policy: normalise, drop (logged once per name) or strict (an error at the call)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from telemetry import AmplitudeTelemetryProvider, GA4TelemetryProvider, TelemetryManager
from telemetry.events import Event
from telemetry.policy import EventPolicy, InvalidEventError

from ._support import amplitude_config, capture_logs, ga4_config
from .conftest import MakeManager

GA4_BREAKING = [
    pytest.param("Workflow Started!", {"n": 1}, id="name-with-spaces-and-punctuation"),
    pytest.param("x" * 41, {}, id="name-longer-than-40"),
    pytest.param("session_start", {}, id="reserved-name"),
    pytest.param("ok_name", {"bad key": 1}, id="invalid-param-name"),
    pytest.param("ok_name", {"firebase_x": 1}, id="reserved-param-prefix"),
    pytest.param("ok_name", {"session_id": "mine"}, id="enrichment-key"),
    pytest.param("ok_name", {"v": "x" * 101}, id="value-longer-than-100"),
    pytest.param("ok_name", {f"p{i}": i for i in range(22)}, id="more-than-21-params"),
    pytest.param("ok_name", {"nested": {"a": 1}}, id="nested-value"),
    pytest.param("ok_name", {"nan": float("nan")}, id="not-finite"),
    pytest.param("ok_name", {"big": 2**64}, id="integer-beyond-64-bits"),
]


class ExplodingMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


class RecordingGA4(GA4TelemetryProvider):
    """GA4 that records on which thread its rules are checked."""

    checked_on: list[str]

    def event_problems(self, event: Event) -> list[str]:
        self.checked_on.append(threading.current_thread().name)
        return super().event_problems(event)


def recording_manager(
    make_manager: MakeManager, fake_server: Any, policy: str
) -> tuple[TelemetryManager, Any]:
    manager = make_manager(providers=[(RecordingGA4, ga4_config(fake_server.base_url))], policy=policy)
    (provider,) = manager.providers
    assert isinstance(provider, RecordingGA4)
    provider.checked_on = []
    return manager, provider


class TestNormaliseIsTheDefault:
    def test_an_event_outside_ga4s_rules_is_sent_normalised_without_any_error(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager()
        manager.track_event("Workflow Started!", {"bad key": "v", "nested": {"a": 1}, "items": "not a list"})
        assert manager.flush()

        ga4 = fake_server.events("ga4")
        assert [e.name for e in ga4] == ["Workflow_Started"]
        assert ga4[0].params["bad_key"] == "v"
        assert ga4[0].params["nested"] == '{"a":1}'
        assert "items" not in ga4[0].params  # GA4 would void the whole request over it
        assert [e.name for e in fake_server.events("amplitude")] == ["Workflow Started!"]
        assert all(e.accepted for e in fake_server.events())

    def test_the_policy_is_shared_with_every_provider(self, make_manager: MakeManager) -> None:
        manager = make_manager(policy="drop")

        assert manager.policy.mode == "drop"
        assert all(p.policy is manager.policy for p in manager.providers)


class TestDropMode:
    @pytest.mark.parametrize(("name", "params"), GA4_BREAKING)
    def test_an_event_outside_a_vendors_rules_is_not_sent_to_that_vendor(
        self, make_manager: MakeManager, fake_server: Any, name: str, params: dict[str, Any]
    ) -> None:
        manager = make_manager(policy="drop")
        manager.track_event(name, params)
        manager.track_event("within_rules", {"n": 1})
        assert manager.flush()

        assert [e.name for e in fake_server.events("ga4")] == ["within_rules"]
        assert manager.stats()["GA4"]["privacy"]["events_dropped"] == {"policy": 1}

    def test_a_drop_is_logged_once_per_event_name_and_counted_every_time(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(amplitude=False, policy="drop")
        with capture_logs("telemetry.policy", logging.WARNING) as logs:
            for _ in range(3):
                manager.track_event("Bad Name", {"secret_value": "do-not-log-this-value"})
            manager.track_event("Other Bad")
            assert manager.flush()

        warnings = [r.getMessage() for r in logs.at(logging.WARNING)]
        assert len(warnings) == 2
        assert any("'Bad Name'" in w and "does not match" in w for w in warnings)
        assert not any("do-not-log-this-value" in w for w in warnings)
        assert manager.stats()["GA4"]["privacy"]["events_dropped"] == {"policy": 4}
        assert fake_server.requests() == []

    def test_each_vendor_applies_its_own_rules(self, make_manager: MakeManager, fake_server: Any) -> None:
        manager = make_manager(policy="drop")
        manager.track_event("Workflow Started")  # fine for Amplitude, not for GA4
        manager.track_event("[Amplitude] Revenue")  # reserved by Amplitude, invalid for GA4
        assert manager.flush()

        assert fake_server.events("ga4") == []
        assert [e.name for e in fake_server.events("amplitude")] == ["Workflow Started"]


class TestStrictMode:
    @pytest.mark.parametrize(("name", "params"), GA4_BREAKING)
    def test_an_event_outside_a_vendors_rules_raises_at_the_call_and_is_not_queued(
        self, make_manager: MakeManager, fake_server: Any, name: str, params: dict[str, Any]
    ) -> None:
        manager = make_manager(policy="strict")

        with pytest.raises(InvalidEventError) as raised:
            manager.track_event(name, params)
        assert raised.value.problems
        assert any(p.startswith("GA4: ") for p in raised.value.problems)
        assert all(p.startswith(("GA4: ", "Amplitude: ")) for p in raised.value.problems)
        assert manager.flush()
        assert fake_server.requests() == []
        assert all(s["enqueued"] == 0 for s in manager.stats().values())

    def test_the_error_names_the_rule_never_a_value(self, make_manager: MakeManager) -> None:
        manager = make_manager(policy="strict")

        with pytest.raises(InvalidEventError) as raised:
            manager.track_event("ok_name", {"v": "private-value-" * 10})

        message = str(raised.value)
        assert "'ok_name'" in message
        assert "param 'v' is longer than 100 characters" in message
        assert "private-value" not in message

    def test_an_event_within_every_rule_is_sent(self, make_manager: MakeManager, fake_server: Any) -> None:
        manager = make_manager(policy="strict")
        manager.track_event("workflow_started", {"workflow_type": "event_based", "success": True, "n": 2.5})
        manager.track_page_view("/event-search", "Event Search")
        manager.set_user_properties({"app_channel": "stable"})
        assert manager.flush()

        assert len(fake_server.events()) == 6
        assert all(e.accepted for e in fake_server.events())

    @pytest.mark.parametrize(
        ("call", "args"),
        [
            pytest.param("track_event", (None, None), id="no-name"),
            pytest.param("track_event", (42, {}), id="name-not-text"),
            pytest.param("track_event", ("ok", ExplodingMapping()), id="unreadable-params"),
            pytest.param("track_event", ("ok", 7), id="params-not-a-mapping"),
            pytest.param("track_event", ("ok", {1: "x"}), id="non-string-key"),
            pytest.param("track_page_view", (b"/bytes", None), id="page-path-not-text"),
            pytest.param("set_user_properties", ({"user_id": "u"},), id="reserved-user-property"),
            pytest.param("set_user_properties", ({"plan": "x" * 37},), id="user-property-too-long"),
        ],
    )
    def test_odd_input_raises_invalid_event_error_and_nothing_else(
        self, make_manager: MakeManager, call: str, args: tuple[Any, ...]
    ) -> None:
        manager = make_manager(policy="strict")

        with pytest.raises(InvalidEventError):
            getattr(manager, call)(*args)

    def test_a_cyclic_param_is_an_error_not_a_hang(self, make_manager: MakeManager) -> None:
        cycle: dict[str, Any] = {}
        cycle["self"] = cycle
        manager = make_manager(
            amplitude=False,
            ga4=False,
            providers=[(AmplitudeTelemetryProvider, amplitude_config("http://127.0.0.1:9"))],
            policy="strict",
        )

        with pytest.raises(InvalidEventError, match="nested deeper"):
            manager.track_event("cyclic", {"c": cycle})

    def test_a_disabled_manager_stays_a_silent_no_op(self, db_path: Any) -> None:
        manager = TelemetryManager.from_providers(
            db_path, [(GA4TelemetryProvider, ga4_config(None))], analytics_enabled=False, policy="strict"
        )

        manager.track_event("Not Valid For GA4!", {"bad key": float("inf")})  # nothing runs, nothing raises


class TestWhereTheCheckRuns:
    def test_normalise_mode_never_checks_the_rules(self, make_manager: MakeManager, fake_server: Any) -> None:
        manager, provider = recording_manager(make_manager, fake_server, "normalise")
        manager.track_event("Bad Name")
        assert manager.flush()

        assert provider.checked_on == []

    def test_drop_mode_checks_on_the_worker_only(self, make_manager: MakeManager, fake_server: Any) -> None:
        manager, provider = recording_manager(make_manager, fake_server, "drop")
        manager.track_event("Bad Name")
        manager.track_event("good_name")
        assert manager.flush()

        assert provider.checked_on == ["telemetry-GA4", "telemetry-GA4"]

    def test_strict_mode_checks_on_the_callers_thread(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager, provider = recording_manager(make_manager, fake_server, "strict")
        manager.track_event("good_name")
        assert manager.flush()

        assert provider.checked_on[0] == threading.current_thread().name

    def test_an_unknown_mode_is_a_loud_error(self) -> None:
        with pytest.raises(ValueError, match="unknown policy mode"):
            EventPolicy("lenient")

    def test_normalize_is_accepted_as_a_spelling(self) -> None:
        assert EventPolicy("normalize").mode == "normalise"
