"""`python -m fakes serve`: run every vendor fake on one loopback port until SIGINT or SIGTERM.

The first line on stdout is the base URL (flushed), so a parent process can read it and go.
`main(argv)` is reusable by other command-line front ends (e.g. `telemetry fakes serve`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TextIO

from fakes._recorder import RecordedRequest


def build_parser(prog: str = "python -m fakes") -> argparse.ArgumentParser:
    """The argument parser, exposed so a wrapping CLI can embed or extend it."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Fake GA4, Amplitude and Mixpanel ingestion servers."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve every vendor fake until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=8765, help="port to bind; 0 picks a free one (default 8765)"
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="log one line per request on stderr")
    serve.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="keep no recording (load and soak runs: memory stays flat; /_fakes/events stays empty)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m fakes") -> int:
    """Parse `argv` (default: sys.argv[1:]) and run the command; returns the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    return serve(host=args.host, port=args.port, verbose=args.verbose, record=args.record)


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    verbose: bool = False,
    record: bool = True,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
    log: TextIO | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (main thread only) or until `stop` is set. Returns 0.

    Prints the base URL as the first line of `out` (default stdout); with `verbose`, one line
    per request on `log` (default stderr). Without `record`, requests are answered and logged but
    not kept (see `FakeServer`).
    """
    from fakes._server import FakeServer

    out = out or sys.stdout
    log = log or sys.stderr
    stop = stop or threading.Event()

    def log_request(request: RecordedRequest) -> None:
        fault = f" fault={request.fault}" if request.fault else ""
        log.write(
            f"{request.method} {request.path} {request.status} vendor={request.vendor} "
            f"events={len(request.events)}{fault}\n"
        )
        log.flush()

    server = FakeServer(host=host, port=port, on_request=log_request if verbose else None, record=record)
    try:
        server.start()
    except OSError as error:
        log.write(f"cannot listen on {host}:{port}: {error}\n")
        return 1
    restore = _install_signal_handlers(stop)
    try:
        out.write(server.base_url + "\n")
        out.flush()
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        restore()
    return 0


def _install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    """Make SIGINT and SIGTERM set `stop`; returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
