"""End-to-end throughput: events tracked per second AND delivered to every enabled provider's fake.

Ours: three providers (GA4, Amplitude, Mixpanel) on, `DeliveryOptions(queue_capacity=Q)` with
Q large enough to hold the whole run (nothing may be dropped; the drop counters are printed).
Beside it, in the same run, the `amplitude-analytics` SDK alone delivering to the same kind of
fake, with its default batch (200) and with `flush_queue_size=1000`.

Each case runs in a fresh process against a counting fake in another process. One more case
shows the sender's own ceiling: the same three providers against a null server (another process,
one thread, answers every request at once and checks nothing); there a run ends when `flush()`
has every batch answered, and the fakes' CPU no longer shares the two cores with the sender.
The child warms up (and the warm-up is delivered and forgotten), then tracks N events as fast
as it can and calls flush. The wall time runs from the first `track` to the moment the fake received the last
of the N events for every provider (the fake's own clock: CLOCK_MONOTONIC is shared by processes).

    python benchmarks/bench_end_to_end.py [--events 100000] [--runs 3] [--cases telemetry,amp200,amp1000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    EVENT_NAME,
    PROPS,
    USER_ID,
    CountingFake,
    build_manager,
    counting_fake,
    delivery_options,
    median,
    mixpanel_provider_class,
    wait_until,
)
from benchmarks._nullserver import null_server

GOAL_EVENTS_PER_S = 20_000
GOAL_RATIO = 3.0
WARM_UP = 1_000
CASES = {
    "telemetry": "telemetry, GA4 + Amplitude + Mixpanel",
    "telemetry_varied": "telemetry, three providers, a new string per event",
    "telemetry_null": "telemetry, three providers, null server (ceiling)",
    "telemetry1": "telemetry, Amplitude only (same options)",
    "amp200": "amplitude-analytics alone, default batch (200)",
    "amp1000": "amplitude-analytics alone, flush_queue_size=1000",
}
CASE_VENDORS = {
    "telemetry": ("ga4", "amplitude", "mixpanel"),
    "telemetry_varied": ("ga4", "amplitude", "mixpanel"),
    "telemetry_null": ("ga4", "amplitude", "mixpanel"),
    "telemetry1": ("amplitude",),
    "amp200": ("amplitude",),
    "amp1000": ("amplitude",),
}
ANCHORS = {"amp200": "~6,600", "amp1000": "~9,400"}


def options_for(events: int) -> dict[str, Any]:
    """The DeliveryOptions of our case: a queue that holds the whole run, all else default."""
    return {"queue_capacity": max(1_000_000, 2 * (events + WARM_UP))}


# -- child side ----------------------------------------------------------------------------------

TEMP_DIRS: list[Path] = []  # removed by the child before it ends


def _telemetry_child(
    base_url: str, events: int, providers: tuple[str, ...], *, varied: bool = False
) -> tuple[Callable[[], None], Callable[..., dict[str, Any]]]:
    db = Path(tempfile.mkdtemp(prefix="bench-e2e-")) / "bench.sqlite"
    TEMP_DIRS.append(db.parent)
    manager = build_manager(db, base_url, delivery_options(**options_for(events)), providers)
    track = manager.track_event
    if varied:
        # The privacy scan remembers strings it has seen; here every event brings a new one.
        params = iter([{**PROPS, "s": f"search term {n}"} for n in range(events + 2 * WARM_UP)])

        def call() -> None:
            track(EVENT_NAME, next(params))

        return call, _finisher(manager)

    def call() -> None:
        track(EVENT_NAME, PROPS)

    return call, _finisher(manager)


def _finisher(manager: Any) -> Callable[..., dict[str, Any]]:
    def finish(timeout: float = 900) -> dict[str, Any]:
        started = time.monotonic()
        flushed = manager.flush(timeout=timeout)
        ended = time.monotonic()
        return {
            "flushed": flushed,
            "flushed_at": ended,
            "flush_seconds": ended - started,
            "stats": manager.stats(),
        }

    return finish


def _amplitude_child(
    base_url: str, batch: int | None
) -> tuple[Callable[[], None], Callable[..., dict[str, Any]]]:
    from amplitude import Amplitude, BaseEvent, Config

    config = Config(server_url=f"{base_url}/2/httpapi")
    if batch is not None:
        config.flush_queue_size = batch
    client = Amplitude("bench-amplitude-key", config)

    def call() -> None:
        client.track(BaseEvent(event_type=EVENT_NAME, user_id=USER_ID, event_properties=PROPS))

    def finish(timeout: float = 0) -> dict[str, Any]:
        client.flush()
        return {}

    return call, finish


def _child(case: str, base_url: str, events: int) -> None:
    """Warm up, wait for the parent's go, track `events`, flush; report on stdout."""
    logging.disable(logging.CRITICAL)
    if case.startswith("telemetry"):
        providers = ("Amplitude",) if case == "telemetry1" else ("GA4", "Amplitude", "Mixpanel")
        call, finish = _telemetry_child(base_url, events, providers, varied=case == "telemetry_varied")
    else:
        call, finish = _amplitude_child(base_url, 1000 if case == "amp1000" else None)
    for _ in range(WARM_UP):
        call()
    finish(30)
    print("warm", flush=True)
    sys.stdin.readline()  # the parent saw the warm-up arrive and reset its counts
    cpu0 = time.process_time()
    t0 = time.monotonic()
    for _ in range(events):
        call()
    tracked = time.monotonic()
    print(json.dumps({"t0": t0, "tracked": tracked}), flush=True)
    print(json.dumps({**finish(), "cpu": time.process_time() - cpu0}), flush=True)
    sys.stdin.readline()  # the parent has counted everything
    for path in TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)
    os._exit(0)  # skip SDK exit handlers: they are not what this figure measures


