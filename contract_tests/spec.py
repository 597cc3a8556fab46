"""The certification spec: what a provider author declares so the contract suite can test it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes._model import ReceivedEvent, VendorFake
    from telemetry.base_telemetry import BaseTelemetryProvider, ProviderConfig
    from telemetry.context import TelemetryContext

__all__ = ["CAPABILITIES", "ContractSpecError", "ProviderSpec", "load_spec"]

CAPABILITIES = frozenset(
    {
        "page_views",  # track_page_view reaches the vendor
        "custom_events",  # track_event reaches the vendor
        "user_properties",  # set_user_properties reaches the vendor
        "dedup_ids",  # every event carries a vendor dedup id (insert_id) on the wire
        "payload_validation",  # the fake flags events the real vendor would reject
        "cassettes",  # recorded cassettes pin the payload format (see cassettes/)
    }
)
"""The closed set of capabilities a spec may declare; anything else is a spec error."""


class ContractSpecError(TypeError):
    """A spec is incomplete or wrong: raised at construction, so collection fails loudly."""


def _default_enrichment(event: ReceivedEvent) -> Mapping[str, Any]:
    return event.params


@dataclass(frozen=True)
class ProviderSpec:
    """Everything the contract suite needs to certify one provider.

    provider_class: the BaseTelemetryProvider subclass under test.
    make_config: builds the provider's config pointed at a fake's base URL (secrets included).
    make_fake: builds the VendorFake that decodes the provider's wire format.
    capabilities: a subset of CAPABILITIES; checks needing an undeclared one skip with a reason.
    session_of / client_id_of: the session and client id values the vendor should receive for a
      run's context (default: any consistent value / the context's client_id).
    enrichment_of: where runtime, lib_version and session_id sit in a received event (default params).
    import_path: "package.module:attr" naming this spec, for the checks that start subprocesses.
    cassette_dir: the directory of this provider's recorded cassettes (`<scenario>.yaml`), the
      golden reference of its payload format (capability "cassettes"); None: cassettes/<name>.
    """

    name: str
    provider_class: type[BaseTelemetryProvider]
    make_config: Callable[[str], ProviderConfig]
    make_fake: Callable[[], VendorFake]
    capabilities: frozenset[str] = field(default_factory=frozenset)
    session_of: Callable[[TelemetryContext], Any] | None = None
    client_id_of: Callable[[TelemetryContext], Any] | None = None
    enrichment_of: Callable[[ReceivedEvent], Mapping[str, Any]] = _default_enrichment
    import_path: str | None = None
    version: str | None = None
    cassette_dir: str | None = None

    def __post_init__(self) -> None:
        from telemetry.base_telemetry import BaseTelemetryProvider

        problems: list[str] = []
        if not self.name:
            problems.append("name is empty")
        cls = self.provider_class
        if not isinstance(cls, type) or not issubclass(cls, BaseTelemetryProvider):
            problems.append(f"provider_class {cls!r} is not a BaseTelemetryProvider subclass")
        else:
            if not cls.name:
                problems.append(f"{cls.__name__}.name is empty")
            for method in ("map_event", "build_request"):
                if getattr(cls, method) is getattr(BaseTelemetryProvider, method):
                    problems.append(f"{cls.__name__} does not implement {method}()")
        if not callable(self.make_config):
            problems.append("make_config is not callable")
        if not callable(self.make_fake):
            problems.append("make_fake is not callable")
        unknown = set(self.capabilities) - CAPABILITIES
        if unknown:
            problems.append(f"unknown capabilities {sorted(unknown)}; allowed: {sorted(CAPABILITIES)}")
        if problems:
            raise ContractSpecError(f"provider spec {self.name!r} is incomplete: " + "; ".join(problems))
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))

    def has(self, capability: str) -> bool:
        if capability not in CAPABILITIES:
            raise ContractSpecError(f"unknown capability {capability!r}")
        return capability in self.capabilities

    def __str__(self) -> str:
        return self.name


def load_spec(reference: str) -> ProviderSpec:
    """Import "package.module:attr" and return the ProviderSpec it names (or a callable's result)."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ContractSpecError(f"--provider wants 'package.module:attr', got {reference!r}")
    module = importlib.import_module(module_name)
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise ContractSpecError(f"{module_name} has no attribute {attr!r}") from None
    if callable(value) and not isinstance(value, ProviderSpec):
        value = value()
    if not isinstance(value, ProviderSpec):
        raise ContractSpecError(f"{reference} is a {type(value).__name__}, not a ProviderSpec")
    if value.import_path is None:
        object.__setattr__(value, "import_path", reference)
    return value
