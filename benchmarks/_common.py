"""Shared pieces of the benchmarks: the three-provider manager, a counting fake process, medians.

The counting fake is the ordinary `fakes.FakeServer` run in its own process; it tallies every
event it decodes (per vendor, and per dedup id) and then forgets the recording, so a run of a
million events neither fills its memory nor needs a gigabyte of `GET /_fakes/events` to check.
Faults are injected through the ordinary `/_fakes/faults` HTTP API.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from fakes._recorder import RecordedRequest
    from telemetry import DeliveryOptions, TelemetryManager

# The payload of sdk-anchors.md section 3.1, so our figures compare with the anchors.
EVENT_NAME = "test_event"
USER_ID = "user-123"
PROPS: dict[str, Any] = {"plan": "pro", "n": 42, "flag": True, "s": "x" * 32}

VENDORS = ("ga4", "amplitude", "mixpanel")
PROVIDER_VENDOR = {"GA4": "ga4", "Amplitude": "amplitude", "Mixpanel": "mixpanel"}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt_us(value: float) -> str:
    return f"{value:,.1f} µs" if value < 100 else f"{value:,.0f} µs"


def mixpanel_provider_class() -> tuple[type[Any], type[Any], str]:
    """Mixpanel's provider and config classes: the built-in one when it exists, else the example."""
    import importlib

    for where in ("telemetry.mixpanel_provider", "examples.mixpanel_provider"):
        try:
            module = importlib.import_module(where)
        except ImportError:
            continue
        return module.MixpanelTelemetryProvider, module.MixpanelConfig, where
    raise ImportError("no Mixpanel provider: neither telemetry.mixpanel_provider nor the example")


def delivery_options(**overrides: Any) -> DeliveryOptions:
    """DeliveryOptions with `overrides`; raises TypeError naming options this engine lacks."""
    from telemetry import DeliveryOptions

    known = {f.name for f in dataclasses.fields(DeliveryOptions)}
    missing = sorted(set(overrides) - known)
    if missing:
        raise TypeError(f"DeliveryOptions has no {', '.join(missing)}")
    return DeliveryOptions(**overrides)


def has_options(*names: str) -> bool:
    from telemetry import DeliveryOptions

    known = {f.name for f in dataclasses.fields(DeliveryOptions)}
    return all(name in known for name in names)


