"""Throughput of the standalone fake server: small GA4 requests over one keep-alive connection.

Starts `python -m fakes serve --port 0` in a separate process (so client and server do not
share an interpreter lock), then times N sequential POSTs to /mp/collect with a
`requests.Session` and with a raw keep-alive socket client. Prints the median requests/second
of several runs for each client.

    python benchmarks/bench_fakes.py [--requests 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
QUERY = "/mp/collect?measurement_id=G-BENCH&api_secret=bench"
PAYLOAD = json.dumps({"client_id": "123.456", "events": [{"name": "bench", "params": {"n": 1}}]}).encode()


def start_server() -> tuple[subprocess.Popen[str], str]:
    """Start the fake in its own process and return it with its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes", "serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http://127.0.0.1:"):
        process.kill()
        raise SystemExit(f"the fake did not print its URL: {base_url!r}")
    return process, base_url


def run_session(base_url: str, n: int) -> float:
    """Requests/second for `n` POSTs through one keep-alive requests.Session."""
    with requests.Session() as session:
        session.trust_env = False
        url = base_url + QUERY
        headers = {"Content-Type": "application/json"}
        session.post(url, data=PAYLOAD, headers=headers).raise_for_status()  # warm up
        start = time.perf_counter()
        for _ in range(n):
            session.post(url, data=PAYLOAD, headers=headers)
        return n / (time.perf_counter() - start)


def run_raw_socket(base_url: str, n: int) -> float:
    """Requests/second for `n` POSTs written by hand on one keep-alive socket."""
    host, port = base_url.removeprefix("http://").split(":")
    request = (
        f"POST {QUERY} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(PAYLOAD)}\r\n\r\n"
    ).encode() + PAYLOAD
    with socket.create_connection((host, int(port))) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        start = time.perf_counter()
        for _ in range(n):
            sock.sendall(request)
            status = reader.readline()
            if b" 204 " not in status:
                raise RuntimeError(f"unexpected answer {status!r}")
            while reader.readline() not in (b"\r\n", b""):  # 204: headers only, no body
                pass
        return n / (time.perf_counter() - start)


def median_rate(run: Callable[[str, int], float], base_url: str, n: int, runs: int) -> float:
    rates = [run(base_url, n) for _ in range(runs)]
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description="Throughput of the standalone fake server.")
    parser.add_argument("--requests", type=int, default=2000, help="requests per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per client (median)")
    args = parser.parse_args()
    process, base_url = start_server()
    try:
        requests.delete(base_url + "/_fakes/requests", timeout=5)
        session_rate = median_rate(run_session, base_url, args.requests, args.runs)
        socket_rate = median_rate(run_raw_socket, base_url, args.requests, args.runs)
        received = len(requests.get(base_url + "/_fakes/events", timeout=30).json())
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(f"fake server (separate process), {args.requests} small GA4 requests x {args.runs} runs")
    print(f"  requests.Session keep-alive : {session_rate:8.0f} req/s (median)")
    print(f"  raw socket keep-alive       : {socket_rate:8.0f} req/s (median)")
    print(f"  events recorded by the fake : {received}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
