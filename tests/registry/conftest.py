"""Fixtures of the registry tests: a clean environment, and the third-party package really installed.

`acme_site` runs `pip install --no-deps --target DIR tests/registry/third_party_pkg` once per
session; `acme_installed` puts DIR on sys.path for one test, the way an installed distribution is
found, and takes it away afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry import DeliveryOptions
from telemetry.registry import discover

PACKAGE = Path(__file__).resolve().parent / "third_party_pkg"

FAST = DeliveryOptions(
    flush_interval=0.05, request_timeout=2.0, max_retries=2, backoff_base=0.01, exit_grace=0.5
)

TELEMETRY_PREFIXES = ("GA_", "AMPLITUDE_", "MIXPANEL_", "RUDDERSTACK_", "SEGMENT_", "TELEMETRY_", "ACME_")
TELEMETRY_NAMES = ("APP_BASE_URL", "DEBUG_TELEMETRY", "DO_NOT_TRACK")


def is_telemetry_variable(name: str) -> bool:
    return name.startswith(TELEMETRY_PREFIXES) or name in TELEMETRY_NAMES


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without telemetry variables, loopback never proxied."""
    env = {k: v for k, v in os.environ.items() if not is_telemetry_variable(k)}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.pop("PYTHONWARNINGS", None)
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No telemetry variable of the developer's shell leaks in; no settings file is found by accident."""
    for name in list(os.environ):
        if is_telemetry_variable(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory the third-party package was pip-installed into (once per session)."""
    target = tmp_path_factory.mktemp("acme-site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    assert (target / "acme_telemetry-1.2.3.dist-info" / "entry_points.txt").is_file()
    return target


@pytest.fixture
def acme_installed(acme_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The third-party distribution on sys.path for this test only."""
    monkeypatch.syspath_prepend(str(acme_site))
    yield acme_site
    for name in [m for m in sys.modules if m == "acme_telemetry" or m.startswith("acme_telemetry.")]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Every test discovers providers from the installation as it is now."""
    discover(refresh=True)
    yield
    discover(refresh=True)
