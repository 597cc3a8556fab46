"""Payload format: what the provider sends is what the vendor accepts, for any input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry.pii import PiiGuard

from .base import ContractBase

if TYPE_CHECKING:
    from .harness import Harness
    from .spec import ProviderSpec

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))

_GUARD = PiiGuard()
"""Text the PII guard would redact (an address, a phone number, ...) does not arrive as sent, by
design: tests/privacy proves that; here values are within the vendors' rules and impersonal."""

valid_names = st.from_regex(r"\Ac[a-z0-9_]{0,30}\Z")
valid_params = st.dictionaries(
    st.from_regex(r"\Ap[a-z0-9_]{0,20}\Z"),
    st.one_of(
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=50).filter(
            lambda text: not _GUARD.findings(text)
        ),
        st.integers(min_value=-(2**31), max_value=2**31),
    ),
    max_size=10,
)
any_names = st.one_of(st.text(max_size=120), st.none(), st.integers())
any_params = st.dictionaries(
    st.one_of(st.text(max_size=60), st.integers()),
    st.one_of(
        st.text(max_size=600),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=5),
    ),
    max_size=40,
)


def _vendor_rejections(contract: Harness) -> list[Any]:
    rejected = [r for r in contract.server.requests() if r.vendor == contract.vendor and r.status >= 400]
    flagged = [e for e in contract.events() if not e.accepted or e.problems]
    return rejected + flagged


class TestPayloadFormat(ContractBase):
    """Generated events, checked by the vendor fake's own validator."""

    def test_events_within_the_documented_rules_arrive_exactly_as_sent(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self.require(provider_spec, "custom_events")
        manager = contract.manager()

        @_SETTINGS
        @given(name=valid_names, params=valid_params)
        def check(name: str, params: dict[str, Any]) -> None:
            contract.server.clear()
            manager.track_event(name, params)
            assert manager.flush(5.0)
            received = contract.events()
            assert [e.name for e in received] == [name]
            for key, value in params.items():
                assert received[0].params.get(key) == value, (key, received[0].params)
            assert _vendor_rejections(contract) == []

        check()

    def test_events_outside_the_rules_are_normalised_or_dropped_never_rejected(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self.require(provider_spec, "payload_validation")
        manager = contract.manager()

        @_SETTINGS
        @given(name=any_names, params=any_params)
        def check(name: Any, params: dict[Any, Any]) -> None:
            contract.server.clear()
            manager.track_event(name, params)
            manager.track_event("contract_after", {"n": 1})
            assert manager.flush(5.0)
            assert _vendor_rejections(contract) == []
            assert len(contract.named("contract_after")) == 1

        check()

    def test_every_event_carries_a_unique_dedup_id(
        self, contract: Harness, provider_spec: ProviderSpec
    ) -> None:
        self.require(provider_spec, "dedup_ids")
        manager = contract.manager()
        for i in range(30):
            manager.track_event("contract_dedup", {"n": i})
        assert manager.flush(5.0)
        ids = [e.insert_id for e in contract.named("contract_dedup")]
        assert len(ids) == 30
        assert all(ids)
        assert len(set(ids)) == 30
