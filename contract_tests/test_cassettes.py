"""Cassettes: the provider's recorded cassettes are the golden reference of its payload format."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from .base import ContractBase
from .cassette_scenarios import (
    RE_RECORD_HINT,
    RECORDING_SECRETS,
    SCENARIOS,
    Scenario,
    cassette_dir,
    cassette_path,
    drift,
    replay,
    scenario_named,
    skip_reason,
)
from .cassettes import configured_secrets, scan_for_secrets
from .harness import capture_connects

if TYPE_CHECKING:
    from pathlib import Path

    from .spec import ProviderSpec

SCENARIO_NAMES = [scenario.name for scenario in SCENARIOS]


def _scenario(spec: ProviderSpec, name: str) -> Scenario:
    ContractBase.require(spec, "cassettes")
    scenario = scenario_named(name)
    reason = skip_reason(spec, scenario)
    if reason is not None:
        pytest.skip(reason)
    directory = cassette_dir(spec)
    if not directory.is_dir():
        pytest.fail(
            f"{spec.name} declares the 'cassettes' capability but {directory} does not exist. "
            "Record its cassettes with `make cassettes`."
        )
    return scenario


class TestCassettes(ContractBase):
    """Each scenario's cassette replays offline and still matches what the provider sends."""

    @pytest.mark.parametrize("scenario", SCENARIO_NAMES)
    def test_current_payloads_match_the_recorded_cassette(
        self, provider_spec: ProviderSpec, scenario: str, tmp_path: Path
    ) -> None:
        chosen = _scenario(provider_spec, scenario)
        message = drift(provider_spec, chosen, cassette_path(provider_spec, chosen), tmp_path)
        if message is not None:
            pytest.fail(message, pytrace=False)

    @pytest.mark.parametrize("scenario", SCENARIO_NAMES)
    def test_the_cassette_replays_offline_with_the_recorded_outcome(
        self, provider_spec: ProviderSpec, scenario: str
    ) -> None:
        chosen = _scenario(provider_spec, scenario)
        path = cassette_path(provider_spec, chosen)
        assert path.is_file(), f"no cassette {path}. {RE_RECORD_HINT}"
        with capture_connects() as connects:
            result = replay(provider_spec, chosen, path)
        assert connects == [], f"replaying {path} opened sockets: {connects}"
        if result.problems():
            pytest.fail(f"replaying {path}:\n" + "\n".join(result.problems()), pytrace=False)

    def test_no_cassette_holds_a_secret(self, provider_spec: ProviderSpec) -> None:
        self.require(provider_spec, "cassettes")
        directory = cassette_dir(provider_spec)
        assert directory.is_dir(), f"{directory} does not exist. {RE_RECORD_HINT}"
        known = [
            *provider_spec.make_config("http://127.0.0.1:9").secrets(),
            *RECORDING_SECRETS.values(),
            *configured_secrets(os.environ),
        ]
        findings = scan_for_secrets(directory, known)
        assert findings == [], "secrets in cassettes:\n" + "\n".join(str(f) for f in findings)

    def test_every_cassette_file_belongs_to_a_scenario(self, provider_spec: ProviderSpec) -> None:
        self.require(provider_spec, "cassettes")
        directory = cassette_dir(provider_spec)
        assert directory.is_dir(), f"{directory} does not exist. {RE_RECORD_HINT}"
        expected = {f"{s.name}.yaml" for s in SCENARIOS if skip_reason(provider_spec, s) is None}
        present = {p.name for p in directory.glob("*.yaml")}
        assert present == expected, (
            f"{directory}: stale {sorted(present - expected)}, missing {sorted(expected - present)}. "
            + RE_RECORD_HINT
        )
