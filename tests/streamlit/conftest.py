"""Fixtures for the Streamlit integration tests (skipped as a whole without the streamlit extra)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the Streamlit tests need the 'streamlit' extra")

from st_harness import ExampleApp, telemetry_environment

from fakes import FakeServer
from telemetry.integrations import streamlit as integration


@pytest.fixture(autouse=True)
def main_module_restored() -> Iterator[None]:
    """AppTest runs the app as `__main__` and leaves it there; a later test that starts processes
    with multiprocessing's "spawn" would have every child run the app again. Put it back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No opt-out or debug switch from the developer's shell."""
    for name in ("DO_NOT_TRACK", "TELEMETRY_DISABLED", "DEBUG_TELEMETRY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def integration_state() -> Iterator[None]:
    """A process with no telemetry manager and no browser session, before and after the test."""
    integration.shutdown_telemetry_client(0.0)
    yield
    integration.shutdown_telemetry_client(0.0)


@pytest.fixture
def example_app(
    fake_server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_environment: None,
    integration_state: None,
) -> ExampleApp:
    for name, value in telemetry_environment(fake_server, tmp_path).items():
        monkeypatch.setenv(name, value)
    app = ExampleApp(fake_server, tmp_path / "settings.json")
    app.save_settings(analytics_enabled=True, analytics_popup_dismissed=True)
    return app
