"""An opt-in transport that hands Amplitude events to the official `amplitude-analytics` SDK.

The provider still maps events (so the wire format is the same either way); the SDK then queues,
batches and retries them on its own threads, and reports each event's fate through its callback,
which lands in our logging. Trade-off, documented in the README: the SDK's HTTP timeout is a fixed
10 s in non-daemon threads, so with a backend that hangs, process exit can wait that long.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from ._log import get_logger
from .delivery.types import HttpRequest, HttpResponse, TransportFailure

log = get_logger("telemetry.amplitude.sdk")

_EVENT_FIELDS = (
    "event_type",
    "device_id",
    "user_id",
    "session_id",
    "time",
    "insert_id",
    "event_properties",
    "user_properties",
)


def sdk_missing_reason() -> str | None:
    """Why the SDK cannot be used here, or None."""
    try:
        import amplitude  # noqa: F401
    except ImportError:
        return "the amplitude-analytics SDK is not installed (pip install 'telemetry-toolkit[amplitude]')"
    return None


class AmplitudeSdkTransport:
    """Feeds each mapped event to `Amplitude.track`; `flush` waits on the SDK's futures."""

    def __init__(self, api_key: str, server_url: str) -> None:
        from amplitude import Amplitude, Config
        from amplitude.constants import EventLogLevel

        self._event_class: Any = __import__("amplitude").BaseEvent
        self._client = Amplitude(
            api_key,
            Config(
                server_url=server_url,
                logger=get_logger("telemetry.amplitude.sdk"),
                callback=self._callback,
                event_log_level=EventLogLevel.DEBUG,
            ),
        )
        self.delivered = 0
        self.failed = 0

    def _callback(self, event: Any, code: int, message: str | None = None) -> None:
        if 200 <= code < 300:
            self.delivered += 1
            log.debug("Amplitude SDK delivered %r", getattr(event, "event_type", "?"))
        else:
            self.failed += 1
            log.warning(
                "Amplitude SDK could not deliver %r: %s %s",
                getattr(event, "event_type", "?"),
                code,
                message or "",
            )

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        """Hand the request's events to the SDK; it delivers them in the background."""
        try:
            events = json.loads(request.body)["events"]
            for item in events:
                self._client.track(self._event_class(**{k: item[k] for k in _EVENT_FIELDS if k in item}))
        except Exception as exc:  # noqa: BLE001 - an SDK failure is this batch's failure
            return TransportFailure("other", f"amplitude SDK refused the events: {type(exc).__name__}")
        return HttpResponse(200, b'{"code":200}', {"content-type": "application/json"})

    def flush(self, timeout: float) -> bool:
        """Ask the SDK to send what it holds and wait for it, at most `timeout` seconds."""
        from concurrent.futures import Future

        deadline = time.monotonic() + timeout
        futures = self._client.flush() or []
        for future in futures if isinstance(futures, list) else [futures]:
            if not isinstance(future, Future):
                continue
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - a timeout or SDK error: not done in time
                return False
        return True

    def close(self) -> None:
        """Shut the SDK down on a helper thread, waiting at most one second for it."""
        closer = threading.Thread(
            target=self._client.shutdown, name="telemetry-amplitude-sdk-close", daemon=True
        )
        closer.start()
        closer.join(1.0)
