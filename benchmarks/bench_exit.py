"""Exit: a process that tracks one event and returns from main with the backend black-holed.

Part 1: wall time from "tracked" to the end of the process (the parent waits on it; both read
CLOCK_MONOTONIC, which processes share), median of several fresh processes, three providers on
and default `DeliveryOptions` (exit grace 1 s). Beside it, the same script with analytics off:
what the interpreter itself takes to end.

Part 2, with the offline queue on (`DeliveryOptions(spool_path=...)`): the first process tracks
one event against the black-holed backend and returns from main; a second process, with the
backend live (a fresh fake), tracks one event of its own, and we check that the fake received
the first run's event too, for each provider.

    python benchmarks/bench_exit.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    PROPS,
    PROVIDER_VENDOR,
    build_manager,
    counting_fake,
    delivery_options,
    has_options,
    median,
    wait_until,
)

PROVIDERS = ("GA4", "Amplitude", "Mixpanel")
FIRST_EVENT = "first_run_event"
SECOND_EVENT = "second_run_event"


def _child(mode: str, base_url: str, workdir: Path, event: str) -> None:
    """Track one event, say when, and return from main (the exit hook does the rest)."""
    logging.disable(logging.CRITICAL)
    workdir.mkdir(parents=True, exist_ok=True)
    spool = mode in ("spool", "spool-next")
    options = delivery_options(spool_path=str(workdir / "spool.sqlite")) if spool else delivery_options()
    if mode == "off":
        from telemetry import TelemetryManager

        manager = TelemetryManager.from_configs(workdir / "client.sqlite", False, environ={})
    else:
        manager = build_manager(workdir / "client.sqlite", base_url, options, PROVIDERS)
    manager.track_event(event, PROPS)
    print(json.dumps({"tracked": time.monotonic()}), flush=True)
    if mode == "spool-next":
        sys.stdin.readline()  # the parent saw (or gave up on) the first run's event


def _exit_seconds(mode: str, base_url: str, workdir: Path, event: str) -> tuple[float, str]:
    """Run one child; seconds from its "tracked" to its end, and its stderr."""
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", mode, base_url, str(workdir), event],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    line = child.stdout.readline()
    try:
        child.wait(timeout=120)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    ended = time.monotonic()
    stderr = child.stderr.read()
    if not line:
        raise RuntimeError(f"{mode}: the child did not track: {stderr}")
    return ended - json.loads(line)["tracked"], stderr


def part_exit(runs: int, grace: float) -> None:
    print(
        f"Exit with the backend black-holed: seconds from 'tracked' to process end "
        f"(three providers, default DeliveryOptions, exit_grace={grace:g} s; "
        f"median of {runs} fresh processes)"
    )
    with counting_fake(hang=True) as fake, tempfile.TemporaryDirectory(prefix="bench-exit-") as tmp:
        on = [
            _exit_seconds("default", fake.base_url, Path(tmp) / f"on{i}", "exit_event") for i in range(runs)
        ]
        off = [_exit_seconds("off", fake.base_url, Path(tmp) / f"off{i}", "exit_event") for i in range(runs)]
    on_s = [s for s, _ in on]
    off_s = [s for s, _ in off]
    for label, values in (
        ("telemetry on, backend black-holed", on_s),
        ("analytics off (interpreter alone)", off_s),
    ):
        print(f"  {label:40} median {median(values):.3f} s  (min {min(values):.3f}, max {max(values):.3f})")
    over = median(on_s) - grace
    verdict = "MET" if over <= 0 else f"MISSED by {over:.3f} s"
    print(
        f"  goal: median ends within the grace ({grace:g} s): {verdict}; "
        f"telemetry's share beyond the bare interpreter: {median(on_s) - median(off_s):.3f} s"
    )
    errors = {e.strip().splitlines()[-1] for _, e in on if e.strip()}
    if errors:
        print(f"  stderr of the runs: {sorted(errors)}")


def part_next_run(timeout: float) -> None:
    if not has_options("spool_path"):
        print("Exit with the offline queue: offline queue not available yet")
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-exit-"))
    print(
        f"Exit with the offline queue on (DeliveryOptions(spool_path={workdir / 'spool.sqlite'}), "
        "all else default):"
    )
    with counting_fake(hang=True) as fake:
        first, stderr = _exit_seconds("spool", fake.base_url, workdir, FIRST_EVENT)
    print(f"  first run, backend black-holed: ended {first:.3f} s after tracking")
    with counting_fake() as fake:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--child", "spool-next", fake.base_url, str(workdir), SECOND_EVENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        started = time.monotonic()
        child.stdout.readline()
        vendors = [PROVIDER_VENDOR[p] for p in PROVIDERS]

        def names() -> dict[str, int]:
            counted: dict[str, int] = fake.counts()["names"]
            return counted

        wait_until(lambda: all(names().get(f"{v}:{FIRST_EVENT}", 0) >= 1 for v in vendors), timeout, 0.05)
        took = time.monotonic() - started
        child.stdin.write("go\n")
        child.stdin.flush()
        child.wait(timeout=30)
        wait_until(lambda: all(names().get(f"{v}:{SECOND_EVENT}", 0) >= 1 for v in vendors), 10, 0.05)
        got = names()
    for vendor in vendors:
        first_n = got.get(f"{vendor}:{FIRST_EVENT}", 0)
        second_n = got.get(f"{vendor}:{SECOND_EVENT}", 0)
        print(
            f"  second run, backend live, {vendor:9}: first run's event received {first_n}x "
            f"({ {0: 'NOT delivered', 1: 'delivered by the next run'}.get(first_n, 'DUPLICATED') }); "
            f"its own event {second_n}x"
        )
    print(f"  (the second process was waited on for {took:.1f} s at most {timeout:g} s)")
    if stderr.strip():
        print(f"  first run's stderr: {stderr.strip().splitlines()[-1]}")
    delivered = all(got.get(f"{v}:{FIRST_EVENT}", 0) == 1 for v in vendors)
    print(
        "  check: the first run's event is delivered exactly once by the next run: "
        + ("OK" if delivered else "FAILED")
    )
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=30, help="longest wait for the next run to deliver")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "URL", "DIR", "EVENT"))
    args = parser.parse_args()
    if args.child:
        mode, url, workdir, event = args.child
        _child(mode, url, Path(workdir), event)
        return
    from telemetry import DeliveryOptions

    part_exit(args.runs, DeliveryOptions().exit_grace)
    part_next_run(args.timeout)


if __name__ == "__main__":
    main()
