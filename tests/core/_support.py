"""Helpers shared by the core tests: recognisable secrets, fast delivery, subprocesses, log capture."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from telemetry import AmplitudeConfig, DeliveryOptions, GA4Config

MEASUREMENT_ID = "G-CORE0TEST"
GA_SECRET = "GA-SECRET-do-not-log-123"
AMP_KEY = "AMP-KEY-do-not-log-456"
SECRETS = (GA_SECRET, AMP_KEY)

FAST = DeliveryOptions(
    flush_interval=0.05,
    request_timeout=2.0,
    max_retries=3,
    backoff_base=0.01,
    backoff_max=0.05,
    retry_after_max=0.05,
    exit_grace=0.5,
)
"""Delivery that sends within 50 ms and retries within milliseconds."""

TELEMETRY_PREFIXES = ("GA_", "AMPLITUDE_", "MIXPANEL_", "RUDDERSTACK_", "SEGMENT_", "TELEMETRY_")
TELEMETRY_NAMES = ("APP_BASE_URL", "DEBUG_TELEMETRY", "DO_NOT_TRACK", "PYTHONWARNINGS")


def is_telemetry_variable(name: str) -> bool:
    return name.startswith(TELEMETRY_PREFIXES) or name in TELEMETRY_NAMES


def ga4_config(endpoint: str | None, **overrides: Any) -> GA4Config:
    values: dict[str, Any] = {"enabled": True, "measurement_id": MEASUREMENT_ID, "api_secret": GA_SECRET}
    values.update(overrides)
    return GA4Config(endpoint=endpoint, **values)


def amplitude_config(endpoint: str | None, **overrides: Any) -> AmplitudeConfig:
    values: dict[str, Any] = {"enabled": True, "api_key": AMP_KEY}
    values.update(overrides)
    return AmplitudeConfig(endpoint=endpoint, **values)


def refused_endpoint() -> str:
    """A loopback URL nobody listens on: a port bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any telemetry variable, loopback never proxied."""
    env = {k: v for k, v in os.environ.items() if not is_telemetry_variable(k)}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


@dataclass(frozen=True)
class Finished:
    """A finished subprocess: its exit code, output and wall time."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_python(
    code: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> Finished:
    """Run `code` (dedented) in a fresh interpreter of this virtualenv."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=clean_environ() if env is None else env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


class RecordingHandler(logging.Handler):
    """Keeps every record it is handed, and its formatted text (traceback included)."""

    def __init__(self, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def at_least(self, level: int) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= level]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def capture_telemetry_logs(level: int = logging.DEBUG) -> Iterator[RecordingHandler]:
    """Every record of the `telemetry` loggers at `level` and above, for the duration."""
    logger = logging.getLogger("telemetry")
    handler = RecordingHandler(level)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
