"""Shared by the cassette tests: the committed cassettes, their specs, and a drifted provider."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from contract_tests.builtin import builtin_specs
from contract_tests.cassette_scenarios import applicable, cassette_dir, cassette_specs
from contract_tests.spec import ProviderSpec
from telemetry.events import Event
from telemetry.ga4_provider import GA4TelemetryProvider

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes"
SPECS = cassette_specs(builtin_specs())
CASES = [(spec, scenario) for spec in SPECS for scenario in applicable(spec)]
CASE_IDS = [f"{spec.name}-{scenario.name}" for spec, scenario in CASES]


class DriftedGA4Provider(GA4TelemetryProvider):
    """GA4 as if someone added a param to every event: the payload no longer matches the cassettes."""

    def map_event(self, event: Event) -> dict[str, Any] | None:
        mapped = super().map_event(event)
        if mapped is not None:
            mapped["params"]["added_by_mistake"] = "yes"
        return mapped


def spec_named(name: str) -> ProviderSpec:
    for spec in SPECS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def drifted_ga4_spec() -> ProviderSpec:
    """The GA4 spec with the drifted provider, pointing at the committed GA4 cassettes."""
    ga4 = spec_named("GA4")
    return dataclasses.replace(ga4, provider_class=DriftedGA4Provider, cassette_dir=str(cassette_dir(ga4)))
