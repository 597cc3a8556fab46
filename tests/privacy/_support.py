"""Helpers of the privacy suite: recognisable secrets, fast delivery, fake inspection, log capture."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

from fakes.ga4 import check_payload
from telemetry import AmplitudeConfig, DeliveryOptions, GA4Config

MEASUREMENT_ID = "G-PRIVACY01"
GA_SECRET = "GA-SECRET-privacy-do-not-leak-7"
AMP_KEY = "AMP-KEY-privacy-do-not-leak-8"

FAST = DeliveryOptions(
    flush_interval=0.05,
    request_timeout=2.0,
    max_retries=2,
    backoff_base=0.01,
    backoff_max=0.05,
    retry_after_max=0.05,
    exit_grace=0.5,
)
"""Delivery that sends within 50 ms and retries within milliseconds."""

TELEMETRY_VARIABLES = (
    "GA_MEASUREMENT_ID",
    "GA_API_SECRET",
    "GA_REGION",
    "GA_VALIDATION_MODE",
    "GA_ENDPOINT",
    "AMPLITUDE_API_KEY",
    "AMPLITUDE_REGION",
    "AMPLITUDE_USE_BATCH",
    "AMPLITUDE_ENDPOINT",
    "AMPLITUDE_TRANSPORT",
    "TELEMETRY_ENDPOINT",
    "TELEMETRY_CONFIG",
    "APP_BASE_URL",
    "DEBUG_TELEMETRY",
    "DO_NOT_TRACK",
    "TELEMETRY_DISABLED",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


def ga4_config(endpoint: str | None, **overrides: Any) -> GA4Config:
    values: dict[str, Any] = {"enabled": True, "measurement_id": MEASUREMENT_ID, "api_secret": GA_SECRET}
    values.update(overrides)
    return GA4Config(endpoint=endpoint, **values)


def amplitude_config(endpoint: str | None, **overrides: Any) -> AmplitudeConfig:
    values: dict[str, Any] = {"enabled": True, "api_key": AMP_KEY}
    values.update(overrides)
    return AmplitudeConfig(endpoint=endpoint, **values)


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any telemetry variable, loopback never proxied."""
    env = {k: v for k, v in os.environ.items() if k not in TELEMETRY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `code` (dedented) in a fresh interpreter of this virtualenv."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=clean_environ() if env is None else env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ga4_payload_findings(fake: Any) -> list[str]:
    """Every GA4 validation finding on every /mp/collect request the fake recorded."""
    problems: list[str] = []
    for request in fake.requests(path="/mp/collect"):
        payload = json.loads(request.body)
        for finding in check_payload(payload, body_size=len(request.body)):
            problems.append(str(finding.message))
    return problems


def amplitude_rejections(fake: Any) -> list[str]:
    """Every Amplitude request the fake did not answer 200, with its answer."""
    return [
        f"HTTP {r.status}: {r.body[:200]!r}"
        for r in fake.requests(path="/2/httpapi")
        if r.status != 200 and r.fault is None
    ]


def raw_bodies(fake: Any) -> str:
    """Every request body and query string the fake received, as one text."""
    parts = []
    for request in fake.requests():
        parts.append(request.body.decode("utf-8", "replace"))
        parts.append(json.dumps(request.query))
    return "\n".join(parts)


class RecordingHandler(logging.Handler):
    """Keeps every record it is handed, and its formatted text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]

    def at(self, level: int) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno == level]


@contextlib.contextmanager
def capture_logs(name: str = "telemetry", level: int = logging.DEBUG) -> Iterator[RecordingHandler]:
    """Every record of logger `name` at `level` and above, for the duration."""
    logger = logging.getLogger(name)
    handler = RecordingHandler()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextlib.contextmanager
def capture_connects() -> Iterator[list[Any]]:
    """Every outgoing socket connect made while the block runs, from any thread."""
    attempts: list[Any] = []
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        attempts.append(address)
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    try:
        yield attempts
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
