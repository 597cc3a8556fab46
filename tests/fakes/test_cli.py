"""`python -m fakes serve` in a real subprocess: URL on the first line, health, clean signals."""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO

import pytest

from fakes.cli import main

EXIT_BOUND = 5.0


def read_line(stream: IO[str], timeout: float = 10.0) -> str:
    """One line from a subprocess pipe, failing instead of blocking forever."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"no line from the subprocess within {timeout}s")
    return stream.readline()


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fakes", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A `python -m fakes serve --port 0 --verbose` process and the base URL it printed."""
    process = start("--verbose")
    try:
        assert process.stdout is not None
        yield process, read_line(process.stdout).strip()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=EXIT_BOUND)


def stop_and_wait(process: subprocess.Popen[str], signum: int) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signum)
    code = process.wait(timeout=EXIT_BOUND)
    return code, time.monotonic() - started


class TestServeCommand:
    def test_first_line_is_the_base_url_and_health_answers(self, served, session):
        """The printed URL is on 127.0.0.1 with the port the OS picked, and serves health."""
        _, base_url = served
        assert base_url.startswith("http://127.0.0.1:")
        assert int(base_url.rsplit(":", 1)[1]) > 0
        health = session.get(base_url + "/_fakes/health", timeout=5).json()
        assert health["status"] == "ok"
        assert set(health["vendors"]) == {"ga4", "amplitude", "mixpanel", "rudderstack"}

    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
    def test_signal_stops_the_server_with_exit_status_0(self, served, session, signum):
        """SIGINT and SIGTERM exit 0 promptly, even with an idle keep-alive connection open."""
        process, base_url = served
        session.get(base_url + "/_fakes/health", timeout=5)
        code, elapsed = stop_and_wait(process, signum)
        assert code == 0
        assert elapsed < EXIT_BOUND

    def test_verbose_logs_one_line_per_request(self, served, session):
        """--verbose writes a one-line summary per vendor request on stderr."""
        process, base_url = served
        session.post(
            base_url + "/mp/collect?measurement_id=G-1&api_secret=s",
            json={"client_id": "1.2", "events": [{"name": "signup"}]},
            timeout=5,
        )
        assert process.stderr is not None
        assert read_line(process.stderr) == "POST /mp/collect 204 vendor=ga4 events=1\n"
        stop_and_wait(process, signal.SIGINT)

    def test_quiet_by_default(self, session):
        """Without --verbose nothing but the URL is printed."""
        process = start()
        assert process.stdout is not None
        base_url = read_line(process.stdout).strip()
        session.post(base_url + "/mp/collect", data=b"{}", timeout=5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=EXIT_BOUND)
        assert (process.returncode, out, err) == (0, "", "")

    def test_no_record_answers_and_logs_but_keeps_nothing(self, session):
        """--no-record: requests are answered (and logged with --verbose), never kept."""
        process = start("--verbose", "--no-record")
        assert process.stdout is not None
        assert process.stderr is not None
        base_url = read_line(process.stdout).strip()
        answer = session.post(
            base_url + "/mp/collect?measurement_id=G-1&api_secret=s",
            json={"client_id": "1.2", "events": [{"name": "signup"}]},
            timeout=5,
        )
        assert answer.status_code == 204
        assert read_line(process.stderr) == "POST /mp/collect 204 vendor=ga4 events=1\n"
        assert session.get(base_url + "/_fakes/events", timeout=5).json() == []
        assert session.get(base_url + "/_fakes/requests", timeout=5).json() == []
        stop_and_wait(process, signal.SIGINT)


class TestMainFunction:
    def test_without_a_command_prints_help_and_returns_2(self, capsys):
        """main() is reusable by other CLIs and reports usage errors by its return value."""
        assert main([]) == 2
        assert "serve" in capsys.readouterr().err

    def test_busy_port_returns_1_with_a_message(self, capsys):
        """A port already in use is reported, not raised."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            assert main(["serve", "--port", str(port)]) == 1
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
