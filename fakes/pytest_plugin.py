"""pytest fixtures for the vendor fakes: `fake_server` and `fake_server_factory`.

Registered as a `pytest11` entry point, so it loads in every pytest run: it imports nothing of
the fakes until a fixture is used, and has no side effects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from fakes._model import VendorFake
    from fakes._server import FakeServer


class FakeServerFactory(Protocol):
    """Starts an extra FakeServer; every one it started is stopped at teardown."""

    def __call__(self, vendors: Sequence[VendorFake] | None = None, **options: Any) -> FakeServer: ...


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A running FakeServer hosting every vendor fake, stopped after the test."""
    from fakes._server import FakeServer

    with FakeServer() as server:
        yield server


@pytest.fixture
def fake_server_factory() -> Iterator[FakeServerFactory]:
    """Call with a vendors list (and FakeServer options) to start more servers."""
    from fakes._server import FakeServer

    started: list[FakeServer] = []

    def start(vendors: Sequence[VendorFake] | None = None, **options: Any) -> FakeServer:
        server = FakeServer(vendors, **options).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
