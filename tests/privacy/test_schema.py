"""The application event schema: an error in development, a dropped event in production, exportable."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.policy import EventPolicy, InvalidEventError
from telemetry.schema import EventSchema, EventSpec, Param

from ._support import capture_logs
from .conftest import MakeManager

SCHEMA = EventSchema(
    {
        "workflow_started": {"workflow_type": str, "download_type": Param(str, required=False)},
        "workflow_completed": {"success": bool, "cancelled": bool, "duration_s": float},
        "settings_saved": EventSpec("settings_saved", {"analytics_enabled": Param(bool)}, "Save Config"),
    },
    pages=["/event-search", "/settings*"],
    user_properties={"app_channel": str},
    description="seed-vault",
)

NON_CONFORMING = [
    pytest.param("track_event", ("undeclared_event", {}), "is not declared", id="undeclared-event"),
    pytest.param(
        "track_event",
        ("workflow_started", {"workflow_type": 3}),
        "is integer, declared string",
        id="wrong-type",
    ),
    pytest.param("track_event", ("workflow_started", {}), "required param 'workflow_type'", id="missing"),
    pytest.param(
        "track_event",
        ("workflow_started", {"workflow_type": "a", "extra": 1}),
        "'extra' is not declared",
        id="extra",
    ),
    pytest.param(
        "track_event",
        ("workflow_completed", {"success": 1, "cancelled": False, "duration_s": 2}),
        "'success' is integer, declared boolean",
        id="int-is-not-bool",
    ),
    pytest.param("track_page_view", ("/db-explorer", "DB"), "page '/db-explorer' is not declared", id="page"),
    pytest.param(
        "set_user_properties", ({"plan": "pro"},), "param 'plan' is not declared", id="user-property"
    ),
]


class TestConformingEvents:
    def test_declared_events_pages_and_user_properties_are_sent(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(policy=EventPolicy("strict", schema=SCHEMA))
        manager.track_event("workflow_started", {"workflow_type": "event_based"})
        manager.track_event("workflow_completed", {"success": True, "cancelled": False, "duration_s": 3})
        manager.track_event("settings_saved", {"analytics_enabled": True, "ignored": None})
        manager.track_page_view("/event-search", "Event Search")
        manager.track_page_view("/settings/data", "Settings")
        manager.set_user_properties({"app_channel": "stable"})
        assert manager.flush()

        assert len(fake_server.events()) == 12


class TestDevelopmentAndProduction:
    @pytest.mark.parametrize(("call", "args", "problem"), NON_CONFORMING)
    def test_in_strict_mode_a_non_conforming_event_raises_at_the_call(
        self, make_manager: MakeManager, fake_server: Any, call: str, args: tuple[Any, ...], problem: str
    ) -> None:
        manager = make_manager(policy=EventPolicy("strict", schema=SCHEMA))

        with pytest.raises(InvalidEventError, match=problem):
            getattr(manager, call)(*args)
        assert manager.flush()
        assert fake_server.requests() == []

    @pytest.mark.parametrize(("call", "args", "problem"), NON_CONFORMING)
    def test_in_production_a_non_conforming_event_is_dropped_with_a_log_line(
        self, make_manager: MakeManager, fake_server: Any, call: str, args: tuple[Any, ...], problem: str
    ) -> None:
        manager = make_manager(policy=EventPolicy(schema=SCHEMA))
        with capture_logs("telemetry.policy", logging.WARNING) as logs:
            getattr(manager, call)(*args)
            manager.track_event("workflow_started", {"workflow_type": "event_based"})
            assert manager.flush()

        assert [e.name for e in fake_server.events("ga4")] == ["workflow_started"]
        assert any(problem in r.getMessage() and "dropped" in r.getMessage() for r in logs.records)
        for provider in ("GA4", "Amplitude"):
            assert manager.stats()[provider]["privacy"]["events_dropped"] == {"schema": 1}

    def test_a_schema_that_is_not_strict_only_logs_each_mismatch_once(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        lenient = EventSchema({"known": {}}, strict=False)
        manager = make_manager(amplitude=False, policy=EventPolicy("strict", schema=lenient))
        with capture_logs("telemetry.policy", logging.WARNING) as logs:
            manager.track_event("unknown")
            manager.track_event("unknown")
            assert manager.flush()

        assert [e.name for e in fake_server.events()] == ["unknown", "unknown"]
        assert len(logs.records) == 1
        assert "does not match the schema" in logs.records[0].getMessage()


class TestExport:
    def test_the_export_lists_events_params_types_and_what_is_added(self) -> None:
        exported = json.loads(SCHEMA.to_json())

        assert exported["format"] == "telemetry-event-schema/1"
        assert exported["events"]["workflow_started"]["params"] == {
            "workflow_type": {"type": "string", "required": True},
            "download_type": {"type": "string", "required": False},
        }
        assert exported["events"]["settings_saved"]["description"] == "Save Config"
        assert exported["page_views"]["pages"] == ["/event-search", "/settings*"]
        assert exported["user_properties"] == {"app_channel": {"type": "string", "required": True}}
        assert set(exported["added_to_every_event"]) == {"session_id", "runtime", "lib_version"}

    def test_an_exported_schema_reads_back_equal(self) -> None:
        assert EventSchema.from_json(SCHEMA.to_json()) == SCHEMA

    @settings(max_examples=100, deadline=None, database=None)
    @given(
        events=st.dictionaries(
            st.text(min_size=1, max_size=10),
            st.dictionaries(
                st.text(min_size=1, max_size=10),
                st.builds(
                    Param,
                    st.sampled_from(["string", "integer", "number", "boolean", "list", "object", "any"]),
                    st.booleans(),
                    st.text(max_size=20),
                ),
                max_size=4,
            ),
            max_size=5,
        ),
        strict=st.booleans(),
    )
    def test_any_schema_survives_a_json_round_trip(
        self, events: dict[str, dict[str, Param]], strict: bool
    ) -> None:
        schema = EventSchema(events, strict=strict)

        assert EventSchema.from_json(schema.to_json()) == schema

    @pytest.mark.parametrize("bad", [{"e": {"p": complex}}, {"e": {"p": "text"}}])
    def test_an_unknown_param_type_is_a_loud_error(self, bad: dict[str, Any]) -> None:
        with pytest.raises(ValueError, match="param type"):
            EventSchema(bad)
