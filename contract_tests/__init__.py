"""The reusable contract suite that certifies telemetry providers.

Run it with `pytest contract_tests` (every built-in provider), `pytest --pyargs contract_tests
--provider package.module:SPEC` (one provider), or subclass `ProviderContract` in a test file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .spec import CAPABILITIES, ContractSpecError, ProviderSpec, load_spec

if TYPE_CHECKING:
    from .base import ContractBase

__all__ = ["CAPABILITIES", "ContractSpecError", "ProviderContract", "ProviderSpec", "load_spec"]


def _provider_contract() -> type[ContractBase]:
    from .test_cassettes import TestCassettes
    from .test_client_id import TestClientIdPersistence
    from .test_enrichment import TestEnrichment
    from .test_failure_isolation import TestFailureIsolation
    from .test_lifecycle import TestLifecycle
    from .test_payload_format import TestPayloadFormat
    from .test_privacy import TestPrivacy
    from .test_timeouts import TestTimeouts

    return type(
        "ProviderContract",
        (
            TestEnrichment,
            TestTimeouts,
            TestFailureIsolation,
            TestClientIdPersistence,
            TestPayloadFormat,
            TestPrivacy,
            TestLifecycle,
            TestCassettes,
        ),
        {"__module__": __name__, "__doc__": "Every check group; subclass it and set `spec`."},
    )


def __getattr__(name: str) -> Any:
    if name == "ProviderContract":
        contract = _provider_contract()
        globals()["ProviderContract"] = contract
        return contract
    raise AttributeError(name)
