"""A payload change fails a test that says how to re-record; `make cassettes` re-creates the files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract_tests.cassette_scenarios import cassette_path, comparable, drift, scenario_named

from ._support import CASSETTES, ROOT, drifted_ga4_spec, spec_named


@dataclass(frozen=True)
class Recording:
    out: Path
    stdout: str


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """Every cassette recorded again by the `make cassettes` script, into a temporary folder."""
    out = tmp_path_factory.mktemp("recorded")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "record_cassettes.py"), "--out", str(out)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Recording(out, result.stdout)


@pytest.fixture
def fresh_recording(recording: Recording) -> Path:
    return recording.out


class TestMakeCassettesRecreatesTheCommittedCassettes:
    def test_the_same_files_are_recorded(self, fresh_recording: Path) -> None:
        committed = sorted(p.relative_to(CASSETTES) for p in CASSETTES.rglob("*.yaml"))
        fresh = sorted(p.relative_to(fresh_recording) for p in fresh_recording.rglob("*.yaml"))
        assert fresh == committed

    def test_each_file_has_the_committed_content_once_volatile_fields_are_normalised(
        self, fresh_recording: Path
    ) -> None:
        differing = [
            str(path.relative_to(CASSETTES))
            for path in sorted(CASSETTES.rglob("*.yaml"))
            if comparable(path) != comparable(fresh_recording / path.relative_to(CASSETTES))
        ]
        assert differing == [], f"re-recording changed {differing}: is a provider's payload no longer pinned?"

    def test_a_cassette_recorded_against_the_fakes_is_byte_identical_when_recorded_again(
        self, fresh_recording: Path
    ) -> None:
        from contract_tests.cassettes import load_cassette

        for path in sorted(CASSETTES.rglob("*.yaml")):
            if load_cassette(path)["metadata"]["recorded_against"] != "fakes":
                continue  # re-recorded against the real vendor: only the payloads must agree
            fresh = fresh_recording / path.relative_to(CASSETTES)
            assert fresh.read_text() == path.read_text(), path

    def test_the_recording_prints_what_each_scenario_delivered(self, recording: Recording) -> None:
        pattern = r"Amplitude\s+rejected_400\s+sent 2, retried 2, dropped \{'rejected': 1\}"
        assert re.search(pattern, recording.stdout), recording.stdout
        assert re.search(r"GA4\s+throttled_429\s+sent 2, retried 2, dropped 0", recording.stdout)

    def test_one_provider_can_be_recorded_alone(self, tmp_path: Path) -> None:
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "record_cassettes.py"),
                "--out",
                str(tmp_path),
                "--provider",
                "ga4",
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert [p.name for p in tmp_path.iterdir()] == ["ga4"]
        assert sorted(p.name for p in (tmp_path / "ga4").iterdir()) == sorted(
            p.name for p in (CASSETTES / "ga4").iterdir()
        )

    def test_recording_against_the_real_vendors_refuses_to_run_in_ci(self, tmp_path: Path) -> None:
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "record_cassettes.py"), "--live", "--out", str(tmp_path)],
            env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        assert "never runs in CI" in result.stderr
        assert list(tmp_path.iterdir()) == []

    def test_the_makefile_has_a_cassettes_target_running_the_script(self) -> None:
        makefile = (ROOT / "Makefile").read_text()
        assert re.search(r"^cassettes:", makefile, re.MULTILINE)
        assert "scripts/record_cassettes.py" in makefile
        assert re.search(r"^\.PHONY:.*\bcassettes\b", makefile, re.MULTILINE)


class TestDriftIsCaught:
    def test_a_provider_whose_payload_changed_fails_with_the_diff_and_how_to_re_record(
        self, tmp_path: Path
    ) -> None:
        spec = drifted_ga4_spec()
        scenario = scenario_named("custom_event")
        message = drift(spec, scenario, cassette_path(spec, scenario), tmp_path)
        assert message is not None
        assert "no longer matches its cassette" in message
        assert "re-record with `make cassettes`" in message
        assert "+          added_by_mistake: 'yes'" in message

    def test_the_unchanged_provider_has_no_drift(self, tmp_path: Path) -> None:
        spec = spec_named("GA4")
        scenario = scenario_named("custom_event")
        assert drift(spec, scenario, cassette_path(spec, scenario), tmp_path) is None

    def test_a_missing_cassette_is_drift_that_says_how_to_record_it(self, tmp_path: Path) -> None:
        spec = spec_named("GA4")
        message = drift(spec, scenario_named("page_view"), tmp_path / "absent.yaml", tmp_path)
        assert message is not None
        assert "make cassettes" in message


class TestACassetteRecordedAgainstAnotherProject:
    """What `make cassettes LIVE=1` produces (simulated on loopback with other credentials)."""

    def test_it_holds_no_secret_and_still_matches_and_replays(self, tmp_path: Path) -> None:
        from contract_tests.cassette_scenarios import record, replay
        from contract_tests.cassettes import load_cassette, scan_for_secrets
        from fakes import FakeServer
        from fakes.ga4 import GA4Fake
        from telemetry import GA4Config

        spec = spec_named("GA4")
        scenario = scenario_named("custom_event")
        real_looking = "aB3dEfGhIjKlMnOpQrStUv"
        with FakeServer(vendors=[GA4Fake()]) as vendor:
            live = GA4Config(measurement_id="G-ABCDEF1234", api_secret=real_looking, endpoint=vendor.base_url)
            record(spec, scenario, tmp_path, live_config=live)
        path = cassette_path(spec, scenario, tmp_path)
        assert load_cassette(path)["metadata"]["recorded_against"] == "vendor"
        assert scan_for_secrets(path, [real_looking]) == []
        assert "G-ABCDEF1234" not in path.read_text()
        assert comparable(path) == comparable(cassette_path(spec, scenario))
        assert replay(spec, scenario, path).problems() == []

    def test_scenarios_that_inject_faults_are_never_recorded_against_a_vendor(self, tmp_path: Path) -> None:
        from contract_tests.cassette_scenarios import record
        from telemetry import GA4Config

        live = GA4Config(measurement_id="G-ABCDEF1234", api_secret="x" * 22, endpoint="http://127.0.0.1:9")
        with pytest.raises(ValueError, match="fakes only"):
            record(spec_named("GA4"), scenario_named("throttled_429"), tmp_path, live_config=live)
