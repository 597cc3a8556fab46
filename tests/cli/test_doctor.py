"""`telemetry doctor`: what would send, exactly why not, where the client_id lives, and --check."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeServer
from fakes.segment import SegmentFake
from telemetry import AnalyticsSettings, TelemetryManager

from .conftest import SECRETS, Run

RunJson = Callable[..., tuple[int, dict[str, Any]]]
BUILTINS = ["GA4", "Amplitude", "Mixpanel", "RudderStack", "Segment"]


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in report["providers"]}


class TestDoctorSaysExactlyWhy:
    def test_with_nothing_configured_each_provider_names_its_missing_key_and_exit_is_3(
        self, run_json: RunJson
    ) -> None:
        code, report = run_json("doctor")

        assert code == report["exit_code"] == 3
        assert {name: p["reasons"] for name, p in by_name(report).items()} == {
            "GA4": ["GA_MEASUREMENT_ID is not set"],
            "Amplitude": ["AMPLITUDE_API_KEY is not set"],
            "Mixpanel": ["MIXPANEL_PROJECT_TOKEN is not set"],
            "RudderStack": ["RUDDERSTACK_WRITE_KEY is not set"],
            "Segment": ["SEGMENT_WRITE_KEY is not set"],
        }

    def test_do_not_track_is_named_for_every_provider(
        self, run_json: RunJson, every_provider: FakeServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DO_NOT_TRACK", "1")
        code, report = run_json("doctor", "--check")

        assert code == 3
        assert report["opt_out"] == "DO_NOT_TRACK is set"
        assert all(p["reasons"] == ["DO_NOT_TRACK is set"] for p in report["providers"])
        assert every_provider.requests() == []  # --check sends nothing when the user said no

    def test_analytics_disabled_in_the_original_config_cfg_is_named_with_its_source(
        self, run_json: RunJson, every_provider: FakeServer, tmp_path: Path
    ) -> None:
        (tmp_path / "config.cfg").write_text("[ANALYTICS]\nanalytics_enabled = false\n")
        code, report = run_json("doctor")

        assert code == 3
        assert report["settings_file"] == str(tmp_path / "config.cfg")
        assert report["settings_file_source"] == "found in the working directory"
        expected = "analytics disabled (config.cfg [ANALYTICS] analytics_enabled is false)"
        assert all(p["reasons"] == [expected] for p in report["providers"])

    def test_an_enabled_provider_shows_its_endpoints_and_where_each_setting_came_from(
        self, run_json: RunJson, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        (tmp_path / "telemetry.toml").write_text(
            '[mixpanel]\nregion = "eu"\n[mixpnael]\nproject_token = "x"\n'
        )
        monkeypatch.setenv("MIXPANEL_PROJECT_TOKEN", SECRETS["MIXPANEL_PROJECT_TOKEN"])
        monkeypatch.setenv("AMPLITUDE_REGION", "eu")
        monkeypatch.setenv("TELEMETRY_ENDPOINT", "https://collector.example.com")
        code, report = run_json("doctor")

        amplitude = by_name(report)["Amplitude"]
        assert amplitude["settings"] == [{"name": "AMPLITUDE_REGION", "value": "eu", "source": "environment"}]
        mixpanel = by_name(report)["Mixpanel"]
        assert mixpanel["status"] == "enabled"
        assert mixpanel["endpoints"] == [
            "https://collector.example.com/track",
            "https://collector.example.com/engage",
        ]
        assert mixpanel["settings"] == [
            {"name": "MIXPANEL_PROJECT_TOKEN", "value": "MI***", "source": "environment"},
            {"name": "MIXPANEL_REGION", "value": "eu", "source": "telemetry.toml [mixpanel] region"},
            {
                "name": "MIXPANEL_ENDPOINT",
                "value": "https://collector.example.com",
                "source": "environment TELEMETRY_ENDPOINT",
            },
        ]
        assert report["warnings"] == ["settings table [mixpnael] matches no registered provider"]
        assert code == 0

    def test_an_invalid_settings_file_is_a_problem(self, run_json: RunJson, tmp_path: Path) -> None:
        broken = tmp_path / "broken.toml"
        broken.write_text("[mixpanel\n")
        code, report = run_json("doctor", "--config", str(broken))

        assert code == 1
        assert any("not valid TOML" in p for p in report["problems"])


class TestSecretsAreMasked:
    def test_no_secret_appears_in_text_or_json_only_its_masked_form(
        self, run: Run, every_provider: FakeServer, tmp_path: Path
    ) -> None:
        (tmp_path / "telemetry.toml").write_text('[ga4]\napi_secret = "GA-SECRET-from-the-file-6"\n')
        outputs = [run("doctor")[1], run("doctor", "--json")[1], run("doctor", "--check")[1]]

        for output in outputs:
            for secret in [*SECRETS.values(), "GA-SECRET-from-the-file-6"]:
                assert secret not in output
        assert "MI***" in outputs[0]
        assert "GA***" in outputs[0]


class TestTheClientIdDatabase:
    def test_a_healthy_database_shows_the_start_of_its_client_id(
        self, run_json: RunJson, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        db = tmp_path / "app.sqlite"
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), db, environ={"MIXPANEL_PROJECT_TOKEN": SECRETS["MIXPANEL_PROJECT_TOKEN"]}
        )
        client_id = manager.get_client_id() or ""
        manager.shutdown(0.1)
        monkeypatch.setenv("MIXPANEL_PROJECT_TOKEN", SECRETS["MIXPANEL_PROJECT_TOKEN"])
        code, report = run_json("doctor", "--db", str(db))

        assert report["database"]["state"] == "healthy"
        assert report["database"]["detail"].startswith(f"client_id {client_id[:8]}")
        assert client_id not in json.dumps(report)
        assert code == 0

    def test_a_missing_database_is_reported_and_not_created(self, run_json: RunJson, tmp_path: Path) -> None:
        db = tmp_path / "data" / "app.sqlite"
        _, report = run_json("doctor", "--db", str(db))

        assert report["database"]["state"] == "not created yet"
        assert not db.parent.exists()

    def test_a_corrupt_database_is_unhealthy_and_a_problem(self, run_json: RunJson, tmp_path: Path) -> None:
        db = tmp_path / "app.sqlite"
        db.write_bytes(b"this is not a database" * 100)
        code, report = run_json("doctor", "--db", str(db))

        assert report["database"]["state"] == "unhealthy"
        assert "DatabaseError" in report["database"]["detail"]
        assert code == 1

    @pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write read-only files")
    def test_a_read_only_database_is_unhealthy(self, run_json: RunJson, tmp_path: Path) -> None:
        db = tmp_path / "app.sqlite"
        sqlite3.connect(db).close()
        db.chmod(0o444)
        _, report = run_json("doctor", "--db", str(db))
        assert report["database"]["state"] == "unhealthy"

    def test_the_database_named_in_the_settings_file_is_found_relative_to_it(
        self, run_json: RunJson, tmp_path: Path
    ) -> None:
        (tmp_path / "telemetry.toml").write_text('db_path = "SVdata/database.sqlite"\n')
        _, report = run_json("doctor")

        assert report["database"]["path"] == str(tmp_path / "SVdata" / "database.sqlite")
        assert report["database"]["source"] == "telemetry.toml db_path"


class TestCheck:
    def test_every_enabled_provider_does_one_round_trip_and_nothing_is_recorded(
        self, run_json: RunJson, every_provider: FakeServer
    ) -> None:
        code, report = run_json("doctor", "--check")

        assert code == 0
        assert {p["name"]: p["check"]["ok"] for p in report["providers"]} == dict.fromkeys(BUILTINS, True)
        paths = sorted(r.path for r in every_provider.requests())
        assert paths == ["/debug/mp/collect", "/identify", "/track", "/v1/batch", "/v1/batch"]
        assert every_provider.events() == []

    def test_ga4_is_checked_through_its_validation_endpoint_and_its_messages_fail_the_check(
        self, run_json: RunJson, every_provider: FakeServer
    ) -> None:
        message = {"fieldPath": "events", "validationCode": "NAME_INVALID", "description": "bad"}
        body = json.dumps({"validationMessages": [message]})
        every_provider.faults.add(
            "status", route="/debug/mp/collect", status=200, body=body, content_type="application/json"
        )
        code, report = run_json("doctor", "--check")

        ga4 = by_name(report)["GA4"]
        assert ga4["check"] == {
            "ok": False,
            "detail": "1 validation message(s): NAME_INVALID bad",
            "status": 200,
        }
        assert code == 1

    def test_a_rejected_write_key_fails_its_check_with_exit_1(
        self, run_json: RunJson, fake_server_factory: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        server = fake_server_factory([SegmentFake("rudderstack", write_keys=["the-real-key-1"])])
        monkeypatch.setenv("RUDDERSTACK_WRITE_KEY", "a-wrong-key-123")
        monkeypatch.setenv("RUDDERSTACK_DATA_PLANE_URL", server.base_url)
        code, report = run_json("doctor", "--check")

        assert by_name(report)["RudderStack"]["check"] == {
            "ok": False,
            "detail": "write key rejected: invalid write key",
            "status": 401,
        }
        assert code == 1

    def test_an_unreachable_backend_fails_its_check(
        self, run_json: RunJson, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        monkeypatch.setenv("SEGMENT_WRITE_KEY", SECRETS["SEGMENT_WRITE_KEY"])
        monkeypatch.setenv("SEGMENT_ENDPOINT", f"http://127.0.0.1:{port}")
        code, report = run_json("doctor", "--check", "--timeout", "1")

        check = by_name(report)["Segment"]["check"]
        assert check["ok"] is False
        assert check["detail"].startswith("no answer (connect)")
        assert code == 1


class TestOutput:
    def test_the_text_output_aligns_the_provider_columns(
        self, run: Run, every_provider: FakeServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("AMPLITUDE_API_KEY")
        code, text = run("doctor")

        pattern = re.compile(r"^  ({})\s+(enabled|disabled)\s+(\S.*)$".format("|".join(BUILTINS)))
        rows = [m for m in map(pattern.match, text.splitlines()) if m is not None]
        assert [m.group(2) for m in rows] == ["enabled", "disabled", "enabled", "enabled", "enabled"]
        assert len({m.start(2) for m in rows}) == 1
        assert len({m.start(3) for m in rows}) == 1
        assert text.rstrip().endswith("4 of 5 providers enabled; ok (exit 0)")
        assert code == 0

    def test_the_installed_console_script_runs_with_the_same_exit_codes(self, tmp_path: Path) -> None:
        script = Path(sys.executable).with_name("telemetry")
        env = dict(os.environ)
        done = subprocess.run(
            [str(script), "doctor", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 3, done.stderr
        assert json.loads(done.stdout)["exit_code"] == 3
        usage = subprocess.run(
            [str(script), "doctor", "--bogus"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert usage.returncode == 2
        assert (
            "exit codes:"
            in subprocess.run(
                [str(script), "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
            ).stdout
        )
