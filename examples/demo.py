"""`make demo`: one application session against the local fakes, then what each vendor received.

It starts `python -m fakes serve` in its own process, points every provider at it through
TELEMETRY_ENDPOINT (as an application would), runs a short seismology-app session, flushes, and
prints per vendor what arrived and GA4's validation verdict on the same payloads.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fakeproc import fake_process
from telemetry import AnalyticsSettings, TelemetryManager

DEMO_ENV = {
    "GA_MEASUREMENT_ID": "G-DEMO000001",
    "GA_API_SECRET": "demo-ga-secret-not-real",
    "AMPLITUDE_API_KEY": "demo-amplitude-key-not-real",
    "MIXPANEL_PROJECT_TOKEN": "demo-mixpanel-token-not-real",
    "RUDDERSTACK_WRITE_KEY": "demo-rudderstack-write-key-not-real",
    "APP_BASE_URL": "https://seedvault.example.org",
}


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback fake
        return json.loads(response.read())


def _only_ga4(env: dict[str, str]) -> dict[str, str]:
    """The environment with every provider but GA4 switched off (their keys removed)."""
    others = ("AMPLITUDE_API_KEY", "MIXPANEL_PROJECT_TOKEN", "RUDDERSTACK_WRITE_KEY", "SEGMENT_WRITE_KEY")
    return {key: value for key, value in env.items() if key not in others}


def run_session(manager: TelemetryManager) -> None:
    """What a user of the seismology app does in one visit."""
    manager.set_user_properties({"app_channel": "demo"})
    manager.track_page_view("/main-flows", "Main Flows")
    manager.track_event("workflow_started", {"workflow_type": "event_based", "download_type": "waveform"})
    manager.track_page_view("/main-flows/step1-event-search", "Event Search")
    manager.track_event("workflow_step_completed", {"workflow_type": "event_based", "step": 1})
    manager.track_page_view("/settings", "Settings")
    manager.track_event("workflow_completed", {"success": True, "cancelled": False})


def main() -> int:
    with fake_process() as base_url, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **DEMO_ENV, "TELEMETRY_ENDPOINT": base_url}
        db_path = Path(tmp) / "SVdata" / "database.sqlite"
        print(f"fakes serving at {base_url}; client_id database {db_path}\n")

        manager = TelemetryManager.from_settings(AnalyticsSettings(), db_path, environ=env)
        print(f"enabled providers: {manager.enabled_providers}")
        print(f"client_id {manager.get_client_id()}  session {manager.get_session_id()}\n")
        run_session(manager)
        delivered = manager.flush(timeout=5.0)
        stats = manager.stats()
        manager.shutdown()

        validating = TelemetryManager.from_settings(
            AnalyticsSettings(), db_path, environ={**_only_ga4(env), "GA_VALIDATION_MODE": "1"}
        )
        run_session(validating)
        validating.flush(timeout=5.0)
        validating.shutdown()

        events = _get(f"{base_url}/_fakes/events")
        requests = _get(f"{base_url}/_fakes/requests")
        for vendor in ("ga4", "amplitude", "mixpanel", "rudderstack"):
            arrived = [e for e in events if e["vendor"] == vendor]
            print(f"== {vendor}: {len(arrived)} event(s)")
            for event in arrived:
                params = {k: v for k, v in event["params"].items() if k not in ("runtime", "lib_version")}
                print(
                    f"   {event['kind']:15} {event['name']:24} client={str(event['client_id'])[:8]} "
                    f"session={event['session_id']} {json.dumps(params, sort_keys=True)[:90]}"
                )
            if not arrived:
                print("   (no provider for this vendor is enabled in this demo)")
        debug = [r for r in requests if r["path"] == "/debug/mp/collect"]
        messages = _get(f"{base_url}/_fakes/validation_messages?vendor=ga4")
        print(f"\n== GA4 validation server: {len(debug)} request(s), {len(messages)} validation message(s)")
        for message in messages:
            print(f"   {message}")
        print(f"\nall delivered: {delivered}")
        for name, figures in stats.items():
            print(f"   {name}: sent {figures['sent']}, dropped {figures['dropped'] or 'none'}")
    return 0 if delivered else 1


if __name__ == "__main__":
    raise SystemExit(main())
