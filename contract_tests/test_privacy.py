"""Privacy: off means no socket at all; secrets never appear in logs, reprs or errors."""

from __future__ import annotations

import dataclasses
import socket
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from .base import ContractBase
from .harness import capture_connects, capture_log_lines

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .harness import Harness
    from .spec import ProviderSpec


@pytest.fixture
def every_log_line() -> Iterator[list[str]]:
    """Every log record of every logger, at DEBUG, while the test runs."""
    with capture_log_lines() as lines:
        yield lines


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestPrivacy(ContractBase):
    """The user's "no" and the operator's secrets are honoured."""

    def test_disabled_analytics_opens_no_socket(self, contract: Harness, provider_spec: ProviderSpec) -> None:
        with capture_connects() as connects:
            manager = contract.manager(analytics_enabled=False)
            manager.track_page_view("/contract/off", "Off")
            manager.track_event("contract_off", {"n": 1})
            manager.set_user_properties({"contract_plan": "gold"})
            provider_calls = manager.providers
            manager.flush(1.0)
            manager.shutdown(1.0)
        assert connects == []
        assert provider_calls == []
        assert contract.server.requests() == []

    def test_a_provider_disabled_in_its_config_sends_nothing(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        config = contract.config()
        config.enabled = False
        with capture_connects() as connects:
            manager = contract.manager(config=config)
            manager.track_page_view("/contract/off", "Off")
            manager.track_event("contract_off", {"n": 1})
            manager.flush(1.0)
            manager.shutdown(1.0)
        assert connects == []
        assert contract.events() == []

    def test_secrets_never_appear_in_logs_reprs_or_errors(
        self, contract: Harness, provider_spec: ProviderSpec, every_log_line: list[str]
    ) -> None:
        config = contract.config()
        secrets = [s for s in config.secrets() if s]
        if not secrets:
            pytest.skip(f"{provider_spec.name} declares no secrets in its config")
        contract.server.faults.add("status", status=500, count=2)
        contract.server.faults.add("close", count=1)
        manager = contract.manager()
        manager.track_event("contract_secret", {"n": 1})
        manager.track_page_view("/contract/secret", "Secret")
        manager.flush(3.0)
        refused = dataclasses.replace(config, endpoint=f"http://127.0.0.1:{_closed_port()}")
        unreachable = contract.manager(config=refused, db_path=contract.tmp_path / "refused.sqlite")
        unreachable.track_event("contract_secret", {"n": 2})
        unreachable.flush(3.0)
        provider = contract.provider_of(manager)
        surfaces = [
            *every_log_line,
            repr(config),
            str(config),
            repr(provider),
            str(provider),
            repr(manager),
            str(manager),
            repr(manager.stats()),
            repr(unreachable.stats()),
            repr(manager.disabled_providers),
        ]
        assert any("telemetry" in line for line in every_log_line), "no log records were captured"
        for secret in secrets:
            for text in (secret, quote(secret, safe="")):
                leaks = [line for line in surfaces if text in line]
                assert leaks == [], f"a secret leaked into: {leaks[:3]}"
