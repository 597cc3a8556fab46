"""`telemetry doctor` and `telemetry certify` see an installed third-party provider like a built-in."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from telemetry.cli import main

from .conftest import clean_environ


def doctor_json(*args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main(["doctor", "--json", *args], out=out)
    return code, json.loads(out.getvalue())


class TestDoctorReportsThirdPartyProviders:
    def test_each_third_party_provider_shows_exactly_why_it_is_not_sending(
        self, acme_installed: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ACME_TOKEN", "ACME-TOKEN-doctor-1")
        monkeypatch.setenv("ACME_STRICT_LEVEL", "high")
        code, report = doctor_json()

        providers = {p["name"]: p for p in report["providers"]}
        assert providers["Acme"]["status"] == "enabled"
        assert providers["Acme"]["endpoints"] == ["https://ingest.acme.invalid/acme/collect"]
        assert providers["Acme"]["distribution"] == "acme-telemetry 1.2.3"
        assert providers["AcmeSdk"]["status"] == "disabled"
        assert providers["AcmeSdk"]["reasons"] == ["the acme-sdk package is not installed"]
        assert providers["AcmeStrict"]["status"] == "broken"
        assert providers["AcmeStrict"]["reasons"][0].startswith(
            "configuration error: environment ACME_STRICT_LEVEL"
        )
        assert providers["acme_broken"]["status"] == "broken"
        assert "ModuleNotFoundError" in providers["acme_broken"]["reasons"][0]
        assert code == report["exit_code"] == 1
        assert "ACME-TOKEN-doctor-1" not in json.dumps(report)

    def test_the_check_runs_the_round_trip_the_third_party_declares(
        self, acme_installed: Path, fake_server_factory: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from acme_telemetry import AcmeFake

        server = fake_server_factory([AcmeFake()])
        monkeypatch.setenv("ACME_TOKEN", "ACME-TOKEN-doctor-2")
        monkeypatch.setenv("TELEMETRY_ENDPOINT", server.base_url)
        code, report = doctor_json("--check")

        (acme,) = [p for p in report["providers"] if p["name"] == "Acme"]
        assert acme["check"] == {"ok": True, "detail": "Acme answered 200", "status": 200}
        assert [r.path for r in server.requests()] == ["/acme/collect"]
        assert server.events() == []
        assert code == 1  # the broken acme_broken entry point is still a problem


class TestCertifyAnInstalledProvider:
    def test_the_certify_command_runs_the_contract_suite_and_prints_its_table(
        self, acme_site: Path, tmp_path: Path
    ) -> None:
        report = tmp_path / "acme-report.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "telemetry.cli",
                "certify",
                "acme_telemetry:acme_spec",
                "--report",
                str(report),
            ],
            env=clean_environ(PYTHONPATH=str(acme_site)),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

        document = json.loads(report.read_text())
        (acme,) = document["providers"]
        assert acme["provider"] == "Acme"
        assert acme["version"] == "1.2.3"
        lines = done.stdout.splitlines()
        assert lines[0] == f"Acme 1.2.3: {'certified' if acme['certified'] else 'NOT certified'}"
        for check in acme["checks"]:
            assert any(check["check"] in line and check["outcome"] in line for line in lines), check
        assert done.returncode == (0 if acme["certified"] else 1), done.stderr
        assert (tmp_path / "acme-report.md").is_file()