# -- parent side ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _warm_child(case: str, base_url: str, events: int) -> Iterator[tuple[TextIO, TextIO]]:
    """A child for `case`, warmed up; yields its stdin and stdout; ends (or kills) it afterwards."""
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", case, base_url, "--events", str(events)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        if child.stdout.readline().strip() != "warm":
            raise RuntimeError(f"{case}: the child did not warm up")
        yield child.stdin, child.stdout
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _say(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()


def _run_null_case(case: str, base_url: str, events: int) -> dict[str, Any]:
    """Against the null server: delivered means answered, so a run ends when flush() returns."""
    with _warm_child(case, base_url, events) as (stdin, stdout):
        _say(stdin, "go")
        times = json.loads(stdout.readline())
        finish = json.loads(stdout.readline())
        _say(stdin, "done")
    sent = {name: s.get("sent", 0) for name, s in finish["stats"].items()}
    delivered = finish["flushed"] and all(n >= events + WARM_UP for n in sent.values())
    return _result(events, times, finish, finish["flushed_at"], delivered)


def _run_case(case: str, fake: CountingFake, events: int, timeout: float) -> dict[str, Any]:
    vendors = CASE_VENDORS[case]
    fake.reset()
    with _warm_child(case, fake.base_url, events) as (stdin, stdout):
        if not wait_until(lambda: all(fake.events(v) >= WARM_UP for v in vendors), 60):
            raise RuntimeError(f"{case}: warm-up not delivered: {fake.counts()['events']}")
        fake.reset()
        fake_cpu0 = fake.counts()["cpu"]
        _say(stdin, "go")
        times = json.loads(stdout.readline())
        delivered = wait_until(lambda: all(fake.events(v) >= events for v in vendors), timeout, poll=0.05)
        finish = json.loads(stdout.readline())
        counts = fake.counts()
        _say(stdin, "done")
    last = counts["last"] if delivered else time.monotonic()
    return _result(events, times, finish, last, delivered, counts, counts["cpu"] - fake_cpu0)


def _result(
    events: int,
    times: dict[str, float],
    finish: dict[str, Any],
    end: float,
    delivered: bool,
    counts: dict[str, Any] | None = None,
    fake_cpu: float = 0.0,
) -> dict[str, Any]:
    """One run's figures: from the first track to `end` (the last arrival, or flush's return)."""
    return {
        "rate": events / (end - times["t0"]),
        "track_rate": events / (times["tracked"] - times["t0"]),
        "wall": end - times["t0"],
        "t0": times["t0"],
        "delivered": delivered,
        "counts": counts,
        "finish": finish,
        "cpu_us": 1e6 * finish.get("cpu", 0.0) / events,
        "fake_cpu_us": 1e6 * fake_cpu / events,
    }


def _describe_stats(stats: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, s in stats.items():
        dropped = sum(s.get("dropped", {}).values())
        parts.append(
            f"{name} sent={s.get('sent')} retried={s.get('retried')} dropped={dropped} {s.get('dropped')}"
        )
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--timeout", type=float, default=600, help="longest wait for delivery, per run")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "URL"))
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.events)
        return
    cases = [c for c in args.cases.split(",") if c]
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
    with counting_fake() as fake, contextlib.ExitStack() as stack:
        null_url = stack.enter_context(null_server()) if "telemetry_null" in cases else ""
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits every case alike
            for case in cases:
                if case == "telemetry_null":
                    results[case].append(_run_null_case(case, null_url, args.events))
                else:
                    results[case].append(_run_case(case, fake, args.events, args.timeout))
    print(
        f"End-to-end: {args.events:,} events tracked then delivered, events/s from first track to last "
        f"arrival (median of {args.runs} runs, each in a fresh process; fake in another process)"
    )
    print(f"Mixpanel provider: {mixpanel_provider_class()[2]}")
    print(f"our DeliveryOptions: {options_for(args.events)} (all else default)")
    print(
        f"{'case':50} {'delivered/s':>12} {'min-max':>17} {'tracking/s':>11} "
        f"{'all arrived':>11} {'anchor':>8}"
    )
    for case in cases:
        rates = [r["rate"] for r in results[case]]
        arrived = all(r["delivered"] for r in results[case])
        print(
            f"{CASES[case]:50} {median(rates):12,.0f} {min(rates):8,.0f}-{max(rates):<8,.0f} "
            f"{median([r['track_rate'] for r in results[case]]):11,.0f} {'yes' if arrived else 'NO':>11} "
            f"{ANCHORS.get(case, ''):>8}",
            flush=True,
        )
    for case in cases:
        for i, r in enumerate(results[case]):
            counts = r["counts"]
            if counts is None:  # the null server: the manager's own counts say what was answered
                finish = r["finish"]
                print(
                    f"  {case} run {i + 1}: flush returned after {r['wall']:.1f} s ok={finish['flushed']}; "
                    f"CPU per event: sender {r['cpu_us']:.0f} µs; {_describe_stats(finish['stats'])}"
                )
                continue
            per_vendor = {v: counts["events"].get(v, 0) for v in CASE_VENDORS[case]}
            dup = {v: n for v, n in counts["duplicates"].items() if n}
            rejected = {v: n for v, n in counts["rejected"].items() if n}
            done_at = {
                v: f"{t - r['t0']:.1f} s"
                for v, t in counts.get("last_by_vendor", {}).items()
                if v in per_vendor
            }
            line = (
                f"  {case} run {i + 1}: fake received {per_vendor}, last arrival after {done_at}, "
                f"duplicates {dup or 0}, rejected {rejected or 0}; CPU per event: sender "
                f"{r['cpu_us']:.0f} µs, fake {r['fake_cpu_us']:.0f} µs"
            )
            if case.startswith("telemetry"):
                finish = r["finish"]
                line += f"; flush {finish['flush_seconds']:.1f} s ok={finish['flushed']}; "
                line += _describe_stats(finish["stats"])
            print(line)
    if "telemetry" in cases:
        ours = median([r["rate"] for r in results["telemetry"]])
        goal = "MET" if ours >= GOAL_EVENTS_PER_S else f"MISSED by {GOAL_EVENTS_PER_S - ours:,.0f} events/s"
        print(f"goal: >= {GOAL_EVENTS_PER_S:,} events/s delivered to all three: {goal}")
        sdk = [median([r["rate"] for r in results[c]]) for c in cases if c.startswith("amp")]
        if sdk:
            ratio = ours / max(sdk)
            verdict = "MET" if ratio >= GOAL_RATIO else "MISSED"
            if "telemetry1" in cases:
                one = median([r["rate"] for r in results["telemetry1"]])
                print(f"(telemetry with Amplitude only: {one:,.0f}/s, {one / max(sdk):.1f}x the SDK's best)")
            print(
                f"goal: >= {GOAL_RATIO:g}x the Amplitude SDK's best ({max(sdk):,.0f}/s): "
                f"{ratio:.2f}x, {verdict}"
            )


if __name__ == "__main__":
    main()
