"""Outage: N events tracked while the backend answers 503, then it comes back; nothing is lost.

A counting fake (own process) answers 503 on every vendor route (`POST /_fakes/faults`
`{"kind": "status", "status": 503}`). A fresh tracking process, with the offline queue on
(`DeliveryOptions(spool_path=<tmp>/spool.sqlite, spool_max_events=2_000_000, queue_capacity=Q)`),
tracks N events in chunks the way an app at a sustainable rate would: a chunk, then wait until
every provider's in-memory queue is empty (`stats()[name]["queued"] == 0`). Then the fault is
removed (`DELETE /_fakes/faults`) and we wait until every event has arrived. Reported: whether
every event arrived exactly once by dedup id (Amplitude and Mixpanel `insert_id`; GA4 has none,
so its events are counted), resends the vendor deduplicated, the drop counters, and the peak
RSS (`ru_maxrss`) of the tracking process beside its RSS before tracking.

    python benchmarks/bench_outage.py [--events 1000000] [--providers Amplitude] [--chunk 20000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    EVENT_NAME,
    PROPS,
    PROVIDER_VENDOR,
    build_manager,
    counting_fake,
    delivery_options,
    has_options,
    wait_until,
)

DEDUP_VENDORS = ("amplitude", "mixpanel")


def options_for(spool: Path, chunk: int) -> dict[str, Any]:
    """Our options: the offline queue on, and an in-memory queue that holds one chunk."""
    return {
        "spool_path": str(spool),
        "spool_max_events": 2_000_000,
        "queue_capacity": max(10_000, 2 * chunk),
    }


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


# -- the tracking process ------------------------------------------------------------------------


def _child(base_url: str, events: int, chunk: int, providers: list[str], spool: Path) -> None:
    logging.disable(logging.CRITICAL)
    db = spool.parent / "client.sqlite"
    manager = build_manager(db, base_url, delivery_options(**options_for(spool, chunk)), providers)
    names = list(manager.stats())
    rss_before = _rss_kb()
    track = manager.track_event
    started = time.monotonic()
    stuck = 0.0
    done = 0
    while done < events:
        n = min(chunk, events - done)
        for _ in range(n):
            track(EVENT_NAME, PROPS)
        done += n
        if not wait_until(lambda: all(manager.stats()[p]["queued"] == 0 for p in names), 300, poll=0.01):
            stuck += 1
    tracked_seconds = time.monotonic() - started
    print(
        json.dumps({"tracked_seconds": tracked_seconds, "stuck_chunks": stuck, "stats": manager.stats()}),
        flush=True,
    )
    sys.stdin.readline()  # the backend is back
    sys.stdin.readline()  # everything arrived (or the parent gave up)
    manager.flush(30.0)  # the last answers may still be on their way back to the workers
    final = manager.stats()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"stats": final, "maxrss_kb": maxrss, "rss_before_kb": rss_before}), flush=True)
    manager.shutdown(1.0)
    os._exit(0)


# -- the parent ----------------------------------------------------------------------------------


def _spool_bytes(workdir: Path) -> int:
    return sum(p.stat().st_size for p in workdir.glob("spool.sqlite*"))


def _arrived(counts: dict[str, Any], vendor: str) -> int:
    """Events of `vendor` that arrived: distinct dedup ids, or plain count where there are none."""
    if vendor in DEDUP_VENDORS:
        return int(counts["unique_ids"].get(vendor, 0))
    return int(counts["events"].get(vendor, 0))


def _total_dropped(stats: dict[str, Any]) -> int:
    return sum(sum(s.get("dropped", {}).values()) for s in stats.values())


def run(events: int, chunk: int, providers: list[str], timeout: float) -> None:
    vendors = [PROVIDER_VENDOR[p] for p in providers]
    workdir = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    spool = workdir / "spool.sqlite"
    print(
        f"Outage: {events:,} events tracked while every vendor route answers 503, then the backend "
        f"comes back. Providers: {', '.join(providers)}; chunks of {chunk:,}, each absorbed before the next."
    )
    print(f"DeliveryOptions: {options_for(spool, chunk)} (all else default)")
    with counting_fake() as fake:
        fake.add_fault({"kind": "status", "status": 503})
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [
                sys.executable,
                __file__,
                "--child",
                fake.base_url,
                "--events",
                str(events),
                "--chunk",
                str(chunk),
                "--providers",
                ",".join(providers),
                "--spool",
                str(spool),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            tracked = json.loads(child.stdout.readline())
            during = fake.counts()
            fake.clear_faults()
            restored = time.monotonic()
            child.stdin.write("restored\n")
            child.stdin.flush()
            complete = wait_until(
                lambda: all(_arrived(fake.counts(), v) >= events for v in vendors), timeout, 0.2
            )
            counts = fake.counts()
            delivered_after = (counts["last"] or restored) - restored
            # Once its backlog is delivered, the worker gives the file's space back; wait for it.
            arrived_at = time.monotonic()
            wait_until(lambda: _spool_bytes(workdir) < 1_000_000, 60, 0.1)
            shrunk_after = time.monotonic() - arrived_at
            child.stdin.write("done\n")
            child.stdin.flush()
            final = json.loads(child.stdout.readline())
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    spool_bytes = _spool_bytes(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    refused = sum(n for key, n in during["statuses"].items() if ":503:" in key)
    print(
        f"tracking: {events:,} events in {tracked['tracked_seconds']:.1f} s "
        f"({events / tracked['tracked_seconds']:,.0f} events/s, "
        f"chunks not absorbed in 300 s: {int(tracked['stuck_chunks'])}); "
        f"503 answers during the outage: {refused:,}; "
        f"events accepted during it: {sum(during['events'].values())}"
    )
    for name, s in tracked["stats"].items():
        print(
            f"  at the end of the outage, {name}: spooled={s.get('spooled')} queued={s.get('queued')} "
            f"sent={s.get('sent')} retried={s.get('retried')} dropped={s.get('dropped')}"
        )
    print(
        f"backend back: last event arrived {delivered_after:.1f} s later; "
        f"all arrived: {'yes' if complete else 'NO'}"
    )
    print(
        f"{'vendor':10} {'tracked':>10} {'arrived':>10} {'distinct ids':>13} {'wire resends':>13} "
        f"{'rejected':>9}  exactly once"
    )
    all_ok = complete
    for vendor in vendors:
        got = counts["events"].get(vendor, 0)
        distinct = counts["unique_ids"].get(vendor) if vendor in DEDUP_VENDORS else None
        resends = counts["duplicates"].get(vendor, 0)
        rejected = counts["rejected"].get(vendor, 0)
        if vendor in DEDUP_VENDORS:
            once = distinct == events and rejected == 0
            how = "by insert_id"
        else:
            once = got == events and rejected == 0
            how = "by count (no dedup id)"
        all_ok = all_ok and once
        print(
            f"{vendor:10} {events:10,} {got:10,} {('-' if distinct is None else f'{distinct:,}'):>13} "
            f"{resends:13,} {rejected:9,}  {'yes' if once else 'NO'} ({how})"
        )
    for name, s in final["stats"].items():
        print(
            f"  final stats, {name}: sent={s.get('sent')} spooled={s.get('spooled')} "
            f"retried={s.get('retried')} "
            f"dropped={s.get('dropped')} last_error={s.get('last_error')!r}"
        )
    print(f"drops: {_total_dropped(final['stats'])} (all reasons, all providers)")
    print(
        f"peak RSS of the tracking process: {final['maxrss_kb'] / 1024:,.0f} MiB "
        f"(RSS before tracking: {final['rss_before_kb'] / 1024:,.0f} MiB); spool file at the end: "
        f"{spool_bytes / 1e6:,.1f} MB ({shrunk_after:.1f} s after the last arrival)"
    )
    print(f"verdict: every event arrived exactly once by dedup id: {'yes' if all_ok else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--providers", default="Amplitude", help="comma-separated: GA4,Amplitude,Mixpanel")
    parser.add_argument("--timeout", type=float, default=900, help="longest wait for delivery after recovery")
    parser.add_argument("--spool", type=Path)
    parser.add_argument("--child", metavar="URL")
    args = parser.parse_args()
    providers = [p for p in args.providers.split(",") if p]
    if args.child:
        _child(args.child, args.events, args.chunk, providers, args.spool)
        return
    if not has_options("spool_path", "spool_max_events"):
        print("Outage: offline queue not available yet (DeliveryOptions has no spool_path/spool_max_events)")
        return
    run(args.events, args.chunk, providers, args.timeout)


if __name__ == "__main__":
    main()
