"""The scenarios every provider's cassettes pin, and how they are recorded, replayed and compared.

A scenario drives the real TelemetryManager (so the cassette shows exactly what the delivery
engine puts on the wire) and, against the fakes, injects the faults of the error paths the engine
handles. Runs are deterministic where it matters: a fixed client_id, app_version and params, and
no timed flush (only `flush()` and full batches start a send). The engine's outcome (sent,
retried, dropped) is stored next to the interactions, so a replay proves the same verdicts.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

from telemetry import DeliveryOptions, TelemetryManager
from telemetry.context import CLIENT_ID_KEY, TABLE

from .cassettes import REDACTED, cassette_vcr, comparable_body, dump_yaml, encode_body, load_cassette

if TYPE_CHECKING:
    from telemetry.base_telemetry import ProviderConfig

    from .spec import ProviderSpec

__all__ = [
    "APP_VERSION",
    "CLIENT_ID",
    "NAMED_REJECTIONS",
    "RECORDING_SECRETS",
    "RE_RECORD_HINT",
    "SCENARIOS",
    "VALIDATION_VARIANTS",
    "FaultPlan",
    "NamedRejection",
    "ReplayResult",
    "Scenario",
    "applicable",
    "cassette_dir",
    "cassette_path",
    "cassette_specs",
    "comparable",
    "drift",
    "record",
    "recording_config",
    "replay",
    "scenario_named",
    "skip_reason",
]

APP_VERSION = "cassette-1.0.0"
CLIENT_ID = "5ca1ab1e-0000-4000-8000-000000000001"
"""Seeded into the recording's database, so every cassette shows the same anonymous client."""

REPLAY_BASE_URL = "http://127.0.0.1:9"
"""Where a replaying provider is pointed: the discard port, which nothing may ever reach."""

RE_RECORD_HINT = (
    "If the change is intended, re-record with `make cassettes` "
    "(or `python scripts/record_cassettes.py --provider NAME`) and review the diff of cassettes/."
)

RECORDING_SECRETS: Mapping[str, str] = {
    "service_account_secret": "ca55e77edd000000000000000000dd05",  # Mixpanel: 32 hex digits
}
"""The fake secrets the recording adds to a spec's config (the spec's own secrets are kept, since
its fake may accept only those). Each contains the mark "ca55e77e"; no cassette may hold any."""

RECORDING = DeliveryOptions(
    queue_capacity=1_000,
    flush_interval=60.0,  # never: only flush() and a full batch start a send
    request_timeout=5.0,
    max_retries=3,
    backoff_base=0.01,
    backoff_max=0.02,
    retry_after_max=0.05,  # a recorded Retry-After of 1 s is honoured as 50 ms
    retry_deadline=30.0,
    exit_grace=1.0,
)
FLUSH_TIMEOUT = 15.0


@dataclass(frozen=True)
class FaultPlan:
    """One fault to inject into the fake while recording (see `FaultRegistry.add`)."""

    kind: str
    count: int = 1
    status: int | None = None
    body: str | None = None
    content_type: str | None = None
    retry_after: int | None = None


Drive = Callable[[TelemetryManager, frozenset[str]], None]


@dataclass(frozen=True)
class Scenario:
    """One recorded run: what the app calls, which faults the fake injects, what must result.

    capability: the spec capability it needs. faults: injected while recording against the fakes
    (a scenario with faults is never recorded against a real vendor). named_rejection: the fault
    is the vendor's own 400 naming bad events (from NAMED_REJECTIONS). validation: record with the
    provider's validation-endpoint config (from VALIDATION_VARIANTS). expect_dropped /
    expect_retried: what the engine must report, checked when recording.
    """

    name: str
    description: str
    drive: Drive
    capability: str = "custom_events"
    faults: tuple[FaultPlan, ...] = ()
    named_rejection: bool = False
    validation: bool = False
    expect_dropped: Mapping[str, int] = field(default_factory=dict)
    expect_retried: bool | None = False
    """Whether the engine retries; None when that is the vendor's choice (a 400's partial success)."""

    @property
    def live(self) -> bool:
        """Whether this scenario may be recorded against a real vendor (no fault injection)."""
        return not self.faults and not self.named_rejection