def build_manager(
    db_path: Path,
    base_url: str,
    options: DeliveryOptions,
    providers: Sequence[str] = ("GA4", "Amplitude", "Mixpanel"),
) -> TelemetryManager:
    """A manager with the named providers (default all three) pointed at `base_url`."""
    from telemetry import (
        AmplitudeConfig,
        AmplitudeTelemetryProvider,
        GA4Config,
        GA4TelemetryProvider,
        TelemetryManager,
    )

    specs: list[tuple[type[Any], Any]] = []
    for name in providers:
        if name == "GA4":
            config: Any = GA4Config(measurement_id="G-BENCH", api_secret="bench-secret", endpoint=base_url)
            specs.append((GA4TelemetryProvider, config))
        elif name == "Amplitude":
            specs.append(
                (AmplitudeTelemetryProvider, AmplitudeConfig(api_key="bench-key", endpoint=base_url))
            )
        elif name == "Mixpanel":
            provider_cls, config_cls, _ = mixpanel_provider_class()
            specs.append((provider_cls, config_cls(project_token="bench-token", endpoint=base_url)))
        else:
            raise ValueError(f"unknown provider {name!r}")
    manager = TelemetryManager.from_providers(db_path, specs, environ={}, delivery=options)
    if sorted(manager.enabled_providers) != sorted(providers):
        raise RuntimeError(f"providers not enabled: {manager.disabled_providers}")
    return manager


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.02) -> bool:
    """Poll `condition` until it holds or `timeout` passes (benchmarks only: tests wait on events)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def http_json(method: str, url: str, payload: Any = None, timeout: float = 30.0) -> Any:
    """One loopback HTTP call with the stdlib (the fake's control API)."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URL of a fake we started
        url, data=data, headers={"Content-Type": "application/json"}, method=method
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


# -- the counting fake -------------------------------------------------------------------------


_VENDOR = operator.attrgetter("vendor")
_NAME = operator.attrgetter("name")
_ACCEPTED = operator.attrgetter("accepted")
_INSERT_ID = operator.attrgetter("insert_id")


class _Tally:
    """What a counting fake saw, per vendor: events, dedup ids, duplicates, statuses."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.events: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.without_id: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.ids: dict[str, set[str]] = {}
        self.names: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.first: float | None = None
        self.last: float | None = None
        self.last_by_vendor: dict[str, float] = {}

    def add(self, request: RecordedRequest) -> None:
        """Tally one request; per request, not per event, where it can (it runs in the fake)."""
        vendor = request.vendor or "none"
        with self.lock:
            self.statuses[f"{vendor}:{request.status}:{request.fault or ''}"] += 1
            events = request.events
            if not events:
                return
            now = time.monotonic()
            self.first = self.first if self.first is not None else now
            self.last = now
            for message in request.validation_messages:
                if message.get("validationCode") == "DUPLICATE":
                    self.duplicates[vendor] += 1
            # A request's events almost always share one vendor; attrgetter maps spare a
            # Python-level step per event (this runs in the fake, beside the vendors' checks).
            vendors = set(map(_VENDOR, events))
            for event_vendor in vendors:
                ours = events if len(vendors) == 1 else [e for e in events if e.vendor == event_vendor]
                for name, count in Counter(map(_NAME, ours)).items():
                    self.names[f"{event_vendor}:{name}"] += count
                self.events[event_vendor] += len(ours)
                self.last_by_vendor[event_vendor] = now
                self.rejected[event_vendor] += len(ours) - sum(map(_ACCEPTED, ours))
                ids = [i for i in map(_INSERT_ID, ours) if i is not None]
                self.without_id[event_vendor] += len(ours) - len(ids)
                seen = self.ids.setdefault(event_vendor, set())
                before = len(seen)
                seen.update(ids)
                self.duplicates[event_vendor] += len(ids) - (len(seen) - before)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "events": dict(self.events),
                "unique_ids": {v: len(s) for v, s in self.ids.items()},
                "duplicates": dict(self.duplicates),
                "without_id": dict(self.without_id),
                "rejected": dict(self.rejected),
                "names": dict(self.names),
                "statuses": dict(self.statuses),
                "first": self.first,
                "last": self.last,
                "last_by_vendor": dict(self.last_by_vendor),
            }


def serve_counting() -> None:
    """Child process: a FakeServer that tallies and forgets; commands on stdin, answers on stdout.

    Commands: `counts` (one JSON line back), `reset`, `quit`. The server keeps no recording
    (`record=False`: the tally reads each request as it is answered), and each vendor's dedup
    state is forgotten every second by a background thread (`on_request` runs under a vendor
    lock, so it cannot clear). A resend is counted as a duplicate either way: by the vendor
    fake's own DUPLICATE note within a second, by the tally's id sets across seconds.
    """
    from fakes import FakeServer

    tally = _Tally()
    server = FakeServer(on_request=tally.add, record=False).start()
    stop = threading.Event()

    def forget() -> None:
        while not stop.wait(1.0):
            server.clear()

    threading.Thread(target=forget, name="forget", daemon=True).start()
    print(server.base_url, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "counts":
            print(json.dumps({**tally.snapshot(), "cpu": time.process_time()}), flush=True)
        elif command == "reset":
            tally.reset()
            print("{}", flush=True)
        elif command == "quit":
            break
    stop.set()
    server.stop()


class CountingFake:
    """The parent's handle on a counting fake process: base URL, counts and faults."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self._lock = threading.Lock()

    def _command(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        with self._lock:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
            answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def counts(self) -> dict[str, Any]:
        return self._command("counts")

    def reset(self) -> None:
        self._command("reset")

    def events(self, vendor: str) -> int:
        return int(self.counts()["events"].get(vendor, 0))

    def add_fault(self, spec: dict[str, Any]) -> None:
        http_json("POST", f"{self.base_url}/_fakes/faults", spec)

    def clear_faults(self) -> None:
        http_json("DELETE", f"{self.base_url}/_fakes/faults")


def start_server_process(code: str, what: str) -> tuple[subprocess.Popen[str], str]:
    """Run `python -c code` from the project root; return it and the base URL it prints first."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and our own code
        [sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        process.kill()
        process.wait(timeout=5)
        raise RuntimeError(f"{what} did not start: {base_url!r}")
    return process, base_url


@contextmanager
def counting_fake(*, hang: bool = False) -> Iterator[CountingFake]:
    """Start a counting fake process (black-holed with `hang`) and stop it afterwards."""
    code = "from benchmarks._common import serve_counting; serve_counting()"
    process, base_url = start_server_process(code, "the counting fake")
    try:
        fake = CountingFake(process, base_url)
        if hang:
            fake.add_fault({"kind": "hang"})
        yield fake
    finally:
        try:
            assert process.stdin is not None
            process.stdin.write("quit\n")
            process.stdin.flush()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired, AssertionError):
            process.kill()
            process.wait(timeout=5)


def child_command(script: Path, *args: str) -> list[str]:
    """The command line that runs `script` again in a fresh interpreter."""
    return [sys.executable, str(script), *args]
