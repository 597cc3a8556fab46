"""Enrichment: every event of every kind carries the run's session, runtime and lib_version."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from .base import ContractBase
from .harness import APP_VERSION

if TYPE_CHECKING:
    from .harness import Harness
    from .spec import ProviderSpec


class TestEnrichment(ContractBase):
    """What the design promises each event carries, checked on the wire."""

    def _track_every_kind(self, contract: Harness, spec: ProviderSpec) -> None:
        manager = contract.manager()
        if spec.has("page_views"):
            manager.track_page_view("/contract/page", "Contract Page")
        if spec.has("custom_events"):
            manager.track_event("contract_event", {"contract_key": "value"})
        if spec.has("user_properties"):
            manager.set_user_properties({"contract_plan": "gold"})
            manager.track_event("contract_after_properties")
        assert manager.flush(5.0)

    def test_every_event_kind_carries_session_runtime_and_lib_version(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self._track_every_kind(contract, provider_spec)
        manager = contract._managers[-1]
        received = contract.events()
        assert received, "nothing reached the fake"
        for event in received:
            enrichment = provider_spec.enrichment_of(event)
            assert enrichment.get("runtime") == manager.context.runtime, event
            assert enrichment.get("lib_version") == APP_VERSION, event
            assert event.session_id is not None, f"{event.name} carries no session id"
        sessions = {repr(event.session_id) for event in received}
        assert len(sessions) == 1, f"one run must have one session on the wire, saw {sessions}"
        if provider_spec.session_of is not None:
            assert received[0].session_id == provider_spec.session_of(manager.context)

    def test_page_views_arrive_as_page_views(self, contract: Harness, provider_spec: ProviderSpec) -> None:
        self.require(provider_spec, "page_views")
        manager = contract.manager()
        manager.track_page_view("/contract/page", "Contract Page")
        assert manager.flush(5.0)
        pages = contract.events(kind="page_view")
        assert len(pages) == 1, contract.events()

    def test_user_properties_arrive_with_their_values(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self.require(provider_spec, "user_properties")
        self._track_every_kind(contract, provider_spec)
        carriers = [
            e
            for e in contract.events()
            if e.user_properties.get("contract_plan") == "gold"
            or (e.kind == "user_properties" and e.params.get("contract_plan") == "gold")
        ]
        assert carriers, "the user property never reached the fake"

    def test_caller_params_arrive_intact(self, contract: Harness, provider_spec: ProviderSpec) -> None:
        self.require(provider_spec, "custom_events")
        manager = contract.manager()
        params = {"contract_text": "seismic", "contract_int": 42, "contract_float": 2.5}
        manager.track_event("contract_params", params)
        assert manager.flush(5.0)
        received = contract.named("contract_params")
        assert len(received) == 1, contract.events()
        for key, value in params.items():
            assert received[0].params.get(key) == value, (key, received[0].params)

    def test_the_callers_dict_is_not_mutated(self, contract: Harness, provider_spec: ProviderSpec) -> None:
        self.require(provider_spec, "custom_events")
        manager = contract.manager()
        params = {"contract_text": "seismic", "nested": {"depth": [1, 2]}, "runtime": "mine"}
        before = copy.deepcopy(params)
        manager.track_event("contract_mutation", params)
        assert manager.flush(5.0)
        assert params == before

    def test_a_caller_key_colliding_with_enrichment_is_replaced_by_the_runs_value(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self.require(provider_spec, "custom_events")
        manager = contract.manager()
        manager.track_event(
            "contract_collision",
            {"runtime": "caller", "lib_version": "caller", "session_id": "caller", "contract_other": 7},
        )
        assert manager.flush(5.0)
        received = contract.named("contract_collision")
        assert len(received) == 1, contract.events()
        enrichment = provider_spec.enrichment_of(received[0])
        assert enrichment.get("runtime") == manager.context.runtime
        assert enrichment.get("lib_version") == APP_VERSION
        assert received[0].session_id != "caller"
        assert received[0].params.get("contract_other") == 7
