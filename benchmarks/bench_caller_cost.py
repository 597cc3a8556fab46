"""Caller-side cost of one tracking call, in microseconds, median of several runs.

Each case runs in a fresh process against a fake server process: live (answers at once) or
black-holed (accepts and never answers). Compared side by side with the bare
`amplitude-analytics` SDK's `track()` in the same run.

    python benchmarks/bench_caller_cost.py [--calls 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fakeproc import fake_process

PARAMS = {"workflow_type": "event_based", "download_type": "waveform", "n": 42, "flag": True}


def _measure_telemetry(base_url: str, calls: int, runs: int) -> list[float]:
    import tempfile

    from telemetry import AmplitudeConfig, DeliveryOptions, GA4Config, TelemetryManager

    db = Path(tempfile.mkdtemp()) / "bench.sqlite"
    manager = TelemetryManager.from_configs(
        db,
        True,
        GA4Config(measurement_id="G-BENCH", api_secret="bench-secret", endpoint=base_url),
        AmplitudeConfig(api_key="bench-amplitude-key", endpoint=base_url),
        environ={},
        delivery=DeliveryOptions(queue_capacity=10_000_000),
    )
    for _ in range(200):
        manager.track_event("bench_event", PARAMS)

    def call() -> None:
        manager.track_event("bench_event", PARAMS)

    return [timeit.timeit(call, number=calls) / calls * 1e6 for _ in range(runs)]


def _measure_amplitude_sdk(base_url: str, calls: int, runs: int) -> list[float]:
    import logging

    from amplitude import Amplitude, BaseEvent, Config

    logging.disable(logging.CRITICAL)
    client = Amplitude("bench-amplitude-key", Config(server_url=f"{base_url}/2/httpapi"))
    for _ in range(200):
        client.track(BaseEvent(event_type="bench_event", device_id="device-1234", event_properties=PARAMS))

    def call() -> None:
        client.track(BaseEvent(event_type="bench_event", device_id="device-1234", event_properties=PARAMS))

    return [timeit.timeit(call, number=calls) / calls * 1e6 for _ in range(runs)]


def _child(case: str, base_url: str, calls: int, runs: int) -> None:
    measure = _measure_telemetry if case == "telemetry" else _measure_amplitude_sdk
    samples = measure(base_url, calls, runs)
    print(json.dumps(samples), flush=True)
    os._exit(0)  # skip atexit: the SDK alone would stall exit for its flush interval


def _run_case(case: str, base_url: str, calls: int, runs: int) -> list[float]:
    output = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", case, base_url, "--calls", str(calls), "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    return [float(x) for x in json.loads(output.strip().splitlines()[-1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "URL"))
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.calls, args.runs)
        return
    print(f"Caller cost of one tracking call (µs, median of {args.runs} runs of {args.calls} calls)")
    print(f"{'case':58} {'median':>8} {'min':>8} {'max':>8}")
    for backend, hang in (("live fake", False), ("black-holed fake", True)):
        with fake_process(hang=hang) as base_url:
            for case, label in (
                ("telemetry", "telemetry track_event (GA4 + Amplitude enabled)"),
                ("amplitude", "amplitude-analytics Amplitude.track() (bare SDK)"),
            ):
                samples = _run_case(case, base_url, args.calls, args.runs)
                print(
                    f"{label + ', ' + backend:58} {statistics.median(samples):8.2f} "
                    f"{min(samples):8.2f} {max(samples):8.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
