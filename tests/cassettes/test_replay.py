"""`make test` replays every committed cassette with record mode `none` and no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from vcr.errors import CannotOverwriteExistingCassetteException

from contract_tests.cassette_scenarios import (
    SCENARIOS,
    Scenario,
    cassette_dir,
    cassette_path,
    replay,
    scenario_named,
    skip_reason,
)
from contract_tests.cassettes import cassette_vcr
from contract_tests.harness import capture_connects
from contract_tests.spec import ProviderSpec

from ._support import CASE_IDS, CASES, CASSETTES, SPECS, drifted_ga4_spec, spec_named


class TestEveryCommittedCassetteReplaysOffline:
    @pytest.mark.parametrize(("spec", "scenario"), CASES, ids=CASE_IDS)
    def test_the_cassette_replays_with_record_mode_none_and_the_engine_verdict_of_its_error_path(
        self, spec: ProviderSpec, scenario: Scenario
    ) -> None:
        with capture_connects() as connects:
            result = replay(spec, scenario, cassette_path(spec, scenario))
        assert connects == []
        assert result.problems() == []
        assert result.played == result.interactions > 0
        assert dict(result.outcome["dropped"]) == dict(scenario.expect_dropped)
        if scenario.expect_retried is not None:
            assert bool(result.outcome["retried"]) == scenario.expect_retried


class TestEveryProviderHasItsCassettes:
    def test_the_built_in_providers_declare_the_cassettes_capability(self) -> None:
        assert {"GA4", "Amplitude"} <= {spec.name for spec in SPECS}

    @pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
    def test_each_provider_has_a_cassette_for_every_scenario_it_supports_and_no_other(
        self, spec: ProviderSpec
    ) -> None:
        directory = cassette_dir(spec)
        assert directory.parent == CASSETTES
        expected = {f"{s.name}.yaml" for s in SCENARIOS if skip_reason(spec, s) is None}
        assert {p.name for p in directory.glob("*.yaml")} == expected

    @pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
    def test_the_error_paths_are_recorded_unless_the_vendor_never_answers_that_way(
        self, spec: ProviderSpec
    ) -> None:
        names = {p.stem for p in cassette_dir(spec).glob("*.yaml")}
        assert {"throttled_429", "server_error_5xx"} <= names
        too_large = scenario_named("too_large_413")
        assert "too_large_413" in names or "never 413" in str(skip_reason(spec, too_large))

    def test_ga4_holds_the_validation_verdict_next_to_the_payload(self) -> None:
        from contract_tests.cassettes import load_cassette

        data = load_cassette(CASSETTES / "ga4" / "validation.yaml")
        interactions = data["interactions"]
        assert len(interactions) == 3
        for interaction in interactions:
            assert "/debug/mp/collect" in interaction["request"]["uri"]
            assert interaction["request"]["body"]["json"]["events"]
            assert interaction["response"]["body"]["json"] == {"validationMessages": []}


class TestReplayNeverFallsThroughToTheNetwork:
    def test_a_provider_whose_payload_changed_plays_nothing_and_opens_no_socket(self) -> None:
        spec = drifted_ga4_spec()
        scenario = scenario_named("custom_event")
        with capture_connects() as connects:
            result = replay(spec, scenario, cassette_path(spec, scenario))
        assert connects == []
        assert result.played == 0
        problems = "\n".join(result.problems())
        assert "0 of 1 recorded interactions were played" in problems
        assert "make cassettes" in problems

    def test_record_mode_none_raises_on_a_request_the_cassette_does_not_hold(self) -> None:
        recorder = cassette_vcr(CASSETTES / "amplitude", record_mode="none")
        body: dict[str, Any] = {"api_key": "x" * 8, "events": [{"event_type": "not_recorded"}]}
        with (
            recorder.use_cassette("custom_event"),
            capture_connects() as connects,
            pytest.raises(CannotOverwriteExistingCassetteException),
        ):
            requests.post("http://127.0.0.1:9/2/httpapi", json=body, timeout=1)
        assert connects == []

    def test_a_missing_cassette_is_an_error_that_says_how_to_record_it(self, tmp_path: Path) -> None:
        spec = spec_named("GA4")
        with pytest.raises(FileNotFoundError, match="make cassettes"):
            replay(spec, scenario_named("page_view"), tmp_path / "page_view.yaml")
