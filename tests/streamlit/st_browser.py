"""Headless Chromium driven over the DevTools protocol on a pipe: no driver, no extra package.

`--remote-debugging-pipe` makes Chromium read commands from fd 3 and write answers to fd 4,
each a JSON message ended by a NUL byte. Waiting on the page happens inside the page (a promise
that settles when the condition holds or its deadline passes), never by sleeping here.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)

_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)
"""Puts the pipe ends on fds 3 and 4, where Chromium expects them, then becomes Chromium."""


def chromium_problem() -> str | None:
    """Why Chromium is not usable here (installing Debian's package when missing), or None."""
    if os.path.exists(CHROMIUM):
        return None
    if shutil.which("apt-get") is None:
        return "Chromium is not installed and there is no apt-get to install Debian's chromium package"
    if os.geteuid() != 0:
        return "Chromium is not installed and installing Debian's chromium package needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    for step in ([], [["apt-get", "update", "-q"]]):
        for command in step:
            subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode == 0 and os.path.exists(CHROMIUM):
            return None
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return f"Chromium could not be installed with apt-get ({tail[0]})"


class CdpError(RuntimeError):
    """The browser answered a command with an error, or went away."""


class Browser:
    """One headless Chromium with one page; `evaluate` runs JavaScript in it."""

    def __init__(self, profile: Path, timeout: float = 30.0) -> None:
        self._timeout = timeout
        commands_read, commands_write = os.pipe()
        answers_read, answers_write = os.pipe()
        child_in = fcntl.fcntl(commands_read, fcntl.F_DUPFD_CLOEXEC, 20)
        child_out = fcntl.fcntl(answers_write, fcntl.F_DUPFD_CLOEXEC, 20)
        for fd in (commands_read, answers_write):
            os.close(fd)
        self._process = subprocess.Popen(
            [*self._command(child_in, child_out), f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(child_in, child_out),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(child_in)
        os.close(child_out)
        self._out = os.fdopen(commands_write, "wb", buffering=0)
        self._in = os.fdopen(answers_read, "rb", buffering=0)
        self._answers: dict[int, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self._next_id = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()
        self._session = self._attach()

    @staticmethod
    def _command(child_in: int, child_out: int) -> list[str]:
        return [sys.executable, "-c", _TRAMPOLINE, str(child_in), str(child_out), CHROMIUM, *FLAGS]

    # -- commands --------------------------------------------------------------------------------

    def navigate(self, url: str) -> None:
        self.command("Page.navigate", {"url": url})

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        """The value of `expression` (awaited when it is a promise)."""
        answer = self.command(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout,
        )
        if "exceptionDetails" in answer:
            raise CdpError(f"JavaScript failed: {answer['exceptionDetails']}")
        return answer.get("result", {}).get("value")

    def wait_for(self, condition_js: str, timeout: float = 20.0) -> None:
        """Wait in the page until `condition_js` (an expression) is truthy; CdpError on timeout."""
        expression = f"""new Promise((resolve) => {{
            const ok = () => {{ try {{ return Boolean({condition_js}); }} catch (e) {{ return false; }} }};
            if (ok()) {{ resolve(true); return; }}
            const observer = new MutationObserver(() => {{
                if (ok()) {{ observer.disconnect(); resolve(true); }}
            }});
            const all = {{subtree: true, childList: true, characterData: true, attributes: true}};
            observer.observe(document, all);
            setTimeout(() => {{ observer.disconnect(); resolve(ok()); }}, {int(timeout * 1000)});
        }})"""
        if not self.evaluate(expression, timeout=timeout + 10):
            text = self.evaluate("document.body ? document.body.innerText.slice(0, 500) : ''")
            raise CdpError(f"timed out waiting for {condition_js}; the page shows: {text!r}")

    def command(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        with self._changed:
            self._next_id += 1
            ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if getattr(self, "_session", None):
            message["sessionId"] = self._session
        return self._send(message, timeout)

    def close(self) -> None:
        self._closed = True
        if self._process.poll() is None:
            try:
                self._send({"id": 0, "method": "Browser.close", "params": {}}, 5.0, wait=False)
                self._process.wait(timeout=10)
            except (CdpError, OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait(timeout=10)
        for stream in (self._out, self._in):
            stream.close()

    # -- plumbing --------------------------------------------------------------------------------

    def _attach(self) -> str:
        targets = self.command("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t.get("type") == "page")
        attached = self.command("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})
        return str(attached["sessionId"])

    def _send(self, message: dict[str, Any], timeout: float | None, wait: bool = True) -> dict[str, Any]:
        try:
            self._out.write(json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise CdpError(f"browser went away: {exc}") from exc
        if not wait:
            return {}
        ident = message["id"]
        with self._changed:
            if not self._changed.wait_for(
                lambda: ident in self._answers or self._closed, timeout or self._timeout
            ):
                raise CdpError(f"no answer to {message['method']}")
            answer = self._answers.pop(ident, None)
        if answer is None:
            raise CdpError(f"browser closed before answering {message['method']}")
        if "error" in answer:
            raise CdpError(f"{message['method']}: {answer['error']}")
        return dict(answer.get("result", {}))

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._in.read(65536)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._changed:
                        self._answers[message["id"]] = message
                        self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
