"""client_id persistence: one anonymous id per database, on the wire, across runs and processes."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from .base import ContractBase

if TYPE_CHECKING:
    from pathlib import Path

    from telemetry import TelemetryManager

    from .harness import Harness
    from .spec import ProviderSpec

_RUN_SCRIPT = """
import sys
from contract_tests.spec import load_spec
from telemetry import TelemetryManager
spec = load_spec(sys.argv[1])
manager = TelemetryManager.from_providers(
    sys.argv[3], [(spec.provider_class, spec.make_config(sys.argv[2]))], environ={})
manager.track_event("contract_process", {"n": 1})
ok = manager.flush(10.0)
manager.shutdown(1.0)
print(manager.get_client_id(), flush=True)
sys.exit(0 if ok else 3)
"""


def _run_in_process(spec: ProviderSpec, base_url: str, db_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _RUN_SCRIPT, str(spec.import_path), base_url, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wire_ids(contract: Harness) -> set[Any]:
    return {e.client_id for e in contract.events()}


class TestClientIdPersistence(ContractBase):
    """The vendor sees the same anonymous id for every run that shares a database."""

    def test_the_same_database_gives_the_same_id_on_the_wire_across_managers(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        first = contract.manager()
        first.track_event("contract_first")
        assert first.flush(5.0)
        first.shutdown()
        second = contract.manager()
        second.track_event("contract_second")
        assert second.flush(5.0)
        expected = contract.expected_client_id(first)
        assert expected is not None
        assert contract.expected_client_id(second) == expected
        assert _wire_ids(contract) == {expected}

    def test_the_same_database_gives_the_same_id_across_processes(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self.require_import_path(provider_spec)
        here = contract.manager()
        here.track_event("contract_here")
        assert here.flush(5.0)
        process = _run_in_process(provider_spec, contract.base_url, contract.db_path)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert out.strip() == here.get_client_id()
        assert _wire_ids(contract) == {contract.expected_client_id(here)}

    def test_concurrent_first_runs_in_several_processes_agree_on_one_id(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self.require_import_path(provider_spec)
        db_path = contract.tmp_path / "fresh.sqlite"
        processes = [_run_in_process(provider_spec, contract.base_url, db_path) for _ in range(4)]
        outputs = [p.communicate(timeout=60) for p in processes]
        for process, (_, err) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, err
        assert len({out.strip() for out, _ in outputs}) == 1, outputs
        assert len(_wire_ids(contract)) == 1

    def test_an_unwritable_database_falls_back_without_breaking(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        blocker = contract.tmp_path / "a-file"
        blocker.write_text("not a directory")
        manager = contract.manager(db_path=blocker / "telemetry.sqlite")
        manager.track_event("contract_fallback")
        assert manager.flush(5.0)
        assert manager.get_client_id()
        assert len(contract.named("contract_fallback")) == 1

    def test_a_corrupt_database_falls_back_without_breaking(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        contract.db_path.write_bytes(b"this is not a sqlite database" * 100)
        manager = contract.manager()
        manager.track_event("contract_fallback")
        assert manager.flush(5.0)
        assert manager.get_client_id()
        assert len(contract.named("contract_fallback")) == 1

    def test_disabled_analytics_never_touches_the_database(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        manager = contract.manager(analytics_enabled=False)
        manager.track_event("contract_disabled")
        manager.flush(1.0)
        assert not contract.db_path.exists()
        assert contract.events() == []

    def test_the_id_is_stable_until_its_storage_is_cleared(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        run_state_machine_as_test(
            _client_id_machine(contract),
            settings=settings(
                max_examples=6,
                stateful_step_count=8,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )


def _client_id_machine(contract: Harness) -> type[RuleBasedStateMachine]:
    class ClientIdMachine(RuleBasedStateMachine):
        """Track, restart, delete the database, disable, enable; the id changes only on delete."""

        def __init__(self) -> None:
            super().__init__()
            contract.db_path.unlink(missing_ok=True)
            self.known: Any = None
            self.enabled = True
            self.manager: TelemetryManager = contract.manager()

        def _replace(self, enabled: bool) -> None:
            self.manager.shutdown(1.0)
            self.enabled = enabled
            self.manager = contract.manager(analytics_enabled=enabled)

        @rule()
        def track(self) -> None:
            contract.server.clear()
            self.manager.track_event("contract_state")
            self.manager.flush(5.0)
            seen = _wire_ids(contract)
            if not self.enabled:
                assert seen == set()
                return
            assert len(seen) == 1, seen
            (wire_id,) = seen
            if self.known is None:
                self.known = wire_id
            assert wire_id == self.known

        @rule()
        def restart(self) -> None:
            self._replace(self.enabled)

        @rule()
        def delete_database(self) -> None:
            self.manager.shutdown(1.0)
            contract.db_path.unlink(missing_ok=True)
            self.known = None
            self._replace(self.enabled)

        @rule()
        def disable(self) -> None:
            self._replace(False)

        @rule()
        def enable(self) -> None:
            self._replace(True)

        def teardown(self) -> None:
            self.manager.shutdown(1.0)

    return ClientIdMachine
