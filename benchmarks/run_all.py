"""`make bench`: every benchmark script, one after the other, figures printed side by side."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_caller_cost.py", "bench_fakes.py"]

if __name__ == "__main__":
    for script in SCRIPTS:
        print(f"\n=== {script} ===", flush=True)
        subprocess.run([sys.executable, str(HERE / script)], check=True)  # noqa: S603
