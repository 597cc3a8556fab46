"""The pytest11 plugin of the contract suite: `--provider`, `--contract-report`, parametrisation.

It only acts on test classes derived from the suite's base; in any other test session it adds two
command-line options and nothing else.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.register_assert_rewrite(
    "contract_tests.base",
    "contract_tests.harness",
    "contract_tests.test_cassettes",
    "contract_tests.test_client_id",
    "contract_tests.test_enrichment",
    "contract_tests.test_failure_isolation",
    "contract_tests.test_lifecycle",
    "contract_tests.test_payload_format",
    "contract_tests.test_privacy",
    "contract_tests.test_timeouts",
)

if TYPE_CHECKING:
    from .spec import ProviderSpec

_SPECS_KEY = pytest.StashKey[list["ProviderSpec"]]()
_REPORT_KEY = pytest.StashKey["_Report"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("telemetry-contract", "telemetry provider contract suite")
    group.addoption(
        "--provider",
        action="append",
        default=[],
        metavar="MODULE:ATTR",
        help="certify the provider whose ProviderSpec this names (repeatable); default: the built-ins",
    )
    group.addoption(
        "--contract-report",
        default=None,
        metavar="PATH",
        help="write the conformance report as JSON to PATH and as a Markdown table beside it",
    )


def pytest_configure(config: pytest.Config) -> None:
    references: list[str] = config.getoption("--provider") or []
    if references:
        from .spec import ContractSpecError, load_spec

        try:
            config.stash[_SPECS_KEY] = [load_spec(ref) for ref in references]
        except (ContractSpecError, ImportError) as exc:
            raise pytest.UsageError(f"--provider: {exc}") from exc
    if config.getoption("--contract-report"):
        config.stash[_REPORT_KEY] = _Report()


def _selected_specs(config: pytest.Config) -> list[ProviderSpec]:
    if _SPECS_KEY not in config.stash:
        from .builtin import builtin_specs

        config.stash[_SPECS_KEY] = builtin_specs()
    return config.stash[_SPECS_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "provider_spec" not in metafunc.fixturenames or metafunc.cls is None:
        return
    from .base import ContractBase

    if not issubclass(metafunc.cls, ContractBase):
        return
    pinned = metafunc.cls.spec
    specs = [pinned] if pinned is not None else _selected_specs(metafunc.config)
    metafunc.parametrize("provider_spec", specs, ids=[spec.name for spec in specs], scope="function")


@dataclass
class _Check:
    group: str
    check: str
    outcome: str = "passed"
    reason: str = ""


@dataclass
class _Report:
    specs: dict[str, ProviderSpec] = field(default_factory=dict)
    checks: dict[str, dict[str, _Check]] = field(default_factory=dict)

    def record(
        self, spec: ProviderSpec, nodeid: str, group: str, name: str, outcome: str, reason: str
    ) -> None:
        self.specs[spec.name] = spec
        checks = self.checks.setdefault(spec.name, {})
        current = checks.get(nodeid)
        if current is None:
            checks[nodeid] = _Check(group, name, outcome, reason)
        elif outcome != "passed" and current.outcome == "passed":
            current.outcome, current.reason = outcome, reason


def _group_and_name(item: pytest.Item) -> tuple[str, str]:
    function = getattr(item, "function", None)
    qualname = getattr(function, "__qualname__", item.name)
    group = qualname.split(".")[0]
    params = getattr(getattr(item, "callspec", None), "params", {})
    extra = ",".join(f"{k}={v}" for k, v in params.items() if k != "provider_spec")
    name = getattr(function, "__name__", item.name) + (f"[{extra}]" if extra else "")
    return group, name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    key = _REPORT_KEY
    if key not in item.config.stash:
        return report
    spec = getattr(getattr(item, "callspec", None), "params", {}).get("provider_spec")
    if spec is None:
        return report
    outcome = report.outcome
    reason = ""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif report.failed:
        reason = _first_line(report.longreprtext)
    if report.when == "call" or outcome != "passed":
        group, name = _group_and_name(item)
        item.config.stash[key].record(spec, item.nodeid, group, name, outcome, reason)
    return report


def _first_line(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("E "):
            return stripped[2:].strip()[:300]
    return text.strip().splitlines()[-1][:300] if text.strip() else "failed"


def _version_of(spec: ProviderSpec) -> str:
    if spec.version:
        return spec.version
    top = spec.provider_class.__module__.split(".")[0]
    version = getattr(sys.modules.get(top), "__version__", None)
    return str(version) if version else "unknown"


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _REPORT_KEY not in config.stash:
        return
    path = Path(str(config.getoption("--contract-report")))
    report = config.stash[_REPORT_KEY]
    document = {
        "providers": [
            {
                "provider": name,
                "provider_class": f"{spec.provider_class.__module__}.{spec.provider_class.__qualname__}",
                "version": _version_of(spec),
                "capabilities": sorted(spec.capabilities),
                "certified": all(c.outcome != "failed" for c in report.checks.get(name, {}).values()),
                "checks": [
                    {"group": c.group, "check": c.check, "outcome": c.outcome, "reason": c.reason}
                    for c in sorted(report.checks.get(name, {}).values(), key=lambda c: (c.group, c.check))
                ],
            }
            for name, spec in report.specs.items()
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    path.with_suffix(".md").write_text(render_markdown(document))


def render_markdown(document: dict[str, Any]) -> str:
    """The conformance report as a Markdown table per provider."""
    lines = ["# Provider conformance report", ""]
    for provider in document["providers"]:
        verdict = "certified" if provider["certified"] else "NOT certified"
        lines += [
            f"## {provider['provider']} {provider['version']}: {verdict}",
            "",
            f"Class `{provider['provider_class']}`; capabilities: "
            + (", ".join(provider["capabilities"]) or "none"),
            "",
            "| group | check | outcome | reason |",
            "|---|---|---|---|",
        ]
        for check in provider["checks"]:
            reason = check["reason"].replace("|", "\\|")
            lines.append(f"| {check['group']} | {check['check']} | {check['outcome']} | {reason} |")
        lines.append("")
    return "\n".join(lines)
