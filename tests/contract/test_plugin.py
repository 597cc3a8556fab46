"""How the contract plugin behaves for its users: loud spec errors, subclassing, options."""

from __future__ import annotations

import pytest

from contract_tests import ContractSpecError, ProviderSpec
from contract_tests.reference import ReferenceFake, ReferenceProvider, reference_spec
from telemetry.base_telemetry import BaseTelemetryProvider

pytest_plugins = ["pytester"]


class HalfWritten(BaseTelemetryProvider):
    name = "HalfWritten"


class TestSpecValidation:
    def test_a_provider_missing_its_wire_methods_is_rejected_when_the_spec_is_built(self) -> None:
        with pytest.raises(ContractSpecError, match=r"does not implement map_event\(\)"):
            ProviderSpec("half", HalfWritten, lambda url: None, ReferenceFake)  # type: ignore[arg-type,return-value]

    def test_an_unknown_capability_is_rejected(self) -> None:
        with pytest.raises(ContractSpecError, match="unknown capabilities"):
            ProviderSpec(
                "ref",
                ReferenceProvider,
                lambda url: None,
                ReferenceFake,  # type: ignore[arg-type,return-value]
                capabilities=frozenset({"teleportation"}),
            )

    def test_a_non_provider_class_is_rejected(self) -> None:
        with pytest.raises(ContractSpecError, match="not a BaseTelemetryProvider subclass"):
            ProviderSpec("x", dict, lambda url: None, ReferenceFake)  # type: ignore[arg-type,return-value]

    def test_asking_for_an_unknown_capability_is_an_error_not_a_skip(self) -> None:
        with pytest.raises(ContractSpecError):
            reference_spec().has("teleportation")


class TestUsingThePlugin:
    def test_a_test_class_deriving_from_the_suite_without_a_spec_is_a_collection_error(
        self, pytester: pytest.Pytester
    ) -> None:
        pytester.makepyfile(
            "from contract_tests import ProviderContract\n\nclass TestMine(ProviderContract):\n    pass\n"
        )
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        assert result.ret == pytest.ExitCode.INTERRUPTED
        result.stdout.fnmatch_lines(["*sets no `spec`*"])

    def test_subclassing_the_contract_certifies_a_provider(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            "from contract_tests import ProviderContract\n"
            "from contract_tests.reference import reference_spec\n\n"
            "class TestReference(ProviderContract):\n    spec = reference_spec()\n"
        )
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "flush_delivers or idempotent")
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(["*2 passed*"])

    def test_an_unknown_provider_reference_is_a_usage_error(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest_subprocess("--provider", "no_such_module_here:SPEC")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--provider*no_such_module_here*"])

    def test_the_plugin_leaves_other_test_sessions_alone(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            "def test_plain():\n    assert 1 + 1 == 2\n\n"
            "class TestPlain:\n    def test_x(self):\n        pass\n"
        )
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=2)

    def test_assertions_in_the_installed_suite_are_rewritten(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            "from contract_tests import harness\n\n"
            "def test_rewritten():\n"
            "    import contract_tests.harness as h\n"
            "    assert h.__loader__.__class__.__name__ == 'AssertionRewritingHook'\n"
        )
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
