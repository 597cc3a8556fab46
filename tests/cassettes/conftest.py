"""The cassette tests run with no telemetry switch of the developer's shell and no proxy.

Keys configured in the environment (GA_API_SECRET, AMPLITUDE_API_KEY, ...) are kept on purpose:
the secret scanner searches every cassette for them.
"""

from __future__ import annotations

import pytest

TELEMETRY_VARIABLES = (
    "GA_ENDPOINT",
    "AMPLITUDE_ENDPOINT",
    "MIXPANEL_ENDPOINT",
    "RUDDERSTACK_ENDPOINT",
    "SEGMENT_ENDPOINT",
    "TELEMETRY_ENDPOINT",
    "DEBUG_TELEMETRY",
    "DO_NOT_TRACK",
    "TELEMETRY_DISABLED",
)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TELEMETRY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
