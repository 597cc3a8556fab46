"""The contract suite proves itself: each broken provider fails in its own group, the reference in none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
EXPECTED_FAILING_GROUP = {
    "NOT_ENRICHING": "TestEnrichment",
    "CALLER_THREAD_SENDER": "TestTimeouts",
    "RAISING": "TestFailureIsolation",
    "NEW_CLIENT_ID": "TestClientIdPersistence",
    "LOGS_ITS_KEY": "TestPrivacy",
    "IGNORES_DISABLED": "TestPrivacy",
    "REFERENCE": None,
}
PARALLEL = 2


def _command(spec: str, report: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "contract_tests",
        "-q",
        "-p",
        "no:cacheprovider",
        "--provider",
        f"tests.contract.broken_providers:{spec}",
        "--contract-report",
        str(report),
    ]


@pytest.fixture(scope="module")
def certification_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run the whole suite once per provider, two at a time, and read each JSON report."""
    out = tmp_path_factory.mktemp("reports")
    env = {**os.environ, "PYTHONPATH": str(HERE.parent.parent)}
    pending = list(EXPECTED_FAILING_GROUP)
    running: list[tuple[str, subprocess.Popen[str]]] = []
    reports: dict[str, dict[str, Any]] = {}
    while pending or running:
        while pending and len(running) < PARALLEL:
            spec = pending.pop(0)
            process = subprocess.Popen(
                _command(spec, out / f"{spec}.json"),
                env=env,
                cwd=out,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            running.append((spec, process))
        spec, process = running.pop(0)
        output, _ = process.communicate(timeout=300)
        path = out / f"{spec}.json"
        assert path.exists(), f"{spec}: no report written\n{output[-3000:]}"
        reports[spec] = {"report": json.loads(path.read_text()), "output": output, "code": process.returncode}
    return reports


def _failing_groups(result: dict[str, Any]) -> set[str]:
    (provider,) = result["report"]["providers"]
    return {check["group"] for check in provider["checks"] if check["outcome"] == "failed"}


@pytest.mark.parametrize("spec", [s for s, group in EXPECTED_FAILING_GROUP.items() if group])
def test_a_broken_provider_fails_in_its_own_group_only(
    certification_reports: dict[str, dict[str, Any]], spec: str
) -> None:
    result = certification_reports[spec]
    assert result["code"] == 1, result["output"][-3000:]
    assert _failing_groups(result) == {EXPECTED_FAILING_GROUP[spec]}, result["output"][-3000:]


def test_the_reference_provider_passes_everything(certification_reports: dict[str, dict[str, Any]]) -> None:
    result = certification_reports["REFERENCE"]
    assert result["code"] == 0, result["output"][-3000:]
    (provider,) = result["report"]["providers"]
    assert provider["certified"] is True
    outcomes = {check["outcome"] for check in provider["checks"]}
    assert outcomes <= {"passed", "skipped"}
    skipped = [c for c in provider["checks"] if c["outcome"] == "skipped"]
    assert all(c["reason"] for c in skipped), "a skip without a reason"


def test_the_report_has_a_markdown_table_beside_the_json(
    certification_reports: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    from contract_tests.plugin import render_markdown

    markdown = render_markdown(certification_reports["NOT_ENRICHING"]["report"])
    assert "| group | check | outcome | reason |" in markdown
    assert "NOT certified" in markdown
    assert (
        "| TestEnrichment | test_every_event_kind_carries_session_runtime_and_lib_version | failed |"
        in markdown
    )
