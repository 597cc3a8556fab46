"""Where telemetry sends and with which keys: environment variables and configs, never a .env file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from telemetry import AmplitudeTelemetryProvider, AnalyticsSettings, GA4TelemetryProvider, TelemetryManager

from ._support import (
    AMP_KEY,
    FAST,
    GA_SECRET,
    MEASUREMENT_ID,
    amplitude_config,
    clean_environ,
    ga4_config,
    run_python,
)
from .conftest import MakeManager


def full_environ(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "GA_MEASUREMENT_ID": MEASUREMENT_ID,
        "GA_API_SECRET": GA_SECRET,
        "AMPLITUDE_API_KEY": AMP_KEY,
        "TELEMETRY_ENDPOINT": endpoint,
        **extra,
    }


@pytest.fixture
def from_env(db_path: Path) -> Any:
    """Build managers with `from_settings` from an explicit environment; shut down after."""
    managers: list[TelemetryManager] = []

    def build(env: dict[str, str], settings: Any = None) -> TelemetryManager:
        manager = TelemetryManager.from_settings(
            settings or AnalyticsSettings(), db_path, environ=env, delivery=FAST
        )
        managers.append(manager)
        return manager

    yield build
    for manager in managers:
        manager.shutdown(timeout=0.5)


class TestEndpoints:
    def test_telemetry_endpoint_points_every_provider_at_one_base_url(
        self, from_env: Any, fake_server: Any
    ) -> None:
        manager = from_env(full_environ(fake_server.base_url))
        manager.track_event("routed")
        requests = fake_server.wait_for_requests(2)

        assert manager.enabled_providers == ["GA4", "Amplitude"]
        assert sorted(r.path for r in requests) == ["/2/httpapi", "/mp/collect"]

    def test_each_config_can_have_its_own_endpoint(
        self, make_manager: MakeManager, fake_server: Any, fake_server_factory: Any
    ) -> None:
        other = fake_server_factory()
        manager = make_manager(
            providers=[
                (GA4TelemetryProvider, ga4_config(fake_server.base_url)),
                (AmplitudeTelemetryProvider, amplitude_config(other.base_url)),
            ]
        )
        manager.track_event("split_up")
        assert manager.flush()

        assert [r.path for r in fake_server.requests()] == ["/mp/collect"]
        assert [r.path for r in other.requests()] == ["/2/httpapi"]

    def test_vendor_specific_endpoint_variables_win_over_telemetry_endpoint(
        self, from_env: Any, fake_server: Any, fake_server_factory: Any
    ) -> None:
        ga4_only = fake_server_factory()
        manager = from_env(full_environ(fake_server.base_url, GA_ENDPOINT=ga4_only.base_url))
        manager.track_event("split_up")
        assert manager.flush()

        assert [r.path for r in ga4_only.requests()] == ["/mp/collect"]
        assert [r.path for r in fake_server.requests()] == ["/2/httpapi"]

    @pytest.mark.parametrize(
        "endpoint",
        [
            "http://example.com",
            "http://10.0.0.8:8080",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com",
            "ftp://127.0.0.1/",
            "not a url",
        ],
    )
    def test_a_non_loopback_plain_http_or_odd_endpoint_disables_the_provider_with_a_reason(
        self, make_manager: MakeManager, fake_server: Any, endpoint: str
    ) -> None:
        manager = make_manager(
            providers=[
                (GA4TelemetryProvider, ga4_config(endpoint)),
                (AmplitudeTelemetryProvider, amplitude_config(fake_server.base_url)),
            ]
        )

        assert manager.enabled_providers == ["Amplitude"]
        reason = manager.disabled_providers["GA4"]
        assert endpoint in reason
        manager.track_event("only_amplitude")
        assert manager.flush()
        assert [r.path for r in fake_server.requests()] == ["/2/httpapi"]

    @pytest.mark.parametrize(
        "endpoint",
        [
            "http://127.0.0.1:1",
            "http://localhost:1",
            "http://[::1]:1",
            "http://127.0.0.2:1",
            "https://example.com",
        ],
    )
    def test_loopback_http_and_any_https_endpoint_are_accepted(self, endpoint: str) -> None:
        assert ga4_config(endpoint).is_valid()
        assert amplitude_config(endpoint).is_valid()


class TestEnvironmentVariables:
    def test_keys_and_ids_are_read_from_the_environment(self, from_env: Any, fake_server: Any) -> None:
        manager = from_env(full_environ(fake_server.base_url))
        manager.track_event("keyed")
        assert manager.flush()

        (ga4,) = fake_server.requests(path="/mp/collect")
        (amplitude,) = fake_server.requests(path="/2/httpapi")
        assert ga4.query == {"measurement_id": [MEASUREMENT_ID], "api_secret": [GA_SECRET]}
        assert amplitude.json()["api_key"] == AMP_KEY

    def test_app_base_url_is_read_from_the_environment(self, from_env: Any, fake_server: Any) -> None:
        manager = from_env(full_environ(fake_server.base_url, APP_BASE_URL="https://seed.example.org/app/"))
        manager.track_page_view("/event-search", "Event Search")
        (event,) = fake_server.wait_for(1, vendor="ga4")

        assert event.params["page_location"] == "https://seed.example.org/app/event-search"

    @pytest.mark.parametrize(
        ("missing", "disabled"),
        [
            ("GA_MEASUREMENT_ID", "GA4"),
            ("GA_API_SECRET", "GA4"),
            ("AMPLITUDE_API_KEY", "Amplitude"),
        ],
    )
    def test_a_missing_variable_disables_only_its_provider_and_says_which(
        self, from_env: Any, fake_server: Any, missing: str, disabled: str
    ) -> None:
        env = full_environ(fake_server.base_url)
        del env[missing]
        manager = from_env(env)

        assert disabled not in manager.enabled_providers
        assert len(manager.enabled_providers) == 1
        assert missing in manager.disabled_providers[disabled]

    def test_settings_app_version_reaches_the_wire(self, from_env: Any, fake_server: Any) -> None:
        manager = from_env(full_environ(fake_server.base_url), AnalyticsSettings(app_version="3.1.4"))
        manager.track_event("versioned")
        events = fake_server.wait_for(2)
        assert {e.params["lib_version"] for e in events} == {"3.1.4"}

    def test_debug_telemetry_in_the_environment_turns_the_trace_on(
        self, fake_server: Any, tmp_path: Path
    ) -> None:
        code = """
            import sys
            from telemetry import AnalyticsSettings, TelemetryManager
            manager = TelemetryManager.from_settings(AnalyticsSettings(), sys.argv[1])
            manager.track_event("traced")
            manager.flush()
        """
        quiet = run_python(
            code, str(tmp_path / "a.sqlite"), env=clean_environ(**full_environ(fake_server.base_url))
        )
        loud = run_python(
            code,
            str(tmp_path / "b.sqlite"),
            env=clean_environ(**full_environ(fake_server.base_url, DEBUG_TELEMETRY="1")),
        )

        assert quiet.returncode == loud.returncode == 0, quiet.stderr + loud.stderr
        assert quiet.stderr == ""
        assert "[telemetry]" in loud.stderr


class TestDotEnvIsNotRead:
    def test_a_dotenv_file_in_the_working_directory_is_ignored(
        self, fake_server: Any, tmp_path: Path
    ) -> None:
        lines = [f"{k}={v}" for k, v in full_environ(fake_server.base_url, DEBUG_TELEMETRY="1").items()]
        (tmp_path / ".env").write_text("\n".join(lines) + "\n")
        code = """
            import json
            from telemetry import AnalyticsSettings, TelemetryManager
            manager = TelemetryManager.from_settings(AnalyticsSettings(), "database.sqlite")
            manager.track_event("from_dotenv")
            manager.flush()
            print(json.dumps(manager.enabled_providers))
        """
        done = run_python(code, cwd=tmp_path)

        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == []
        assert done.stderr == ""
        assert not (tmp_path / "database.sqlite").exists()
        assert fake_server.requests() == []
