"""Timeouts: a hanging backend never blocks the caller, flush keeps its deadline, exit is bounded."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .base import ContractBase
from .harness import FAST, wait_until

if TYPE_CHECKING:
    from .harness import Harness
    from .spec import ProviderSpec

CALL_BUDGET = 0.25
"""Seconds one tracking call may take at worst (it costs microseconds). The budget includes
starting a helper thread on a loaded 2-core CI machine; a call that waits on a hanging backend
blocks for the whole hang, so it fails whatever the budget."""


def _finishes_within(action: Callable[[], None], seconds: float) -> bool:
    """Run `action` in a helper thread so that a call that blocks forever cannot hang the suite."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


_EXIT_SCRIPT = """
import sys
from contract_tests.spec import load_spec
from telemetry import DeliveryOptions, TelemetryManager
spec = load_spec(sys.argv[1])
manager = TelemetryManager.from_providers(
    sys.argv[3], [(spec.provider_class, spec.make_config(sys.argv[2]))],
    environ={}, delivery=DeliveryOptions(exit_grace=float(sys.argv[4])))
manager.track_event("contract_exit", {"n": 1})
print("tracked", flush=True)
"""


class TestTimeouts(ContractBase):
    """With the fake accepting requests and never answering."""

    def test_tracking_returns_within_milliseconds_while_the_backend_hangs(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        contract.server.faults.add("hang")
        manager = contract.manager()
        provider = contract.provider_of(manager)
        calls: list[Callable[[], None]] = [
            lambda: manager.track_event("contract_hang", {"n": 1}),
            lambda: manager.track_page_view("/contract/hang", "Hang"),
            lambda: manager.set_user_properties({"contract_plan": "gold"}),
            lambda: provider.track_event("contract_direct", {"n": 2}),
            lambda: provider.track_page_view("/contract/direct", "Direct"),
        ]
        for _ in range(20):
            for call in calls:
                assert _finishes_within(call, CALL_BUDGET), "a tracking call blocked on the network"

    def test_flush_returns_within_its_timeout_while_the_backend_hangs(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        contract.server.faults.add("hang")
        manager = contract.manager()
        manager.track_event("contract_hang", {"n": 1})
        started = time.monotonic()
        manager.flush(timeout=0.3)
        assert time.monotonic() - started < 0.3 + 1.0

    def test_no_thread_is_left_behind_after_shutdown(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        contract.server.faults.add("hang")
        manager = contract.manager()
        manager.track_event("contract_hang", {"n": 1})
        manager.flush(timeout=0.1)
        started = time.monotonic()
        manager.shutdown(timeout=0.2)
        assert time.monotonic() - started < 0.2 + 1.0
        gone = wait_until(lambda: not manager.delivery.threads(), FAST.request_timeout + 2.0)
        assert gone, f"threads still alive after shutdown: {manager.delivery.threads()}"

    def test_process_exit_is_bounded_while_the_backend_hangs(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self.require_import_path(provider_spec)
        contract.server.faults.add("hang")
        grace = 0.5
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _EXIT_SCRIPT,
                str(provider_spec.import_path),
                contract.base_url,
                str(contract.tmp_path / "exit.sqlite"),
                str(grace),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "tracked", process.stderr
            started = time.monotonic()
            process.wait(timeout=grace + 10)
            elapsed = time.monotonic() - started
        finally:
            process.kill()
        assert elapsed < grace + 1.5, f"exit took {elapsed:.2f} s with a {grace} s grace"
