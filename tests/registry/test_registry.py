"""The provider registry: built-ins and third parties come through one entry-point group."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fakes import FakeServer
from telemetry import (
    AnalyticsSettings,
    BaseTelemetryProvider,
    MixpanelConfig,
    MixpanelTelemetryProvider,
    ProviderConfig,
    ProviderRegistration,
    RudderStackConfig,
    RudderStackTelemetryProvider,
    SegmentConfig,
    SegmentTelemetryProvider,
    Setting,
    TelemetryManager,
)
from telemetry import registry as registry_module
from telemetry.registry import ENTRY_POINT_GROUP, discover

from .conftest import FAST, clean_environ

BUILTINS = ["GA4", "Amplitude", "Mixpanel", "RudderStack", "Segment"]


def all_builtin_keys(endpoint: str) -> dict[str, str]:
    return {
        "GA_MEASUREMENT_ID": "G-REGISTRY1",
        "GA_API_SECRET": "GA-SECRET-registry-1",
        "AMPLITUDE_API_KEY": "AMP-KEY-registry-2",
        "MIXPANEL_PROJECT_TOKEN": "MIX-TOKEN-registry-3",
        "RUDDERSTACK_WRITE_KEY": "RUDDER-KEY-registry-4",
        "SEGMENT_WRITE_KEY": "SEGMENT-KEY-registry-5",
        "TELEMETRY_ENDPOINT": endpoint,
    }


@pytest.fixture
def managers() -> Any:
    built: list[TelemetryManager] = []
    yield built
    for manager in built:
        manager.shutdown(0.5)


def acme_server(fake_server_factory: Any) -> FakeServer:
    from acme_telemetry import AcmeFake  # installed by the fixture, not importable otherwise

    server: FakeServer = fake_server_factory([AcmeFake()])
    return server


class TestBuiltinProvidersRegisterThroughTheEntryPointGroup:
    def test_the_five_builtins_come_from_this_distributions_entry_points(self) -> None:
        registry = discover(refresh=True)

        assert [p.name for p in registry.providers] == BUILTINS
        for provider in registry.providers:
            assert provider.entry_point.startswith(f"{provider.registration.table} = telemetry.")
            assert (provider.distribution or "").startswith("telemetry-toolkit ")
        assert registry.problems == ()

    def test_from_settings_configures_every_registered_provider_from_the_environment(
        self, fake_server: FakeServer, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(),
            tmp_path / "db.sqlite",
            environ=all_builtin_keys(fake_server.base_url),
            delivery=FAST,
        )
        managers.append(manager)
        manager.track_event("everywhere")
        assert manager.flush(5.0)

        assert manager.enabled_providers == BUILTINS
        vendors = sorted(e.vendor for e in fake_server.events() if e.name == "everywhere")
        assert vendors == ["amplitude", "ga4", "mixpanel", "rudderstack", "rudderstack"]

    def test_without_installed_metadata_the_builtins_are_still_found(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(registry_module, "_entry_points", lambda group: [])
        registry = discover(refresh=True)

        assert [p.name for p in registry.providers] == BUILTINS
        assert {p.entry_point for p in registry.providers} == {"built-in (no entry point installed)"}

    def test_listing_entry_points_failing_never_breaks_discovery(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(group: str) -> list[Any]:
            raise RuntimeError("corrupt metadata")

        monkeypatch.setattr(registry_module, "_entry_points", broken)
        assert [p.name for p in discover(refresh=True).providers] == BUILTINS

    def test_from_configs_matches_each_config_to_its_registered_provider(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        manager = TelemetryManager.from_configs(
            tmp_path / "db.sqlite",
            configs=[
                SegmentConfig(write_key="SEGMENT-KEY-registry-5"),
                MixpanelConfig(project_token="MIX-TOKEN-registry-3"),
                RudderStackConfig(
                    write_key="RUDDER-KEY-registry-4", data_plane_url="https://x.dataplane.example"
                ),
            ],
            environ={},
        )
        managers.append(manager)

        assert [type(p) for p in manager.providers] == [
            SegmentTelemetryProvider,
            MixpanelTelemetryProvider,
            RudderStackTelemetryProvider,
        ]

    def test_the_builtin_provider_list_is_still_importable(self) -> None:
        from telemetry.telemetry_manager import BUILTIN_PROVIDERS

        assert [cls.name for cls in BUILTIN_PROVIDERS] == BUILTINS


class TestAThirdPartyPackageIsPickedUpWithoutAnyEditHere:
    def test_from_settings_finds_it_by_its_entry_point_and_delivers_to_it(
        self, acme_installed: Path, fake_server_factory: Any, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        server = acme_server(fake_server_factory)
        env = {"ACME_TOKEN": "ACME-TOKEN-registry-6", "TELEMETRY_ENDPOINT": server.base_url}
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), tmp_path / "db.sqlite", environ=env, delivery=FAST
        )
        managers.append(manager)
        manager.track_event("hello_acme", {"n": 1})
        assert manager.flush(5.0)

        assert manager.enabled_providers == ["Acme"]
        (event,) = server.events()
        assert (event.vendor, event.name, event.params["n"]) == ("acme", "hello_acme", 1)
        assert event.client_id == manager.get_client_id()

    def test_it_is_absent_when_the_package_is_not_installed(self) -> None:
        assert "Acme" not in [p.name for p in discover(refresh=True).providers]

    def test_a_fresh_interpreter_with_the_package_installed_uses_it(
        self, acme_site: Path, fake_server_factory: Any, tmp_path: Path
    ) -> None:
        server = acme_server_in_subprocess_world(fake_server_factory, acme_site)
        code = (
            "import json, sys\n"
            "from telemetry import AnalyticsSettings, TelemetryManager\n"
            "m = TelemetryManager.from_settings(AnalyticsSettings(), sys.argv[1])\n"
            "m.track_event('from_a_subprocess')\n"
            "m.flush(5.0)\n"
            "print(json.dumps([m.enabled_providers, m.disabled_providers]))\n"
        )
        env = clean_environ(
            PYTHONPATH=str(acme_site), ACME_TOKEN="ACME-TOKEN-registry-7", TELEMETRY_ENDPOINT=server.base_url
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "db.sqlite")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert done.returncode == 0, done.stderr
        enabled, disabled = json.loads(done.stdout)
        assert enabled == ["Acme"]
        assert disabled["AcmeSdk"] == "the acme-sdk package is not installed"
        assert [e.name for e in server.events()] == ["from_a_subprocess"]

    def test_from_configs_accepts_its_config_class(
        self, acme_installed: Path, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        from acme_telemetry import AcmeConfig, AcmeTelemetryProvider

        manager = TelemetryManager.from_configs(
            tmp_path / "db.sqlite", configs=[AcmeConfig(token="ACME-TOKEN-registry-8")], environ={}
        )
        managers.append(manager)
        assert [type(p) for p in manager.providers] == [AcmeTelemetryProvider]


def acme_server_in_subprocess_world(fake_server_factory: Any, acme_site: Path) -> FakeServer:
    sys.path.insert(0, str(acme_site))
    try:
        return acme_server(fake_server_factory)
    finally:
        sys.path.remove(str(acme_site))


class TestABrokenThirdPartyProviderIsReportedAndSkipped:
    def test_broken_entry_points_are_reported_and_the_others_still_deliver(
        self, acme_installed: Path, fake_server_factory: Any, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        server = acme_server(fake_server_factory)
        env = {
            "ACME_TOKEN": "ACME-TOKEN-registry-9",
            "ACME_STRICT_LEVEL": "high",
            "TELEMETRY_ENDPOINT": server.base_url,
        }
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), tmp_path / "db.sqlite", environ=env, delivery=FAST
        )
        managers.append(manager)
        manager.track_event("still_here")
        assert manager.flush(5.0)

        disabled = manager.disabled_providers
        assert disabled["acme_broken"].startswith(
            "entry point acme_broken = acme_telemetry.broken:REGISTRATION failed to load: ModuleNotFoundError"
        )
        assert disabled["AcmeStrict"].startswith(
            "configuration error: environment ACME_STRICT_LEVEL = 'high'"
        )
        assert disabled["AcmeSdk"] == "the acme-sdk package is not installed"
        assert manager.enabled_providers == ["Acme"]
        assert [e.name for e in server.events()] == ["still_here"]

    def test_a_bad_config_value_disables_only_its_provider(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        env = {
            "GA_MEASUREMENT_ID": "G-X1",
            "GA_API_SECRET": "GA-SECRET-bad-1",
            "GA_VALIDATION_MODE": "maybe",
            "MIXPANEL_PROJECT_TOKEN": "MIX-TOKEN-bad-2",
        }
        manager = TelemetryManager.from_settings(AnalyticsSettings(), tmp_path / "db.sqlite", environ=env)
        managers.append(manager)

        assert manager.disabled_providers["GA4"] == (
            "configuration error: environment GA_VALIDATION_MODE = 'maybe': 'maybe' is not a boolean"
        )
        assert manager.enabled_providers == ["Mixpanel"]

    def test_a_bad_secret_value_is_never_echoed(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        toml = tmp_path / "telemetry.toml"
        toml.write_text('[mixpanel]\nproject_token = ["MIX-TOKEN-in-a-list-3"]\n')
        manager = TelemetryManager.from_settings(AnalyticsSettings(), None, environ={}, settings_file=toml)
        managers.append(manager)

        reason = manager.disabled_providers["Mixpanel"]
        assert reason.startswith("configuration error: telemetry.toml [mixpanel] project_token")
        assert "MIX-TOKEN-in-a-list-3" not in reason

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("telemetry.registry:GA4_REGISTRATION", "the name 'GA4' is already registered by ga4 = "),
            ("telemetry:__version__", "it is a str, not a ProviderRegistration"),
            ("telemetry.registry:builtin_registrations", "it returned a tuple, not a ProviderRegistration"),
            ("no_such_module_anywhere:X", "ModuleNotFoundError"),
        ],
        ids=["duplicate-name", "wrong-type", "factory-returning-the-wrong-type", "missing-module"],
    )
    def test_each_kind_of_bad_entry_point_is_a_problem_not_a_crash(
        self, monkeypatch: pytest.MonkeyPatch, value: str, problem: str
    ) -> None:
        real = registry_module._entry_points(ENTRY_POINT_GROUP)
        extra = EntryPoint(name="zz_bad", value=value, group=ENTRY_POINT_GROUP)
        monkeypatch.setattr(registry_module, "_entry_points", lambda group: [*real, extra])
        registry = discover(refresh=True)

        assert [p.name for p in registry.providers] == BUILTINS
        (found,) = registry.problems
        assert problem in found.reason
        assert found.entry_point == f"zz_bad = {value}"


class _Incomplete(BaseTelemetryProvider):
    name: ClassVar[str] = "Incomplete"


class TestRegistrationsAreCheckedWhenMade:
    def test_a_provider_without_map_event_or_a_config_class_is_refused_loudly(self) -> None:
        with pytest.raises(TypeError, match=r"does not implement map_event\(\).*own ProviderConfig subclass"):
            ProviderRegistration(provider_class=_Incomplete)

    def test_a_setting_naming_a_field_the_config_lacks_is_refused(self) -> None:
        with pytest.raises(TypeError, match=r"lacks: \['project_tokn'\]"):
            ProviderRegistration(
                provider_class=MixpanelTelemetryProvider, settings=(Setting("project_tokn"),)
            )

    def test_the_table_defaults_to_the_lower_case_name_and_enabled_is_always_readable(self) -> None:
        registration = ProviderRegistration(provider_class=MixpanelTelemetryProvider)
        assert registration.table == "mixpanel"
        assert [s.field for s in registration.settings] == ["enabled"]
        assert registration.config_class is MixpanelConfig
        assert issubclass(registration.config_class, ProviderConfig)


class TestDiscoveryIsCachedUntilTheInstallationChanges:
    def test_the_same_registry_is_returned_until_sys_path_changes(
        self, acme_site: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        first = discover()
        assert discover() is first
        monkeypatch.syspath_prepend(str(acme_site))
        second = discover()
        assert second is not first
        assert "Acme" in [p.name for p in second.providers]
