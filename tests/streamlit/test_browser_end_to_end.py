"""End to end: `streamlit run` of the example app, clicked through by headless Chromium."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from st_browser import Browser, chromium_problem
from st_harness import EXAMPLE_APP, telemetry_environment

from fakes import FakeServer


@pytest.fixture(scope="session")
def chromium() -> None:
    problem = chromium_problem()
    if problem is not None:
        pytest.skip(problem)


OPTIONS = (
    *("--server.address", "127.0.0.1", "--server.headless", "true"),
    *("--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"),
    *("--global.developmentMode", "false"),
)
"""Loopback only, no browser opened, no usage statistics sent to Streamlit, no file watcher."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StreamlitServer:
    """`streamlit run APP` on a free loopback port, its output collected for failure messages."""

    def __init__(self, app: Path, env: dict[str, str], timeout: float = 60.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(self.port), *OPTIONS],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(f"streamlit exited before serving:\n{self.log}")
            if "URL:" in line:
                return

    def _pump(self, lines: queue.Queue[str | None]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    @property
    def log(self) -> str:
        return "".join(self.output[-40:])

    def stop(self) -> int:
        """SIGTERM, as a service manager would: the app exits and telemetry's exit hook runs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=30)


@pytest.fixture
def streamlit_app(fake_server: FakeServer, tmp_path: Path) -> Iterator[StreamlitServer]:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DO_NOT_TRACK", "TELEMETRY_DISABLED")},
        **telemetry_environment(fake_server, tmp_path),
        "HOME": str(tmp_path),  # Streamlit's own ~/.streamlit files
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    server = StreamlitServer(EXAMPLE_APP, env)
    try:
        yield server
    finally:
        server.stop()


def heading(text: str) -> str:
    return f"[...document.querySelectorAll('h1')].some(h => h.textContent.includes('{text}'))"


def click_nav(title: str) -> str:
    return (
        "[...document.querySelectorAll('[data-testid=stSidebarNav] a')]"
        f".find(a => a.textContent.trim() === '{title}').click()"
    )


class TestARealBrowser:
    def test_three_pages_clicked_in_chromium_are_three_page_views_in_one_session(
        self, chromium: None, streamlit_app: StreamlitServer, fake_server: FakeServer, tmp_path: Path
    ) -> None:
        with Browser(tmp_path / "chromium-profile") as browser:
            browser.navigate(streamlit_app.url)
            browser.wait_for(heading("Home"), timeout=30)
            for title in ("Explore", "Settings"):
                browser.evaluate(click_nav(title))
                browser.wait_for(heading(title))
            for vendor in ("ga4", "amplitude"):
                fake_server.wait_for(3, timeout=15, vendor=vendor, kind="page_view")
        assert streamlit_app.stop() == 0, streamlit_app.log

        for vendor in ("ga4", "amplitude"):
            views = fake_server.events(vendor, "page_view")
            assert [e.params["page_path"] for e in views] == ["/home", "/explore", "/settings"], vendor
            assert len({e.session_id for e in views}) == 1, vendor
            assert {e.params["runtime"] for e in views} == {"streamlit"}
        assert fake_server.events(kind="event") == []
