"""The consent API: asked or not, the answer, kept in config.cfg [ANALYTICS] or on a settings object."""

from __future__ import annotations

import configparser
import logging
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import AnalyticsSettings, TelemetryManager
from telemetry.consent import Consent, ConsentState, update_ini_section

from ._support import capture_logs

ORIGINAL_CONFIG = """\
# Seed Vault settings: edited by hand, keep my comments
[PROCESSING]
num_processes = 4
gap_tolerance = 60

[ANALYTICS]
; the user's choice
analytics_enabled = True
analytics_popup_dismissed = False

[SDS]
sds_path = /data/SDS
"""


def read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    return parser


class TestTheQuestion:
    def test_a_missing_file_means_not_asked_with_analytics_on_as_in_the_original_app(
        self, tmp_path: Path
    ) -> None:
        consent = Consent.from_config_file(tmp_path / "config.cfg")

        assert (consent.asked, consent.answer, consent.analytics_enabled) == (False, None, True)
        assert consent.should_ask()

    def test_an_opt_in_app_starts_with_analytics_off(self, tmp_path: Path) -> None:
        consent = Consent.from_config_file(tmp_path / "config.cfg", default_enabled=False)

        assert consent.analytics_enabled is False
        assert consent.asked is False

    @pytest.mark.parametrize(
        ("enabled", "dismissed", "expected"),
        [
            ("True", "False", ConsentState(asked=False, analytics_enabled=True)),
            ("true", "true", ConsentState(asked=True, analytics_enabled=True)),
            ("False", "True", ConsentState(asked=True, analytics_enabled=False)),
            ("0", "1", ConsentState(asked=True, analytics_enabled=False)),
            ("maybe", "True", ConsentState(asked=True, analytics_enabled=True)),
        ],
    )
    def test_the_original_settings_are_read(
        self, tmp_path: Path, enabled: str, dismissed: str, expected: ConsentState
    ) -> None:
        path = tmp_path / "config.cfg"
        path.write_text(
            f"[ANALYTICS]\nanalytics_enabled = {enabled}\nanalytics_popup_dismissed = {dismissed}\n"
        )

        assert Consent.from_config_file(path).state == expected

    @pytest.mark.parametrize(
        "content",
        [b"[ANALYTICS\nbroken", b"\xff\xfe not utf-8", b"analytics_enabled = False\n"],
        ids=["not-ini", "not-utf8", "no-section-header"],
    )
    def test_an_unreadable_file_means_not_asked_and_never_raises(
        self, tmp_path: Path, content: bytes
    ) -> None:
        path = tmp_path / "config.cfg"
        path.write_bytes(content)

        consent = Consent.from_config_file(path)

        assert consent.asked is False
        assert consent.should_ask()


