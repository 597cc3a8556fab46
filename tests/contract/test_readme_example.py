"""The README's "Adding a new provider" example is certified by the one command it shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_mixpanel_example_passes_the_contract_suite(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "contract_tests",
            "-q",
            "-p",
            "no:cacheprovider",
            "--provider",
            "examples.mixpanel_provider:MIXPANEL_SPEC",
            "--contract-report",
            str(report),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    (provider,) = json.loads(report.read_text())["providers"]
    assert provider["certified"] is True
    assert "examples.mixpanel_provider:MIXPANEL_SPEC" in (ROOT / "README.md").read_text()