def _flush(manager: TelemetryManager) -> None:
    if not manager.flush(FLUSH_TIMEOUT):
        raise RuntimeError(f"flush did not finish within {FLUSH_TIMEOUT} s")


def _page_view(manager: TelemetryManager, capabilities: frozenset[str]) -> None:
    manager.track_page_view("/event-search", "Event Search")
    _flush(manager)


def _custom_event(manager: TelemetryManager, capabilities: frozenset[str]) -> None:
    manager.track_event(
        "workflow_started",
        {"workflow_type": "event_based", "step": 2, "ratio": 0.5, "dry_run": False, "source": "cli"},
    )
    _flush(manager)


def _user_properties(manager: TelemetryManager, capabilities: frozenset[str]) -> None:
    manager.set_user_properties({"app_channel": "stable", "plan": "free", "seats": 3})
    _flush(manager)


FULL_BATCH_SIZE = 25
"""GA4's documented maximum per request; one request for every built-in vendor."""


def _full_batch(manager: TelemetryManager, capabilities: frozenset[str]) -> None:
    for i in range(FULL_BATCH_SIZE):
        if i % 8 == 0 and "page_views" in capabilities:
            manager.track_page_view(f"/batch/page-{i}", f"Batch page {i}")
        elif i == 12 and "user_properties" in capabilities:
            manager.set_user_properties({"app_channel": "beta", "batch_member": True})
        else:
            manager.track_event("batch_item", {"index": i, "label": f"item-{i}", "even": i % 2 == 0})
    _flush(manager)


def _events(count: int) -> Drive:
    def drive(manager: TelemetryManager, capabilities: frozenset[str]) -> None:
        for i in range(count):
            manager.track_event("retry_item", {"index": i})
        _flush(manager)

    return drive


def _validation(manager: TelemetryManager, capabilities: frozenset[str]) -> None:
    _page_view(manager, capabilities)
    _custom_event(manager, capabilities)
    if "user_properties" in capabilities:
        _user_properties(manager, capabilities)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("page_view", "one page view", _page_view, capability="page_views"),
    Scenario("custom_event", "one custom event with str, int, float and bool params", _custom_event),
    Scenario("user_properties", "one user-properties update", _user_properties, capability="user_properties"),
    Scenario("full_batch", f"{FULL_BATCH_SIZE} events of every kind in one flush", _full_batch),
    Scenario(
        "rejected_400",
        "3 events; the vendor answers 400 naming event 1: it is dropped, the other two delivered",
        _events(3),
        named_rejection=True,
        expect_dropped={"rejected": 1},
        expect_retried=None,
    ),
    Scenario(
        "too_large_413",
        "4 events; the vendor answers 413 once: the batch is split in halves and both are delivered",
        _events(4),
        faults=(FaultPlan("413"),),
    ),
    Scenario(
        "throttled_429",
        "2 events; the vendor answers 429 with Retry-After: 1 once: the batch is retried",
        _events(2),
        faults=(FaultPlan("429", retry_after=1),),
        expect_retried=True,
    ),
    Scenario(
        "server_error_5xx",
        "2 events; the vendor answers 503 once, then accepts the retry",
        _events(2),
        faults=(FaultPlan("status", status=503),),
        expect_retried=True,
    ),
    Scenario(
        "validation",
        "a page view, a custom event and user properties sent to the validation endpoint, "
        "each with the vendor's verdict",
        _validation,
        validation=True,
    ),
)


