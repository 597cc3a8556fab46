"""Start `python -m fakes serve` in its own process (so it never shares our interpreter lock)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fake_process(*, hang: bool = False) -> Iterator[str]:
    """Yield the base URL of a fake server process; with `hang`, every vendor route black-holes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        if hang:
            request = urllib.request.Request(  # noqa: S310 - loopback URL we just started
                f"{base_url}/_fakes/faults",
                data=json.dumps({"kind": "hang"}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(request, timeout=5).read()  # noqa: S310
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
