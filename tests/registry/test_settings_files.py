"""Settings files and precedence: explicit arguments, then environment, then file, then defaults."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import FakeServer
from telemetry import (
    AnalyticsSettings,
    MixpanelConfig,
    Setting,
    SettingsSources,
    TelemetryManager,
    load_analytics_settings,
)
from telemetry.config_files import SettingsFile, find_settings_file, read_dotenv

from .conftest import FAST

TOKEN = "MIX-TOKEN-settings-1"


@pytest.fixture
def managers() -> Any:
    built: list[TelemetryManager] = []
    yield built
    for manager in built:
        manager.shutdown(0.5)


def mixpanel_of(manager: TelemetryManager) -> MixpanelConfig:
    (provider,) = [p for p in manager.providers if p.name == "Mixpanel"]
    assert isinstance(provider.config, MixpanelConfig)
    return provider.config


class TestSettingsFiles:
    def test_telemetry_toml_sets_the_switch_the_database_and_each_provider(
        self, tmp_path: Path, fake_server: FakeServer, managers: list[TelemetryManager]
    ) -> None:
        toml = tmp_path / "conf" / "telemetry.toml"
        toml.parent.mkdir()
        toml.write_text(
            "analytics_enabled = true\n"
            'db_path = "data/telemetry.sqlite"\n'
            f'endpoint = "{fake_server.base_url}"\n'
            "[mixpanel]\n"
            f'project_token = "{TOKEN}"\n'
        )
        manager = TelemetryManager.from_settings(environ={}, settings_file=toml, delivery=FAST)
        managers.append(manager)
        manager.track_event("from_toml")
        assert manager.flush(5.0)

        assert manager.enabled_providers == ["Mixpanel"]
        assert (toml.parent / "data" / "telemetry.sqlite").is_file()  # relative to the file, not the cwd
        assert [e.name for e in fake_server.events(vendor="mixpanel")] == ["from_toml"]

    def test_a_pyproject_tool_telemetry_table_works_the_same(
        self, tmp_path: Path, fake_server: FakeServer, managers: list[TelemetryManager]
    ) -> None:
        pyproject = tmp_path / "pyproject.toml"
        pyproject.write_text(
            '[project]\nname = "app"\n'
            "[tool.telemetry]\nanalytics_enabled = true\n"
            f'endpoint = "{fake_server.base_url}"\n'
            '[tool.telemetry.segment]\nwrite_key = "SEGMENT-KEY-settings-2"\n'
        )
        manager = TelemetryManager.from_settings(
            None, tmp_path / "db.sqlite", environ={}, settings_file=pyproject
        )
        managers.append(manager)

        assert manager.enabled_providers == ["Segment"]

    def test_the_original_config_cfg_analytics_section_is_honoured(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        cfg = tmp_path / "config.cfg"
        cfg.write_text(
            "[SDS]\ndb_path = SVdata/database.sqlite\npercent = 100%\n"
            "[ANALYTICS]\nanalytics_enabled = False\nanalytics_popup_dismissed = True\n"
            f"[ANALYTICS.mixpanel]\nproject_token = {TOKEN}\n"
        )
        manager = TelemetryManager.from_settings(None, tmp_path / "db.sqlite", environ={}, settings_file=cfg)
        managers.append(manager)

        assert manager.enabled_providers == []
        assert manager.disabled_providers["Mixpanel"] == "analytics disabled"
        assert not (tmp_path / "db.sqlite").exists()
        assert load_analytics_settings(cfg) == AnalyticsSettings(
            analytics_enabled=False, analytics_popup_dismissed=True
        )

    def test_telemetry_config_in_the_environment_names_the_file(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        toml = tmp_path / "elsewhere.toml"
        toml.write_text(f'analytics_enabled = true\n[mixpanel]\nproject_token = "{TOKEN}"\n')
        manager = TelemetryManager.from_settings(
            None, tmp_path / "db.sqlite", environ={"TELEMETRY_CONFIG": str(toml)}
        )
        managers.append(manager)

        assert manager.enabled_providers == ["Mixpanel"]

    def test_a_settings_file_in_the_working_directory_is_never_read_implicitly(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        (tmp_path / "telemetry.toml").write_text(
            f'analytics_enabled = true\n[mixpanel]\nproject_token = "{TOKEN}"\n'
        )
        manager = TelemetryManager.from_settings(AnalyticsSettings(), tmp_path / "db.sqlite", environ={})
        managers.append(manager)

        assert Path.cwd() == tmp_path
        assert manager.enabled_providers == []
        assert find_settings_file() == tmp_path / "telemetry.toml"  # what the telemetry command would use

    @pytest.mark.parametrize(
        ("name", "content"),
        [("telemetry.toml", "[mixpanel\nproject_token = 1"), ("config.cfg", "no section header\n")],
    )
    def test_an_invalid_file_is_logged_and_ignored_never_raised(
        self,
        tmp_path: Path,
        name: str,
        content: str,
        caplog: pytest.LogCaptureFixture,
        managers: list[TelemetryManager],
    ) -> None:
        broken = tmp_path / name
        broken.write_text(content)
        caplog.set_level(logging.WARNING, logger="telemetry")
        env = {"MIXPANEL_PROJECT_TOKEN": TOKEN}
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), tmp_path / "db.sqlite", environ=env, settings_file=broken
        )
        managers.append(manager)

        assert manager.enabled_providers == ["Mixpanel"]
        assert any(name in r.getMessage() and "ignored" in r.getMessage() for r in caplog.records)

    def test_find_settings_file_prefers_telemetry_toml_then_pyproject_then_config_cfg(
        self, tmp_path: Path
    ) -> None:
        assert find_settings_file(tmp_path) is None
        (tmp_path / "config.cfg").write_text("[ANALYTICS]\nanalytics_enabled = true\n")
        assert find_settings_file(tmp_path) == tmp_path / "config.cfg"
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
        assert find_settings_file(tmp_path) == tmp_path / "config.cfg"  # no [tool.telemetry]: not ours
        (tmp_path / "pyproject.toml").write_text("[tool.telemetry]\nanalytics_enabled = true\n")
        assert find_settings_file(tmp_path) == tmp_path / "pyproject.toml"
        (tmp_path / "telemetry.toml").write_text("")
        assert find_settings_file(tmp_path) == tmp_path / "telemetry.toml"


class TestDotenvOnlyWhenAsked:
    def test_a_dotenv_file_is_not_read_unless_named(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        (tmp_path / ".env").write_text(f"MIXPANEL_PROJECT_TOKEN={TOKEN}\n")
        manager = TelemetryManager.from_settings(AnalyticsSettings(), tmp_path / "db.sqlite")
        managers.append(manager)

        assert manager.enabled_providers == []
        assert "MIXPANEL_PROJECT_TOKEN" not in os.environ

    def test_a_named_dotenv_file_is_read_without_touching_os_environ(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        dotenv = tmp_path / ".env"
        dotenv.write_text(
            f"# comment\nexport MIXPANEL_PROJECT_TOKEN='{TOKEN}'\nMIXPANEL_REGION=eu # inline\n"
        )
        manager = TelemetryManager.from_settings(AnalyticsSettings(), tmp_path / "db.sqlite", dotenv=dotenv)
        managers.append(manager)

        assert manager.enabled_providers == ["Mixpanel"]
        assert mixpanel_of(manager).region == "eu"
        assert "MIXPANEL_PROJECT_TOKEN" not in os.environ

    def test_the_process_environment_wins_over_the_dotenv_file(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        dotenv = tmp_path / ".env"
        dotenv.write_text(f"MIXPANEL_PROJECT_TOKEN={TOKEN}\nMIXPANEL_REGION=eu\n")
        env = {"MIXPANEL_REGION": "in"}
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), tmp_path / "db.sqlite", environ=env, dotenv=dotenv
        )
        managers.append(manager)

        assert mixpanel_of(manager).region == "in"

    def test_do_not_track_in_a_named_dotenv_file_is_honoured(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        dotenv = tmp_path / ".env"
        dotenv.write_text(f"MIXPANEL_PROJECT_TOKEN={TOKEN}\nDO_NOT_TRACK=1\n")
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), tmp_path / "db.sqlite", environ={}, dotenv=dotenv
        )
        managers.append(manager)

        assert manager.disabled_providers["Mixpanel"] == "DO_NOT_TRACK is set"
        assert not (tmp_path / "db.sqlite").exists()

    def test_read_dotenv_understands_quotes_exports_and_comments(self, tmp_path: Path) -> None:
        dotenv = tmp_path / ".env"
        dotenv.write_text('A=1\n  # no\nexport B="two words"\nC=3 # trailing\nnot a line\nD=\n')
        assert read_dotenv(dotenv) == {"A": "1", "B": "two words", "C": "3", "D": ""}


REGION = Setting("region", ("MIXPANEL_REGION",))
ENDPOINT = Setting("endpoint", ("MIXPANEL_ENDPOINT", "TELEMETRY_ENDPOINT"), shared_key="endpoint")
LAYERS = ("argument", "environment", "dotenv", "file")


def sources_with(values: dict[str, str], setting: Setting = REGION) -> SettingsSources:
    env_name = setting.env[0]
    return SettingsSources(
        {env_name: values["environment"]} if "environment" in values else {},
        overrides={"mixpanel": {setting.field: values["argument"]}} if "argument" in values else None,
        dotenv={env_name: values["dotenv"]} if "dotenv" in values else None,
        settings_file=SettingsFile(
            Path("telemetry.toml"), "toml", {}, {"mixpanel": {setting.file_key: values["file"]}}
        )
        if "file" in values
        else None,
    )


class TestPrecedence:
    @settings(max_examples=80, deadline=None)
    @given(
        values=st.dictionaries(
            st.sampled_from(LAYERS), st.text(alphabet="abcdefgh", min_size=1, max_size=5), max_size=4
        )
    )
    def test_the_highest_layer_that_has_a_value_wins(self, values: dict[str, str]) -> None:
        found = sources_with(values).resolve("mixpanel", REGION)
        present = [layer for layer in LAYERS if layer in values]
        if not present:
            assert found is None
        else:
            assert found is not None
            assert (found.source, found.value) == (present[0], values[present[0]])

    @settings(max_examples=40, deadline=None)
    @given(layer=st.sampled_from(LAYERS))
    def test_an_empty_value_counts_as_unset(self, layer: str) -> None:
        assert sources_with({layer: ""}).resolve("mixpanel", REGION) is None

    def test_within_a_layer_the_more_specific_name_wins(self) -> None:
        sources = SettingsSources(
            {"TELEMETRY_ENDPOINT": "http://127.0.0.1:1", "MIXPANEL_ENDPOINT": "http://127.0.0.1:2"},
        )
        assert sources.resolve("mixpanel", ENDPOINT).value == "http://127.0.0.1:2"  # type: ignore[union-attr]
        in_file = SettingsSources(
            {},
            settings_file=SettingsFile(
                Path("t.toml"),
                "toml",
                {"endpoint": "http://127.0.0.1:3"},
                {"mixpanel": {"endpoint": "http://127.0.0.1:4"}},
            ),
        )
        assert in_file.resolve("mixpanel", ENDPOINT).value == "http://127.0.0.1:4"  # type: ignore[union-attr]
        shared = SettingsSources(
            {}, settings_file=SettingsFile(Path("t.toml"), "toml", {"endpoint": "http://127.0.0.1:3"})
        )
        assert shared.resolve("mixpanel", ENDPOINT).value == "http://127.0.0.1:3"  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("argument", "environment", "file", "expected"),
        [
            ("in", "eu", "us", "in"),
            (None, "eu", "in", "eu"),
            (None, None, "eu", "eu"),
            (None, None, None, "us"),
        ],
        ids=["argument-wins", "environment-beats-file", "file-beats-default", "default"],
    )
    def test_from_settings_applies_the_order_end_to_end(
        self,
        tmp_path: Path,
        managers: list[TelemetryManager],
        argument: str | None,
        environment: str | None,
        file: str | None,
        expected: str,
    ) -> None:
        toml = tmp_path / "telemetry.toml"
        toml.write_text(f'[mixpanel]\nproject_token = "{TOKEN}"\n' + (f'region = "{file}"\n' if file else ""))
        env = {"MIXPANEL_REGION": environment} if environment else {}
        overrides = {"mixpanel": {"region": argument}} if argument else None
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), tmp_path / "db.sqlite", environ=env, settings_file=toml, overrides=overrides
        )
        managers.append(manager)

        assert mixpanel_of(manager).region == expected

    def test_the_settings_object_beats_the_file_for_the_analytics_switch(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        toml = tmp_path / "telemetry.toml"
        toml.write_text(f'analytics_enabled = true\n[mixpanel]\nproject_token = "{TOKEN}"\n')
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(analytics_enabled=False), tmp_path / "db.sqlite", environ={}, settings_file=toml
        )
        managers.append(manager)

        assert manager.disabled_providers["Mixpanel"] == "analytics disabled"

    def test_without_a_settings_object_or_file_analytics_stays_off(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        manager = TelemetryManager.from_settings(
            None, tmp_path / "db.sqlite", environ={"MIXPANEL_PROJECT_TOKEN": TOKEN}
        )
        managers.append(manager)

        assert manager.disabled_providers["Mixpanel"] == "analytics disabled"

    def test_the_db_path_argument_beats_the_environment_which_beats_the_file(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        toml = tmp_path / "telemetry.toml"
        toml.write_text(f'db_path = "file.sqlite"\n[mixpanel]\nproject_token = "{TOKEN}"\n')
        env = {"TELEMETRY_DB_PATH": str(tmp_path / "env.sqlite")}
        for db_path, expected in ((tmp_path / "arg.sqlite", "arg.sqlite"), (None, "env.sqlite")):
            manager = TelemetryManager.from_settings(
                AnalyticsSettings(), db_path, environ=env, settings_file=toml
            )
            managers.append(manager)
            assert Path(manager.context.db_path or "").name == expected
        manager = TelemetryManager.from_settings(AnalyticsSettings(), None, environ={}, settings_file=toml)
        managers.append(manager)
        assert Path(manager.context.db_path or "").name == "file.sqlite"

    def test_an_explicit_config_replaces_what_the_sources_say_for_that_provider(
        self, tmp_path: Path, managers: list[TelemetryManager]
    ) -> None:
        env = {"MIXPANEL_PROJECT_TOKEN": TOKEN, "MIXPANEL_REGION": "eu"}
        explicit = MixpanelConfig(project_token="MIX-TOKEN-explicit-2", region="in")
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), tmp_path / "db.sqlite", environ=env, configs=[explicit]
        )
        managers.append(manager)

        assert mixpanel_of(manager) is explicit
