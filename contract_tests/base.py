"""The base every check group derives from, and `ProviderContract` for subclass-to-certify.

A provider author either runs `pytest contract_tests --provider pkg.mod:SPEC`, or writes

    class TestMyProvider(ProviderContract):
        spec = MY_SPEC

in their own test file. A `Test*` subclass without a `spec` is a collection error, never a
silently empty class (pytest does not collect abstract classes, so none are used here).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from .harness import Harness
from .spec import ContractSpecError, ProviderSpec

if TYPE_CHECKING:
    from pathlib import Path


class ContractBase:
    """Shared fixtures of every check group. `spec` pins a provider; None means "all selected"."""

    spec: ClassVar[ProviderSpec | None] = None
    group: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        pinned = cls.__dict__.get("spec")
        if pinned is not None and not isinstance(pinned, ProviderSpec):
            raise ContractSpecError(
                f"{cls.__name__}.spec must be a ProviderSpec, not {type(pinned).__name__}"
            )
        if cls.__module__.startswith("contract_tests."):
            return
        if cls.__name__.startswith("Test") and cls.spec is None:
            raise ContractSpecError(
                f"{cls.__qualname__} derives from the contract suite but sets no `spec`; "
                "set `spec = ProviderSpec(...)` to certify a provider"
            )

    @pytest.fixture
    def contract(self, provider_spec: ProviderSpec, tmp_path: Path) -> Iterator[Harness]:
        """A harness around the provider under test; everything it started is stopped after."""
        harness = Harness(provider_spec, tmp_path)
        try:
            yield harness
        finally:
            harness.close()

    @staticmethod
    def require(spec: ProviderSpec, capability: str) -> None:
        """Skip, saying why, when the provider does not declare `capability`."""
        if not spec.has(capability):
            pytest.skip(f"{spec.name} does not declare the {capability!r} capability")

    @staticmethod
    def require_import_path(spec: ProviderSpec) -> None:
        """Skip, saying why, when a subprocess could not load this spec."""
        if spec.import_path is None:
            pytest.skip(f"{spec.name}: the spec has no import_path, so no subprocess can load it")
