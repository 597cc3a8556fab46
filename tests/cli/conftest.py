"""Fixtures of the command tests: a clean environment and working directory, and a command runner."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from telemetry.cli import main

TELEMETRY_PREFIXES = ("GA_", "AMPLITUDE_", "MIXPANEL_", "RUDDERSTACK_", "SEGMENT_", "TELEMETRY_", "ACME_")
TELEMETRY_NAMES = ("APP_BASE_URL", "DEBUG_TELEMETRY", "DO_NOT_TRACK")

SECRETS = {
    "GA_API_SECRET": "GA-SECRET-cli-test-1",
    "AMPLITUDE_API_KEY": "AMP-KEY-cli-test-2",
    "MIXPANEL_PROJECT_TOKEN": "MIX-TOKEN-cli-test-3",
    "RUDDERSTACK_WRITE_KEY": "RUDDER-KEY-cli-test-4",
    "SEGMENT_WRITE_KEY": "SEGMENT-KEY-cli-test-5",
}

Run = Callable[..., tuple[int, str]]


def is_telemetry_variable(name: str) -> bool:
    return name.startswith(TELEMETRY_PREFIXES) or name in TELEMETRY_NAMES


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No telemetry variable of the shell leaks in; the working directory is empty."""
    for name in list(os.environ):
        if is_telemetry_variable(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run() -> Run:
    """Run the `telemetry` command in this process: (exit code, stdout)."""

    def invoke(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        code = main(list(args), out=out)
        return code, out.getvalue()

    return invoke


@pytest.fixture
def run_json(run: Run) -> Callable[..., tuple[int, dict[str, Any]]]:
    def invoke(*args: str) -> tuple[int, dict[str, Any]]:
        code, out = run(*args, "--json")
        return code, json.loads(out)

    return invoke


@pytest.fixture
def every_provider(monkeypatch: pytest.MonkeyPatch, fake_server: Any) -> Any:
    """Every built-in provider configured and pointed at `fake_server`."""
    monkeypatch.setenv("GA_MEASUREMENT_ID", "G-CLITEST1")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TELEMETRY_ENDPOINT", fake_server.base_url)
    return fake_server
