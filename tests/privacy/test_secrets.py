"""Secrets never leak: a full run with recognisable secrets, every log record and every string kept."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from contract_tests.harness import capture_log_lines
from telemetry import AmplitudeTelemetryProvider, GA4TelemetryProvider, TelemetryManager
from telemetry.consent import Consent
from telemetry.mixpanel_provider import MixpanelConfig, MixpanelTelemetryProvider
from telemetry.pii import PiiPolicy
from telemetry.policy import EventPolicy, InvalidEventError
from telemetry.rudderstack_provider import RudderStackConfig, RudderStackTelemetryProvider
from telemetry.schema import EventSchema

from ._support import FAST, free_port, run_python

GA = "GA+SECRET/recognisable=1"
AMP = "AMP-KEY-recognisable-2"
MIX = "MIX-TOKEN-recognisable-3"
RUDDER = "RUDDER-WRITE-recognisable-4"
SECRETS = (GA, AMP, MIX, RUDDER)


def forms(secret: str) -> set[str]:
    """A secret as given, URL-encoded, and inside HTTP Basic credentials."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(f"{secret}:".encode()).decode(),
    }


def leaks(texts: list[str]) -> list[str]:
    return [t[:200] for t in texts for s in SECRETS for f in forms(s) if f in t]


@pytest.fixture
def every_log_line() -> Iterator[list[str]]:
    """Every log record of every logger, at DEBUG, while the test runs."""
    with capture_log_lines() as lines:
        yield lines


def all_providers(base: str) -> list[tuple[type[Any], Any]]:
    from telemetry import AmplitudeConfig, GA4Config

    return [
        (GA4TelemetryProvider, GA4Config(measurement_id="G-LEAK", api_secret=GA, endpoint=base)),
        (AmplitudeTelemetryProvider, AmplitudeConfig(api_key=AMP, endpoint=base)),
        (MixpanelTelemetryProvider, MixpanelConfig(project_token=MIX, endpoint=base)),
        (RudderStackTelemetryProvider, RudderStackConfig(write_key=RUDDER, data_plane_url=base)),
    ]


class TestNoSecretInAnyString:
    def test_a_full_run_with_failures_rejections_and_personal_data_shows_no_secret(
        self, fake_server: Any, tmp_path: Path, every_log_line: list[str]
    ) -> None:
        fake_server.faults.add("status", status=500, count=3)
        fake_server.faults.add("close", count=2)
        schema = EventSchema({"known": {"n": int}}, strict=True)
        texts: list[str] = []
        managers = []
        for mode, base in (("strict", fake_server.base_url), ("drop", f"http://127.0.0.1:{free_port()}")):
            policy = EventPolicy(mode, schema=schema, pii=PiiPolicy(action="redact"))
            manager = TelemetryManager.from_providers(
                tmp_path / f"{mode}.sqlite", all_providers(base), environ={},
                delivery=FAST, policy=policy,
            )  # fmt: skip
            managers.append(manager)
            for name, params in (
                ("known", {"n": 1, "note": f"the key is {AMP}"}),
                (GA, {"n": 2}),  # a secret as an event name
                ("known", {MIX: 3}),  # a secret as a param name
                ("unknown", {"n": RUDDER}),
            ):
                try:
                    manager.track_event(name, params)
                except InvalidEventError as exc:
                    texts += [str(exc), repr(exc), *exc.problems]
            manager.track_page_view(f"/page/{GA}", "Title")
            manager.flush(timeout=5.0)
        consent = Consent.from_config_file(tmp_path / "config.cfg")
        consent.decline(*managers)
        for manager in managers:
            texts += [repr(manager), str(manager), repr(manager.stats()), repr(manager.disabled_providers)]
            texts += [repr(manager.context), repr(manager.policy), repr(consent)]
            for provider in manager.providers:
                texts += [repr(provider), str(provider), repr(provider.config), str(provider.config)]

        assert any("telemetry" in line for line in every_log_line)
        assert sum("rejected" in t for t in texts) >= 3
        assert leaks(every_log_line) == []
        assert leaks(texts) == []

    def test_the_debug_trace_of_a_real_process_shows_no_secret(
        self, fake_server: Any, tmp_path: Path
    ) -> None:
        code = f"""
            import sys
            from telemetry import TelemetryManager
            from telemetry.policy import EventPolicy, InvalidEventError
            from tests.privacy.test_secrets import all_providers
            from tests.privacy._support import FAST
            manager = TelemetryManager.from_providers(
                sys.argv[1], all_providers(sys.argv[2]), delivery=FAST, policy=EventPolicy("drop"))
            manager.track_event("{AMP}", {{"{MIX}": "{RUDDER}"}})
            manager.track_event("ok_event", {{"debug": "{GA}"}})
            manager.flush(5.0)
            manager.disable()
        """
        done = run_python_here(code, str(tmp_path / "db.sqlite"), fake_server.base_url)

        assert done.returncode == 0, done.stderr
        assert "[telemetry]" in done.stderr
        assert leaks([done.stdout, done.stderr]) == []


def run_python_here(code: str, *args: str) -> Any:
    from ._support import clean_environ

    root = str(Path(__file__).resolve().parents[2])
    return run_python(code, *args, env=clean_environ(DEBUG_TELEMETRY="1", PYTHONPATH=root))
