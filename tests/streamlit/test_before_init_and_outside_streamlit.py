"""Tracking before initialisation is held, not lost; outside a Streamlit script everything is idle."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from st_harness import ExampleApp, no_errors
from streamlit.testing.v1 import AppTest

from telemetry import AnalyticsSettings
from telemetry.integrations import streamlit as integration

EARLY_TRACKER = """
import os
import streamlit as st
from telemetry import AnalyticsSettings
from telemetry.integrations.streamlit import init_telemetry_client, track_event, track_page_view

track_page_view(st.session_state.get("path", "/early"), "Early")
track_event("before_init", {"burst": 0})
for n in range(st.session_state.get("burst", 0)):
    track_event("burst", {"n": n})
if st.session_state.get("initialise", True):
    settings = AnalyticsSettings(st.session_state.get("enabled", True), analytics_popup_dismissed=True)
    init_telemetry_client(settings, os.environ["TELEMETRY_EXAMPLE_DB"])
"""


def early_tracker(**state: object) -> AppTest:
    at = AppTest.from_string(EARLY_TRACKER, default_timeout=30)
    for key, value in state.items():
        at.session_state[key] = value
    return no_errors(at.run())


class TestTrackingBeforeInitialisation:
    def test_what_a_run_tracks_before_initialising_is_sent_once_it_does(
        self, example_app: ExampleApp
    ) -> None:
        early_tracker()

        assert example_app.page_paths() == ["/early"]
        assert [e.name for e in example_app.received("event")] == ["before_init"]

    def test_runs_that_never_initialise_keep_their_views_for_the_first_run_that_does(
        self, example_app: ExampleApp
    ) -> None:
        at = early_tracker(initialise=False)
        assert example_app.received() == []

        at.session_state["path"] = "/later"
        at.session_state["initialise"] = True
        no_errors(at.run())

        assert example_app.page_paths() == ["/early", "/later"]
        assert len({e.session_id for e in example_app.received()}) == 1

    def test_what_was_held_is_discarded_when_the_settings_say_no(self, example_app: ExampleApp) -> None:
        at = early_tracker(initialise=False)
        at.session_state["initialise"] = True
        at.session_state["enabled"] = False
        no_errors(at.run())
        no_errors(at.run())

        assert example_app.received() == []
        assert example_app.fake.requests() == []
        assert not (example_app.settings_file.parent / "analytics.sqlite").exists()

    def test_at_most_the_pending_limit_is_held_keeping_the_newest(self, example_app: ExampleApp) -> None:
        at = early_tracker(initialise=False, burst=integration.PENDING_LIMIT + 200)
        at.session_state["burst"] = 0
        at.session_state["initialise"] = True
        no_errors(at.run())

        # Held: a page view, an event, 1,200 bursts, then the second run's event; the newest 1,000 go.
        received = example_app.received("event", "amplitude")
        assert len(received) == integration.PENDING_LIMIT
        assert [e.params["n"] for e in received[:-1]] == list(range(201, integration.PENDING_LIMIT + 200))
        assert received[-1].name == "before_init"
        assert example_app.received("page_view") == []


class TestOutsideStreamlit:
    def test_every_helper_is_a_silent_no_op_outside_a_script_run(self, example_app: ExampleApp) -> None:
        settings = AnalyticsSettings(analytics_enabled=True, analytics_popup_dismissed=False)
        before = {t.name for t in threading.enumerate()}

        assert integration.init_telemetry_client(settings, example_app.settings_file.parent / "db") is None
        assert integration.track_page_view("/home", "Home") is False
        assert integration.track_event("clicked") is False
        assert integration.track_event_once("clicked", "k") is False
        assert integration.consent_banner() is False
        assert integration.get_telemetry_client() is None
        assert integration.current_session() is None
        integration.set_analytics_enabled(False)

        assert settings.analytics_enabled is True  # never adopted outside Streamlit
        assert integration.flush_telemetry(1.0)
        assert example_app.fake.requests() == []
        assert {t.name for t in threading.enumerate()} == before

    def test_importing_telemetry_and_the_integration_imports_no_streamlit(self, tmp_path: Path) -> None:
        code = (
            "import sys, telemetry, telemetry.integrations.streamlit as s\n"
            "s.track_page_view('/x'); s.track_event('e'); s.init_telemetry_client(object(), None)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"
