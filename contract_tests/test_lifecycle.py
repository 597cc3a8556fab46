"""Lifecycle: flush delivers what came before it; shutdown is idempotent and final."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import ContractBase

if TYPE_CHECKING:
    from .harness import Harness
    from .spec import ProviderSpec


class TestLifecycle(ContractBase):
    """flush() and shutdown() as an application uses them."""

    def test_flush_delivers_everything_queued_before_it(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        manager = contract.manager()
        for i in range(40):
            manager.track_event("contract_flush", {"n": i})
        assert manager.flush(5.0) is True
        assert len(contract.named("contract_flush")) == 40

    def test_shutdown_delivers_what_is_queued_and_is_idempotent(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        manager = contract.manager()
        manager.track_event("contract_shutdown", {"n": 1})
        assert manager.shutdown(5.0) is True
        assert manager.shutdown(5.0) is True
        assert len(contract.named("contract_shutdown")) == 1

    def test_tracking_after_shutdown_is_a_silent_no_op(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        manager = contract.manager()
        manager.shutdown(1.0)
        manager.track_event("contract_late", {"n": 1})
        manager.track_page_view("/contract/late", "Late")
        manager.set_user_properties({"contract_plan": "gold"})
        provider = contract.provider_of(manager)
        provider.track_event("contract_late", {"n": 2})
        assert manager.flush(1.0) is True
        assert contract.events() == []