def scenario_named(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(name)


def _replace(config: ProviderConfig, **changes: Any) -> ProviderConfig:
    """A copy of a dataclass config with `changes` (whatever its concrete class)."""
    copied: ProviderConfig = dataclasses.replace(cast("Any", config), **changes)
    return copied


def _ga4_validation(config: ProviderConfig) -> ProviderConfig:
    return _replace(config, validation_mode=True)


VALIDATION_VARIANTS: dict[str, Callable[[ProviderConfig], ProviderConfig]] = {"GA4": _ga4_validation}
"""Provider name -> its config aimed at the vendor's validation endpoint."""


@dataclass(frozen=True)
class NamedRejection:
    """A vendor's documented 400 that names bad events, and the config that reaches that endpoint."""

    fault: FaultPlan
    variant: Callable[[ProviderConfig], ProviderConfig] | None = None


def _mixpanel_import(config: ProviderConfig) -> ProviderConfig:
    """Mixpanel names bad events only on /import?strict=1, which takes a service account."""
    return _replace(
        config,
        service_account_username="cassette-service-account",
        service_account_secret=RECORDING_SECRETS["service_account_secret"],
        project_id="1234567",
    )


NAMED_REJECTIONS: dict[str, NamedRejection] = {
    "Amplitude": NamedRejection(
        FaultPlan(
            "status",
            status=400,
            body=json.dumps(
                {
                    "code": 400,
                    "error": "Invalid field values on some events",
                    "events_with_invalid_fields": {"event_properties": [1]},
                }
            ),
            content_type="application/json",
        )
    ),
    "Mixpanel": NamedRejection(
        FaultPlan(
            "status",
            status=400,
            body=json.dumps(
                {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "status": "Bad Request",
                    "num_records_imported": 2,
                    "failed_records": [
                        {
                            "index": 1,
                            "$insert_id": "0",
                            "field": "properties.time",
                            "message": "'properties.time' is invalid: "
                            "must be specified as seconds since epoch",
                        }
                    ],
                }
            ),
            content_type="application/json",
        ),
        _mixpanel_import,
    ),
}
"""Provider name -> the vendor's documented 400 that names bad events (GA4 and RudderStack have none)."""


NO_SUCH_ANSWER: dict[tuple[str, str], str] = {
    ("Segment", "too_large_413"): "Segment answers an oversized request with 400, never 413",
}
"""(provider, scenario) pairs that cannot happen: the vendor never gives that answer."""


def skip_reason(spec: ProviderSpec, scenario: Scenario) -> str | None:
    """Why `scenario` does not apply to `spec`, or None when it does."""
    if not spec.has(scenario.capability):
        return f"{spec.name} does not declare the {scenario.capability!r} capability"
    if (spec.name, scenario.name) in NO_SUCH_ANSWER:
        return NO_SUCH_ANSWER[spec.name, scenario.name]
    if scenario.named_rejection and spec.name not in NAMED_REJECTIONS:
        return f"{spec.name}'s vendor documents no 400 that names bad events"
    if scenario.validation and spec.name not in VALIDATION_VARIANTS:
        return f"{spec.name}'s vendor has no validation endpoint"
    return None


def applicable(spec: ProviderSpec) -> list[Scenario]:
    return [s for s in SCENARIOS if skip_reason(spec, s) is None]


def cassette_dir(spec: ProviderSpec) -> Path:
    """Where `spec`'s cassettes live: `spec.cassette_dir`, else cassettes/<name> under the cwd."""
    configured = getattr(spec, "cassette_dir", None)
    return Path(configured) if configured else Path("cassettes") / spec.name.lower()


def cassette_path(spec: ProviderSpec, scenario: Scenario, directory: Path | None = None) -> Path:
    return (directory or cassette_dir(spec)) / f"{scenario.name}.yaml"


def recording_config(spec: ProviderSpec, base_url: str, scenario: Scenario) -> ProviderConfig:
    """The spec's config for `base_url`, changed as the scenario needs (validation endpoint, ...)."""
    config = spec.make_config(base_url)
    if scenario.validation:
        config = VALIDATION_VARIANTS[spec.name](config)
    if scenario.named_rejection and NAMED_REJECTIONS[spec.name].variant is not None:
        config = NAMED_REJECTIONS[spec.name].variant(config)  # type: ignore[misc]
    return config


def _seed_database(directory: Path) -> Path:
    """A database whose client_id is CLIENT_ID (the manager keeps an existing one)."""
    path = directory / "telemetry.sqlite"
    connection = sqlite3.connect(path)
    try:
        connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute(
            f"INSERT OR REPLACE INTO {TABLE} (key, value) VALUES (?, ?)", (CLIENT_ID_KEY, CLIENT_ID)
        )
        connection.commit()
    finally:
        connection.close()
    return path


def _outcome(manager: TelemetryManager, spec: ProviderSpec) -> dict[str, Any]:
    stats = manager.stats().get(spec.provider_class.name, {})
    return {key: stats.get(key) for key in ("enqueued", "sent", "retried", "dropped")}


def _run(
    spec: ProviderSpec,
    scenario: Scenario,
    config: ProviderConfig,
    directory: Path,
    name: str,
    record_mode: str,
    metadata: Mapping[str, Any] | None = None,
    origin: str | None = None,
) -> tuple[dict[str, Any], Any]:
    """Drive `scenario` under a cassette; return the engine's outcome and the cassette.

    origin: the only origin recorded and matched (the fake's, or the replay's discard port).
    """
    recorder = cassette_vcr(directory, record_mode=record_mode, secrets=config.secrets(), origin=origin)
    with tempfile.TemporaryDirectory(prefix="cassette-db-") as tmp:
        db_path = _seed_database(Path(tmp))
        with recorder.use_cassette(name) as cassette:
            manager = TelemetryManager.from_providers(
                db_path,
                [(spec.provider_class, config)],
                app_version=APP_VERSION,
                environ={},
                delivery=RECORDING,
            )
            if manager.disabled_providers:
                raise RuntimeError(f"{spec.name} did not start: {manager.disabled_providers}")
            try:
                scenario.drive(manager, spec.capabilities)
            finally:
                manager.shutdown(5.0)
            outcome = _outcome(manager, spec)
            for key, value in (metadata or {}).items():
                cassette.get_metadata(key, value)
            if metadata is not None:
                cassette.get_metadata("outcome", outcome)
    return outcome, cassette


def record(
    spec: ProviderSpec,
    scenario: Scenario,
    directory: Path,
    *,
    live_config: ProviderConfig | None = None,
) -> dict[str, Any]:
    """Record `scenario` into `directory/<scenario>.yaml`, replacing any previous file.

    Against the fakes (the default) the spec's fake is started and the scenario's faults are
    injected; with `live_config` the real vendor is called (only for scenarios without faults).
    Returns the engine's outcome; raises when it is not what the scenario expects.
    """
    from fakes import FakeServer

    path = cassette_path(spec, scenario, directory)
    directory.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    metadata = {
        "provider": spec.name,
        "scenario": scenario.name,
        "description": scenario.description,
        "recorded_against": "fakes" if live_config is None else "vendor",
        "re_record": "make cassettes",
    }
    if live_config is not None:
        if not scenario.live:
            raise ValueError(
                f"scenario {scenario.name} injects faults: it is recorded against the fakes only"
            )
        config = VALIDATION_VARIANTS[spec.name](live_config) if scenario.validation else live_config
        outcome, _ = _run(spec, scenario, config, directory, path.name, "all", metadata)
    else:
        with FakeServer(vendors=[spec.make_fake()]) as server:
            for plan in _faults(spec, scenario):
                server.faults.add(
                    plan.kind,  # type: ignore[arg-type]
                    count=plan.count,
                    status=plan.status,
                    body=plan.body,
                    content_type=plan.content_type,
                    retry_after=plan.retry_after,
                )
            config = recording_config(spec, server.base_url, scenario)
            outcome, _ = _run(
                spec, scenario, config, directory, path.name, "all", metadata, origin=server.base_url
            )
    problems = _unexpected(scenario, outcome)
    if problems:
        raise RuntimeError(f"recording {spec.name}/{scenario.name}: " + "; ".join(problems))
    return outcome


def _faults(spec: ProviderSpec, scenario: Scenario) -> tuple[FaultPlan, ...]:
    if scenario.named_rejection:
        return (NAMED_REJECTIONS[spec.name].fault, *scenario.faults)
    return scenario.faults


def _unexpected(scenario: Scenario, outcome: Mapping[str, Any]) -> list[str]:
    problems = []
    dropped = dict(outcome.get("dropped") or {})
    if dropped != dict(scenario.expect_dropped):
        problems.append(f"dropped {dropped}, expected {dict(scenario.expect_dropped)}")
    if scenario.expect_retried is not None and bool(outcome.get("retried")) != scenario.expect_retried:
        problems.append(
            f"retried {outcome.get('retried')}, expected {'some' if scenario.expect_retried else 'none'}"
        )
    if not outcome.get("sent"):
        problems.append("nothing was delivered")
    return problems


@dataclass(frozen=True)
class ReplayResult:
    """What a replay with record mode `none` did, next to what the recording had done."""

    path: Path
    outcome: dict[str, Any]
    recorded_outcome: dict[str, Any] | None
    played: int
    interactions: int

    def problems(self) -> list[str]:
        found = []
        if self.interactions == 0:
            found.append("the cassette holds no interaction")
        if self.played != self.interactions:
            found.append(f"{self.played} of {self.interactions} recorded interactions were played")
        if self.outcome != self.recorded_outcome:
            found.append(f"engine outcome {self.outcome} differs from the recorded {self.recorded_outcome}")
        if found:
            found.append(
                "a request that matches no recorded interaction means the payload drifted: the "
                "TestCassettes drift check shows the diff. " + RE_RECORD_HINT
            )
        return found


def replay(spec: ProviderSpec, scenario: Scenario, path: Path) -> ReplayResult:
    """Drive `scenario` against `path` with record mode `none`: nothing may reach the network."""
    if not path.is_file():
        raise FileNotFoundError(f"no cassette {path}; record it with `make cassettes`")
    recorded = load_cassette(path).get("metadata", {}).get("outcome")
    config = recording_config(spec, REPLAY_BASE_URL, scenario)
    outcome, cassette = _run(spec, scenario, config, path.parent, path.name, "none", origin=REPLAY_BASE_URL)
    return ReplayResult(
        path=path,
        outcome=outcome,
        recorded_outcome=recorded,
        played=cassette.play_count,
        interactions=len(cassette),
    )


def comparable(path: Path) -> str:
    """A cassette reduced to what pins the payload format, as YAML: for each interaction the
    method, path, query (secrets redacted) and normalised request body, and the response status;
    plus the engine's outcome. Response bodies and hosts are left out, so a cassette re-recorded
    against the real vendor compares equal to one recorded against the fakes."""
    data = load_cassette(path)
    interactions = []
    for interaction in data.get("interactions", []):
        request = interaction.get("request", {})
        parts = urlsplit(str(request.get("uri", "")))
        query = sorted(
            (name, REDACTED if value == REDACTED else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        )
        headers = request.get("headers") or {}
        body = comparable_body(encode_body(request.get("body")), headers)
        interactions.append(
            {
                "method": request.get("method"),
                "path": parts.path,
                "query": [list(pair) for pair in query],
                "body": body,
                "status": (interaction.get("response", {}).get("status") or {}).get("code"),
            }
        )
    document = {"interactions": interactions, "outcome": data.get("metadata", {}).get("outcome")}
    return dump_yaml(document)


def drift(spec: ProviderSpec, scenario: Scenario, committed: Path, scratch: Path) -> str | None:
    """Record `scenario` afresh into `scratch` and compare it with `committed`.

    None when they agree; otherwise a message with the unified diff and how to re-record.
    """
    if not committed.is_file():
        return f"{spec.name}: no cassette {committed} for scenario {scenario.name!r}. {RE_RECORD_HINT}"
    record(spec, scenario, scratch)
    fresh = comparable(cassette_path(spec, scenario, scratch))
    pinned = comparable(committed)
    if fresh == pinned:
        return None
    diff = "".join(
        difflib.unified_diff(
            pinned.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            fromfile=f"{committed} (committed)",
            tofile=f"{spec.name} now",
            n=4,
        )
    )
    return (
        f"{spec.name}'s payload for scenario {scenario.name!r} no longer matches its cassette "
        f"{committed}.\n{RE_RECORD_HINT}\n{diff}"
    )


def cassette_specs(specs: Iterable[ProviderSpec]) -> list[ProviderSpec]:
    """The specs that declare the `cassettes` capability."""
    return [spec for spec in specs if spec.has("cassettes")]
