"""Caller-side cost of one tracking call, in microseconds, median of several runs.

Each case runs in a fresh process against a fake server process: live (answers at once) or
black-holed (accepts and never answers). Our `track_event` with three providers enabled (GA4,
Amplitude, Mixpanel) is printed beside the bare SDKs in the same run: `amplitude-analytics`
`Amplitude.track()`, `posthog` `Posthog.capture()` and `segment-analytics-python`
`Client.track()`. The fake has no PostHog or Segment routes, so their requests are answered 404:
that changes nothing on the caller's side (they give up on a 4xx without retrying). Payload and
method follow sdk-anchors.md section 3.1: 200 warm-up calls, then `timeit` runs of N calls,
logging disabled, and the child ends with `os._exit(0)` so SDK exit handlers do not run.

    python benchmarks/bench_caller_cost.py [--calls 20000] [--runs 5] [--cases telemetry,amplitude,...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    EVENT_NAME,
    PROPS,
    USER_ID,
    build_manager,
    delivery_options,
    median,
    mixpanel_provider_class,
)
from benchmarks._fakeproc import fake_process

GOAL_US = 5.0
CASES = {
    "telemetry": "telemetry track_event (GA4 + Amplitude + Mixpanel)",
    "amplitude": "amplitude-analytics Amplitude.track()",
    "posthog": "posthog Posthog.capture() [404 on the fake]",
    "segment": "segment-analytics-python Client.track() [404]",
}
# Anchors measured elsewhere on this kind of machine (sdk-anchors.md section 3.2), live stub.
ANCHORS = {"amplitude": "~90 (dead: 200-360)", "posthog": "~80", "segment": "~44"}

TEMP_DIRS: list[Path] = []  # removed by the child before it ends


def _telemetry_call(base_url: str) -> Callable[[], None]:
    db = Path(tempfile.mkdtemp(prefix="bench-caller-")) / "bench.sqlite"
    TEMP_DIRS.append(db.parent)
    manager = build_manager(db, base_url, delivery_options(queue_capacity=10_000_000))
    track = manager.track_event

    def call() -> None:
        track(EVENT_NAME, PROPS)

    return call


def _amplitude_call(base_url: str) -> Callable[[], None]:
    from amplitude import Amplitude, BaseEvent, Config

    client = Amplitude("bench-amplitude-key", Config(server_url=f"{base_url}/2/httpapi"))

    def call() -> None:
        client.track(BaseEvent(event_type=EVENT_NAME, user_id=USER_ID, event_properties=PROPS))

    return call


def _posthog_call(base_url: str) -> Callable[[], None]:
    from posthog import Posthog

    client = Posthog("phc_bench", host=base_url, enable_local_evaluation=False, max_queue_size=1_000_000)

    def call() -> None:
        client.capture(EVENT_NAME, distinct_id=USER_ID, properties=PROPS)

    return call


def _segment_call(base_url: str) -> Callable[[], None]:
    from segment.analytics.client import Client  # type: ignore[import-untyped]

    client = Client("bench-write-key", host=base_url, max_queue_size=1_000_000)

    def call() -> None:
        client.track(USER_ID, EVENT_NAME, PROPS)

    return call


MAKERS: dict[str, Callable[[str], Callable[[], None]]] = {
    "telemetry": _telemetry_call,
    "amplitude": _amplitude_call,
    "posthog": _posthog_call,
    "segment": _segment_call,
}


def _child(case: str, base_url: str, calls: int, runs: int) -> None:
    logging.disable(logging.CRITICAL)
    call = MAKERS[case](base_url)
    for _ in range(200):
        call()
    samples = [timeit.timeit(call, number=calls) / calls * 1e6 for _ in range(runs)]
    print(json.dumps(samples), flush=True)
    for path in TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)
    os._exit(0)  # skip atexit: the SDKs would stall exit (Amplitude for its 10 s flush interval)


def _run_case(case: str, base_url: str, calls: int, runs: int) -> list[float]:
    output = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", case, base_url, "--calls", str(calls), "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    ).stdout
    return [float(x) for x in json.loads(output.strip().splitlines()[-1])]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated subset of " + ",".join(CASES)
    )
    parser.add_argument("--child", nargs=2, metavar=("CASE", "URL"))
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.calls, args.runs)
        return
    cases = [c for c in args.cases.split(",") if c]
    results: dict[tuple[str, str], list[float]] = {}
    for backend, hang in (("live", False), ("black-holed", True)):
        with fake_process(hang=hang) as base_url:
            for case in cases:
                results[(case, backend)] = _run_case(case, base_url, args.calls, args.runs)
    print(f"Mixpanel provider: {mixpanel_provider_class()[2]}")
    print(f"Caller cost of one call, µs (median of {args.runs} runs of {args.calls:,} calls; min-max)")
    print(f"{'case':52} {'live fake':>20} {'black-holed fake':>20} {'anchor (live)':>20}")
    for case in cases:
        cells = []
        for backend in ("live", "black-holed"):
            samples = results[(case, backend)]
            cells.append(f"{median(samples):7.2f} ({min(samples):.1f}-{max(samples):.1f})")
        anchor = ANCHORS.get(case, f"goal <= {GOAL_US:g}")
        print(f"{CASES[case]:52} {cells[0]:>20} {cells[1]:>20} {anchor:>20}", flush=True)
    if "telemetry" in cases:
        worst = max(median(results[("telemetry", b)]) for b in ("live", "black-holed"))
        verdict = "MET" if worst <= GOAL_US else f"MISSED by {worst - GOAL_US:.2f} µs"
        print(f"goal: telemetry median <= {GOAL_US:g} µs against both fakes: {verdict}")
        others = [median(results[(c, "live")]) for c in cases if c != "telemetry"]
        if others:
            print(
                f"telemetry is {min(others) / median(results[('telemetry', 'live')]):.0f}x cheaper "
                "than the cheapest SDK (live)"
            )


if __name__ == "__main__":
    main()
