"""Plain http only to loopback; https everywhere else, with the certificate verified."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telemetry import GA4TelemetryProvider, TelemetryManager

from ._support import FAST, capture_connects, ga4_config


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[str]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.received.append(self.path)  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def https_server(tls_server_context: ssl.SSLContext) -> Iterator[Any]:
    """A GA4-like HTTPS endpoint on 127.0.0.1 that records the requests it could read."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.received = []  # type: ignore[attr-defined]
    server.socket = tls_server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def send_one(endpoint: str, db: Path) -> TelemetryManager:
    manager = TelemetryManager.from_providers(
        db, [(GA4TelemetryProvider, ga4_config(endpoint))], environ={}, delivery=FAST
    )
    manager.track_event("over_tls")
    manager.flush(timeout=5.0)
    manager.shutdown(timeout=0.5)
    return manager


class TestCertificates:
    def test_an_untrusted_certificate_stops_delivery(self, https_server: Any, db_path: Path) -> None:
        manager = send_one(f"https://127.0.0.1:{https_server.server_address[1]}", db_path)

        assert https_server.received == []
        assert (
            manager.stats()["GA4"]["sent"] == 0
        )  # the handshake failed; the next test proves the server works

    def test_a_trusted_certificate_delivers(
        self,
        https_server: Any,
        tls_certificate: tuple[Path, Path],
        db_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_certificate[0]))

        manager = send_one(f"https://127.0.0.1:{https_server.server_address[1]}", db_path)

        assert https_server.received == [
            "/mp/collect?measurement_id=G-PRIVACY01&api_secret=GA-SECRET-privacy-do-not-leak-7"
        ]
        assert manager.stats()["GA4"]["sent"] == 1


class TestPlainHttp:
    @pytest.mark.parametrize(
        "endpoint",
        ["http://example.com", "http://10.0.0.5:8080", "http://127.0.0.1.nip.io", "ftp://127.0.0.1"],
    )
    def test_plain_http_to_anything_but_loopback_disables_the_provider_before_any_socket(
        self, endpoint: str, db_path: Path
    ) -> None:
        with capture_connects() as connects:
            manager = TelemetryManager.from_providers(
                db_path, [(GA4TelemetryProvider, ga4_config(endpoint))], environ={}, delivery=FAST
            )
            manager.track_event("never_sent")
            manager.flush(timeout=1.0)

        assert manager.enabled_providers == []
        assert "GA4" in manager.disabled_providers
        assert connects == []

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.1.2.3"])
    def test_plain_http_to_loopback_is_accepted(self, host: str, db_path: Path) -> None:
        manager = TelemetryManager.from_providers(
            db_path, [(GA4TelemetryProvider, ga4_config(f"http://{host}:9"))], environ={}, delivery=FAST
        )

        assert manager.enabled_providers == ["GA4"]
        manager.disable()
