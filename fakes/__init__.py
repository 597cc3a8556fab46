"""Fake GA4, Amplitude and Mixpanel ingestion backends for offline tests.

`FakeServer` hosts vendor fakes on a loopback port, records what arrives, waits on it and
injects faults; `python -m fakes serve` runs one standalone; the pytest plugin provides the
`fake_server` and `fake_server_factory` fixtures. Names are imported lazily so that loading
the pytest plugin (which imports this package) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes._faults import Fault, FaultKind, FaultRegistry
    from fakes._model import FakeRequest, FakeResponse, Handled, ReceivedEvent, VendorFake
    from fakes._recorder import RecordedRequest, WaitTimeout
    from fakes._server import FakeServer
    from fakes._vendors import default_vendors

__all__ = [
    "FakeRequest",
    "FakeResponse",
    "FakeServer",
    "Fault",
    "FaultKind",
    "FaultRegistry",
    "Handled",
    "ReceivedEvent",
    "RecordedRequest",
    "VendorFake",
    "WaitTimeout",
    "default_vendors",
]

_HOMES = {
    "FakeRequest": "fakes._model",
    "FakeResponse": "fakes._model",
    "FakeServer": "fakes._server",
    "Fault": "fakes._faults",
    "FaultKind": "fakes._faults",
    "FaultRegistry": "fakes._faults",
    "Handled": "fakes._model",
    "ReceivedEvent": "fakes._model",
    "RecordedRequest": "fakes._recorder",
    "VendorFake": "fakes._model",
    "WaitTimeout": "fakes._recorder",
    "default_vendors": "fakes._vendors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'fakes' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
