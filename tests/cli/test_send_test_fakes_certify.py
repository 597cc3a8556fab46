"""`telemetry send-test`, `telemetry fakes serve` and `telemetry certify`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from fakes import FakeServer
from fakes.segment import SegmentFake
from telemetry import AnalyticsSettings, TelemetryManager
from telemetry.cli import _spec_reference

from .conftest import SECRETS, Run

RunJson = Callable[..., tuple[int, dict[str, Any]]]


class TestSendTest:
    def test_one_named_event_reaches_every_enabled_backend_and_each_answer_is_shown(
        self, run: Run, run_json: RunJson, every_provider: FakeServer, tmp_path: Path
    ) -> None:
        code, report = run_json("send-test")

        assert code == report["exit_code"] == 0
        assert {r["name"]: r["status"] for r in report["results"]} == {
            "GA4": "delivered",
            "Amplitude": "delivered",
            "Mixpanel": "delivered",
            "RudderStack": "delivered",
            "Segment": "delivered",
        }
        answers = {r["name"]: r["answer"] for r in report["results"]}
        assert answers["GA4"] == "HTTP 204 (empty body)"
        assert answers["RudderStack"] == "HTTP 200: ok"
        assert answers["Mixpanel"] == 'HTTP 200: {"status": 1, "error": null}'
        names = sorted((e.vendor, e.name) for e in every_provider.events())
        assert names == [
            ("amplitude", "telemetry_send_test"),
            ("ga4", "telemetry_send_test"),
            ("mixpanel", "telemetry_send_test"),
            ("rudderstack", "telemetry_send_test"),
            ("rudderstack", "telemetry_send_test"),
        ]
        assert report["database"] == "(temporary)"
        assert list(tmp_path.iterdir()) == []  # no database left in the working directory

    def test_a_backend_that_refuses_is_reported_with_its_answer_and_exit_1(
        self, run: Run, fake_server_factory: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        server = fake_server_factory([SegmentFake("rudderstack", write_keys=["the-real-key-1"])])
        monkeypatch.setenv("RUDDERSTACK_WRITE_KEY", "a-wrong-key-123")
        monkeypatch.setenv("RUDDERSTACK_DATA_PLANE_URL", server.base_url)
        code, text = run("send-test")

        assert code == 1
        (row,) = [line for line in text.splitlines() if line.strip().startswith("RudderStack")]
        assert row.split()[:2] == ["RudderStack", "failed"]
        assert "HTTP 401: invalid write key" in row
        assert "a-wrong-key-123" not in text

    def test_with_do_not_track_nothing_is_sent_and_exit_is_3(
        self, run_json: RunJson, every_provider: FakeServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DO_NOT_TRACK", "1")
        code, report = run_json("send-test")

        assert (code, report["refused"], report["results"]) == (3, "DO_NOT_TRACK is set", [])
        assert every_provider.requests() == []

    def test_with_db_the_applications_client_id_is_used(
        self, run_json: RunJson, every_provider: FakeServer, tmp_path: Path
    ) -> None:
        db = tmp_path / "app.sqlite"
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(), db, environ={"MIXPANEL_PROJECT_TOKEN": "t-1234"}
        )
        client_id = manager.get_client_id()
        manager.shutdown(0.1)
        code, _ = run_json("send-test", "--db", str(db))

        assert code == 0
        assert {e.client_id for e in every_provider.events(vendor="mixpanel")} == {client_id}

    def test_nothing_configured_is_exit_3(self, run_json: RunJson) -> None:
        code, report = run_json("send-test")
        assert code == 3
        assert {r["status"] for r in report["results"]} == {"disabled"}


class TestFakesServe:
    def test_it_is_python_m_fakes_serve_with_every_vendor_including_the_segment_api(
        self, tmp_path: Path
    ) -> None:
        script = Path(sys.executable).with_name("telemetry")
        process = subprocess.Popen(
            [str(script), "fakes", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_PROXY": "127.0.0.1"},
        )
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            with requests.Session() as session:
                session.trust_env = False
                health = session.get(base_url + "/_fakes/health", timeout=5).json()
            assert set(health["vendors"]) == {"ga4", "amplitude", "mixpanel", "rudderstack"}
            assert "/v1/batch" in health["vendors"]["rudderstack"]
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)
        assert code == 0


class TestCertify:
    def test_an_unknown_provider_is_a_usage_error(self, run: Run, capsys: pytest.CaptureFixture[str]) -> None:
        code, _ = run("certify", "NoSuchProvider")
        assert code == 2
        assert "neither MODULE:ATTR nor a registered provider" in capsys.readouterr().err

    def test_a_registered_name_resolves_to_its_contract_spec(self) -> None:
        assert _spec_reference("Mixpanel") == "contract_tests.builtin:MIXPANEL_SPEC"
        assert _spec_reference("segment") == "contract_tests.builtin:SEGMENT_SPEC"
        assert _spec_reference("pkg.mod:SPEC") == "pkg.mod:SPEC"

    def test_a_spec_that_cannot_be_loaded_is_a_usage_error(
        self, run: Run, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out = run("certify", "no_such_module_xyz:SPEC")
        assert code == 2
        assert out == ""
        assert "no_such_module_xyz" in capsys.readouterr().err

    def test_the_table_renders_every_check_of_the_report(self) -> None:
        from telemetry.cli import render_certification

        document = json.loads(
            json.dumps(
                {
                    "providers": [
                        {
                            "provider": "X",
                            "version": "1.0",
                            "provider_class": "x.X",
                            "capabilities": ["custom_events"],
                            "certified": False,
                            "checks": [
                                {"group": "TestA", "check": "test_one", "outcome": "passed", "reason": ""},
                                {
                                    "group": "TestB",
                                    "check": "test_two",
                                    "outcome": "failed",
                                    "reason": "boom",
                                },
                            ],
                        }
                    ]
                }
            )
        )
        text = render_certification(document)
        assert text.splitlines()[0] == "X 1.0: NOT certified"
        assert "  TestB  test_two  failed   boom" in text
        assert "1 passed, 0 skipped, 1 failed" in text
        assert SECRETS  # the module's shared secrets are not involved here