class TestTheAnswer:
    def test_declining_is_saved_and_the_rest_of_the_file_is_kept_byte_for_byte(self, tmp_path: Path) -> None:
        path = tmp_path / "config.cfg"
        path.write_text(ORIGINAL_CONFIG)

        assert Consent.from_config_file(path).decline()

        assert path.read_text() == ORIGINAL_CONFIG.replace(
            "analytics_enabled = True", "analytics_enabled = False"
        ).replace("analytics_popup_dismissed = False", "analytics_popup_dismissed = True")
        assert Consent.from_config_file(path).answer is False

    def test_accepting_adds_the_section_to_a_file_without_one(self, tmp_path: Path) -> None:
        path = tmp_path / "config.cfg"
        path.write_text("[PROCESSING]\nnum_processes = 4")

        assert Consent.from_config_file(path).accept()

        parser = read_ini(path)
        assert parser["PROCESSING"]["num_processes"] == "4"
        assert parser.getboolean("ANALYTICS", "analytics_enabled") is True
        assert parser.getboolean("ANALYTICS", "analytics_popup_dismissed") is True

    def test_dismissing_records_the_question_and_leaves_analytics_as_it_was(self, tmp_path: Path) -> None:
        consent = Consent.from_config_file(tmp_path / "config.cfg")

        assert consent.dismiss()

        again = Consent.from_config_file(tmp_path / "config.cfg")
        assert (again.asked, again.analytics_enabled, again.should_ask()) == (True, True, False)

    def test_a_settings_toggle_records_either_answer(self, tmp_path: Path) -> None:
        consent = Consent.from_config_file(tmp_path / "config.cfg")

        consent.record(False)
        assert consent.reload() == ConsentState(True, False)
        consent.record(True)
        assert consent.reload() == ConsentState(True, True)

    def test_an_unwritable_file_keeps_the_answer_for_this_run_and_never_raises(self, tmp_path: Path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        consent = Consent.from_config_file(blocker / "config.cfg")

        with capture_logs("telemetry.consent", logging.WARNING) as logs:
            saved = consent.decline()

        assert saved is False
        assert consent.analytics_enabled is False
        assert len(logs.records) == 1

    def test_a_consent_is_a_settings_object_for_the_manager(self, tmp_path: Path, fake_server: Any) -> None:
        consent = Consent.from_config_file(tmp_path / "config.cfg")
        consent.decline()
        environ = {
            "GA_MEASUREMENT_ID": "G-X",
            "GA_API_SECRET": "s3cr3t-x",
            "TELEMETRY_ENDPOINT": fake_server.base_url,
        }

        manager = TelemetryManager.from_settings(consent, tmp_path / "db.sqlite", environ=environ)

        assert manager.enabled_providers == []
        assert manager.disabled_providers["GA4"] == "analytics disabled"

    def test_declining_disables_every_manager_it_is_given_even_if_one_is_broken(self, tmp_path: Path) -> None:
        class Broken:
            def disable(self) -> None:
                raise RuntimeError("broken")

        disabled: list[str] = []

        class Working:
            def disable(self) -> None:
                disabled.append("yes")

        consent = Consent.from_config_file(tmp_path / "config.cfg")

        assert consent.decline(Broken(), None, Working())  # type: ignore[arg-type]
        assert disabled == ["yes"]


class TestOnASettingsObject:
    def test_the_answer_is_set_on_the_object_and_its_save_is_called(self) -> None:
        saved: list[Any] = []
        app_settings = AnalyticsSettings()
        consent = Consent.from_settings(app_settings, saved.append)

        assert consent.should_ask()
        assert consent.decline()

        assert (app_settings.analytics_enabled, app_settings.analytics_popup_dismissed) == (False, True)
        assert saved == [app_settings]

    def test_a_failing_save_is_reported_not_raised(self) -> None:
        def fail(_: Any) -> None:
            raise OSError("disk full")

        consent = Consent.from_settings(AnalyticsSettings(), fail)

        assert consent.accept() is False
        assert consent.asked is True


ini_names = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8)
ini_values = st.text(alphabet=string.ascii_letters + string.digits + " /._-", max_size=12).map(str.strip)


class TestTheIniEditor:
    @settings(max_examples=200, deadline=None, database=None)
    @given(
        sections=st.dictionaries(
            st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=6).filter(
                lambda s: s != "ANALYTICS"
            ),
            st.dictionaries(ini_names, ini_values, max_size=4),
            max_size=3,
        ),
        existing=st.dictionaries(
            st.sampled_from(["analytics_enabled", "analytics_popup_dismissed", "other_key"]),
            st.sampled_from(["True", "False", "x"]),
        ),
        enabled=st.booleans(),
        asked=st.booleans(),
        crlf=st.booleans(),
    )
    def test_only_the_two_keys_change(
        self,
        sections: dict[str, dict[str, str]],
        existing: dict[str, str],
        enabled: bool,
        asked: bool,
        crlf: bool,
    ) -> None:
        newline = "\r\n" if crlf else "\n"
        blocks = [
            f"[{name}]{newline}" + "".join(f"{k} = {v}{newline}" for k, v in keys.items())
            for name, keys in sections.items()
        ]
        if existing:
            blocks.insert(
                len(blocks) // 2,
                "[ANALYTICS]" + newline + "".join(f"{k} = {v}{newline}" for k, v in existing.items()),
            )
        text = newline.join(blocks)

        updated = update_ini_section(
            text, "ANALYTICS", {"analytics_enabled": str(enabled), "analytics_popup_dismissed": str(asked)}
        )

        before = configparser.ConfigParser(interpolation=None)
        before.read_string(text)
        after = configparser.ConfigParser(interpolation=None)
        after.read_string(updated)
        for name in sections:
            assert dict(after[name]) == dict(before[name])
        assert after.getboolean("ANALYTICS", "analytics_enabled") is enabled
        assert after.getboolean("ANALYTICS", "analytics_popup_dismissed") is asked
        if "other_key" in existing:
            assert after["ANALYTICS"]["other_key"] == existing["other_key"]
        if crlf and text:
            assert "\n" not in updated.replace("\r\n", "")
