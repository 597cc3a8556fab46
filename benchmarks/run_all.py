"""`make bench`: every benchmark script, one after the other, then the goal lines side by side.

Each script prints its own table; the lines that judge a goal ("goal:", "check:", "verdict:")
are collected and printed again at the end. The outage figure runs one million events with one
provider (about 95 s on a quiet 2-core machine), then 100,000 with all three.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS: list[list[str]] = [
    ["bench_caller_cost.py"],
    ["bench_end_to_end.py", "--events", "50000", "--runs", "3"],
    ["bench_import.py"],
    ["bench_outage.py"],  # one million events, Amplitude (about 95 s on a quiet machine)
    ["bench_outage.py", "--events", "100000", "--providers", "GA4,Amplitude,Mixpanel"],
    ["bench_exit.py"],
    ["bench_fakes.py"],
]
VERDICT_PREFIXES = ("goal:", "check:", "verdict:")


def run(script: list[str]) -> tuple[int, list[str]]:
    """Run one script, echoing its output as it comes; return its exit status and verdict lines."""
    print(f"\n=== {' '.join(script)} ===", flush=True)
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
        [sys.executable, str(HERE / script[0]), *script[1:]],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    verdicts = []
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.strip().startswith(VERDICT_PREFIXES):
            verdicts.append(line.strip())
    return process.wait(), verdicts


def main() -> int:
    failed = []
    summary: list[tuple[str, str]] = []
    for script in SCRIPTS:
        status, verdicts = run(script)
        if status != 0:
            failed.append(script[0])
        summary.extend((script[0], v) for v in verdicts)
    print("\n=== summary ===")
    for name, verdict in summary:
        print(f"{name:22} {verdict}")
    if failed:
        print(f"FAILED to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
