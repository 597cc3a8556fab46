"""What `telemetry doctor` and `telemetry send-test` find out, as data (the CLI only renders it).

`diagnose()` says which providers would send and, for each that would not, exactly why (a
missing key, an SDK not installed, analytics disabled, DO_NOT_TRACK, a broken entry point); where
the client_id lives and whether that database is healthy (read-only: nothing is created); which
endpoints are configured; and, with `check=True`, the result of one validation round trip per
enabled provider. `send_test()` sends one clearly named event through the real delivery engine
and reports what each backend answered. Secrets are only ever shown masked.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ._log import redact
from ._version import installed_version
from .config_files import (
    CONFIG_ENV,
    SettingError,
    SettingsSources,
    find_settings_file,
)
from .context import CLIENT_ID_KEY, TABLE
from .delivery.types import HttpResponse, Outcome, TransportFailure
from .registry import CheckVerdict, RegisteredProvider, Registry, discover, endpoints_of
from .settings import opt_out_reason

__all__ = [
    "EXIT_OFF",
    "EXIT_OK",
    "EXIT_PROBLEM",
    "EXIT_USAGE",
    "SEND_TEST_EVENT",
    "CheckReport",
    "DatabaseReport",
    "Diagnosis",
    "ProviderReport",
    "SendTestReport",
    "diagnose",
    "inspect_database",
    "send_test",
]

EXIT_OK = 0
"""At least one provider is enabled and nothing is wrong."""
EXIT_PROBLEM = 1
"""Something is wrong: a broken provider or settings file, an unhealthy database, a failed check."""
EXIT_USAGE = 2
"""The command line is wrong (argparse's code)."""
EXIT_OFF = 3
"""Nothing is wrong, but no provider would send (opted out, analytics off, nothing configured)."""

SEND_TEST_EVENT = "telemetry_send_test"
"""The name of the event `telemetry send-test` sends (valid for every built-in vendor)."""


@dataclass
class SettingReport:
    """One configured setting: its name, its value (masked when secret) and where it came from."""

    name: str
    value: str
    source: str


@dataclass
class CheckReport:
    """A validation round trip: ok is None when the provider declares none."""

    ok: bool | None
    detail: str
    status: int | None = None


@dataclass
class ProviderReport:
    """One provider: enabled, disabled (with every reason) or broken."""

    name: str
    status: str
    reasons: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    settings: list[SettingReport] = field(default_factory=list)
    entry_point: str = ""
    distribution: str | None = None
    contract_spec: str | None = None
    check: CheckReport | None = None


@dataclass
class DatabaseReport:
    """Where the client_id lives and whether that SQLite database is usable."""

    path: str | None
    source: str | None
    state: str
    """healthy, not created yet, no client_id yet, unhealthy, not configured."""
    detail: str
    ok: bool


@dataclass
class Diagnosis:
    """Everything `telemetry doctor` reports."""

    version: str
    settings_file: str | None
    settings_file_source: str | None
    dotenv: str | None
    analytics_enabled: bool
    analytics_source: str
    opt_out: str | None
    database: DatabaseReport
    providers: list[ProviderReport]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: bool = False

    @property
    def enabled(self) -> list[str]:
        return [p.name for p in self.providers if p.status == "enabled"]

    @property
    def exit_code(self) -> int:
        if self.all_problems():
            return EXIT_PROBLEM
        return EXIT_OK if self.enabled else EXIT_OFF

    def all_problems(self) -> list[str]:
        """Every problem: the global ones, broken providers, failed checks, an unhealthy database."""
        found = list(self.problems)
        if not self.database.ok:
            found.append(f"client_id database {self.database.state}: {self.database.detail}")
        for provider in self.providers:
            if provider.status == "broken":
                found.append(f"{provider.name}: {'; '.join(provider.reasons)}")
            if provider.check is not None and provider.check.ok is False:
                found.append(f"{provider.name} check failed: {provider.check.detail}")
        return found

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["enabled"] = self.enabled
        data["problems"] = self.all_problems()
        data["exit_code"] = self.exit_code
        return data


# -- settings for the command line ---------------------------------------------------------------------


def cli_sources(
    environ: Mapping[str, str] | None = None,
    *,
    settings_file: str | os.PathLike[str] | None = None,
    dotenv: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] = ".",
) -> tuple[SettingsSources, str | None]:
    """The settings the command reads, and how its file was chosen.

    The file: `--config`, else TELEMETRY_CONFIG, else one found in the working directory
    (telemetry.toml, pyproject.toml [tool.telemetry], config.cfg [ANALYTICS]).
    """
    env = os.environ if environ is None else environ
    how: str | None = None
    chosen: str | os.PathLike[str] | None = settings_file
    if chosen is not None:
        how = "--config"
    elif env.get(CONFIG_ENV):
        chosen, how = env[CONFIG_ENV], CONFIG_ENV
    else:
        found = find_settings_file(cwd)
        if found is not None:
            chosen, how = found, "found in the working directory"
    sources = SettingsSources.load(env, settings_file=chosen, dotenv=dotenv)
    return sources, how


# -- the client_id database ------------------------------------------------------------------------------


def inspect_database(path: str | os.PathLike[str] | None, source: str | None = None) -> DatabaseReport:
    """The state of the client_id database, read-only: it is never created or changed."""
    if path is None:
        return DatabaseReport(
            None,
            None,
            "not configured",
            "the application passes db_path in code; give --db PATH (or TELEMETRY_DB_PATH, "
            "or db_path in the settings file) to inspect it",
            True,
        )
    file = Path(path)
    shown = str(file)
    if not file.exists():
        parent = next((p for p in (file.parent, *file.parent.parents) if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            return DatabaseReport(
                shown, source, "unhealthy", f"it cannot be created: {parent} is not writable", False
            )
        return DatabaseReport(shown, source, "not created yet", "created on the first run that sends", True)
    if file.is_dir():
        return DatabaseReport(shown, source, "unhealthy", "the path is a directory", False)
    try:
        connection = sqlite3.connect(f"file:{quote(str(file.resolve()))}?mode=ro", uri=True, timeout=2.0)
        try:
            check = connection.execute("PRAGMA quick_check").fetchone()
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            row = (
                connection.execute(f"SELECT value FROM {TABLE} WHERE key = ?", (CLIENT_ID_KEY,)).fetchone()
                if TABLE in tables
                else None
            )
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return DatabaseReport(shown, source, "unhealthy", f"{type(exc).__name__}: {exc}", False)
    if not check or check[0] != "ok":
        return DatabaseReport(
            shown, source, "unhealthy", f"integrity check: {check[0] if check else '?'}", False
        )
    if not os.access(file, os.W_OK):
        return DatabaseReport(
            shown, source, "unhealthy", "read-only: each run would use a new in-memory client_id", False
        )
    if row is None or not isinstance(row[0], str) or not row[0]:
        return DatabaseReport(
            shown, source, "no client_id yet", f"created on the first run that sends ({TABLE})", True
        )
    return DatabaseReport(shown, source, "healthy", f"client_id {row[0][:8]}… in {TABLE}", True)


# -- diagnosis -------------------------------------------------------------------------------------------


def _send(request: Any, timeout: float) -> HttpResponse | TransportFailure:
    from .delivery.http import default_transport

    transport = default_transport()
    try:
        return transport.send(request, timeout)
    finally:
        transport.close()


def _run_check(provider: RegisteredProvider, config: Any, timeout: float) -> CheckReport:
    check = provider.registration.check
    if check is None:
        return CheckReport(None, "no validation round trip declared by this provider")
    try:
        request = check.build(config)
        answer = _send(request, timeout)
        if isinstance(answer, TransportFailure):
            return CheckReport(False, f"no answer ({answer.kind}): {redact(answer.message)[:160]}")
        verdict: CheckVerdict = check.judge(answer)
        return CheckReport(verdict.ok, redact(verdict.detail), answer.status)
    except Exception as exc:  # noqa: BLE001 - a broken check is a failed check, never a crash
        return CheckReport(False, f"the check raised {type(exc).__name__}: {redact(str(exc))[:160]}")


def _provider_report(
    provider: RegisteredProvider,
    sources: SettingsSources,
    blocking: list[str],
    *,
    check: bool,
    timeout: float,
) -> ProviderReport:
    registration = provider.registration
    report = ProviderReport(
        name=provider.name,
        status="enabled",
        entry_point=provider.entry_point,
        distribution=provider.distribution,
        contract_spec=registration.contract_spec,
    )
    shared: list[SettingReport] = []
    for setting in registration.settings:
        found = sources.resolve(registration.table, setting)
        if found is not None:
            where = "environment" if found.where == f"environment {setting.label}" else found.where
            line = SettingReport(setting.label, found.shown(setting.secret), where)
            report.settings.append(line)
            if found.shared:
                shared.append(line)
    try:
        config = registration.read_config(sources)
    except Exception as exc:  # noqa: BLE001 - reported, like the manager does
        report.status = "broken"
        report.reasons.append(f"configuration error: {redact(str(exc) or type(exc).__name__)}")
        return report
    config.register_secrets()
    reasons = list(blocking)
    invalid = config.invalid_reason()
    if invalid:
        reasons.append(invalid)
    try:
        unavailable = registration.provider_class.unavailable_reason()
    except Exception as exc:  # noqa: BLE001
        unavailable = f"availability check failed: {type(exc).__name__}"
    if unavailable:
        reasons.append(unavailable)
    if invalid is None:
        try:
            report.endpoints = endpoints_of(registration, config)
        except Exception as exc:  # noqa: BLE001 - a provider that cannot describe a request is broken
            report.status = "broken"
            report.reasons = [*reasons, f"failed to start: {type(exc).__name__}: {redact(str(exc))[:120]}"]
            return report
    report.reasons = [redact(r) for r in reasons]
    if reasons:
        report.status = "disabled"
        # What every provider reads (TELEMETRY_ENDPOINT) says nothing about this one: keep its own.
        report.settings = [s for s in report.settings if s not in shared]
    elif check:
        report.check = _run_check(provider, config, timeout)
    return report


def diagnose(
    environ: Mapping[str, str] | None = None,
    *,
    settings_file: str | os.PathLike[str] | None = None,
    dotenv: str | os.PathLike[str] | None = None,
    db_path: str | os.PathLike[str] | None = None,
    check: bool = False,
    timeout: float = 5.0,
    cwd: str | os.PathLike[str] = ".",
    registry: Registry | None = None,
) -> Diagnosis:
    """Diagnose the telemetry configuration the way the manager would read it. Sends nothing
    unless `check` (one validation round trip per enabled provider, never recorded)."""
    sources, how = cli_sources(environ, settings_file=settings_file, dotenv=dotenv, cwd=cwd)
    env = sources.environment()
    problems = list(sources.problems)
    warnings: list[str] = []
    try:
        switch = sources.analytics_enabled()
    except SettingError as exc:
        problems.append(str(exc))
        switch = None
    if switch is None:
        analytics, analytics_source = (
            True,
            "not set in a settings file; the application's settings decide, assumed on here",
        )
    else:
        analytics, analytics_source = bool(switch.value), switch.where
    opt_out = opt_out_reason(env)
    blocking: list[str] = []
    if opt_out:
        blocking.append(opt_out)
    if not analytics:
        blocking.append(f"analytics disabled ({analytics_source} is false)")
    if db_path is not None:
        database = inspect_database(db_path, "--db")
    else:
        path, where = sources.db_path()
        database = inspect_database(path, where)
    current = registry or discover()
    providers = [
        _provider_report(p, sources, blocking, check=check, timeout=timeout) for p in current.providers
    ]
    for problem in current.problems:
        providers.append(
            ProviderReport(problem.name, "broken", [problem.reason], entry_point=problem.entry_point)
        )
    tables = {p.registration.table for p in current.providers}
    for table in sources.unknown_tables(tables):
        warnings.append(f"settings table [{table}] matches no registered provider")
    file = sources.settings_file
    return Diagnosis(
        version=installed_version(),
        settings_file=str(file.path) if file is not None else None,
        settings_file_source=how,
        dotenv=str(sources.dotenv_path) if sources.dotenv_path is not None else None,
        analytics_enabled=analytics,
        analytics_source=analytics_source,
        opt_out=opt_out,
        database=database,
        providers=providers,
        problems=problems,
        warnings=warnings,
        checked=check,
    )


# -- send-test -------------------------------------------------------------------------------------------


@dataclass
class SendResult:
    """What one provider did with the test event, and what its backend answered."""

    name: str
    status: str
    """delivered, failed, pending or disabled."""
    answer: str
    http_status: int | None = None


@dataclass
class SendTestReport:
    """Everything `telemetry send-test` reports."""

    event: str
    database: str
    refused: str | None
    results: list[SendResult]

    @property
    def exit_code(self) -> int:
        if self.refused is not None:
            return EXIT_OFF
        sending = [r for r in self.results if r.status != "disabled"]
        if not sending:
            return EXIT_OFF
        return EXIT_OK if all(r.status == "delivered" for r in sending) else EXIT_PROBLEM

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exit_code"] = self.exit_code
        return data


def _recording(classify: Callable[[HttpResponse, int], Outcome], answers: list[HttpResponse]) -> Any:
    lock = threading.Lock()

    def wrapped(response: HttpResponse, batch_size: int) -> Outcome:
        with lock:
            answers.append(response)
        return classify(response, batch_size)

    return wrapped


def _answer_text(response: HttpResponse) -> str:
    body = response.body.decode("utf-8", "replace").strip().replace("\n", " ")
    return f"HTTP {response.status}" + (f": {redact(body)[:120]}" if body else " (empty body)")


def send_test(
    environ: Mapping[str, str] | None = None,
    *,
    settings_file: str | os.PathLike[str] | None = None,
    dotenv: str | os.PathLike[str] | None = None,
    db_path: str | os.PathLike[str] | None = None,
    timeout: float = 10.0,
    cwd: str | os.PathLike[str] = ".",
) -> SendTestReport:
    """Send one `telemetry_send_test` event to every enabled provider and report each answer.

    The client_id comes from `db_path` when given, else from a temporary database (deleted
    afterwards), so the test never touches the application's identity unless asked to.
    """
    from .delivery.options import DeliveryOptions
    from .settings import AnalyticsSettings
    from .telemetry_manager import TelemetryManager

    sources, _ = cli_sources(environ, settings_file=settings_file, dotenv=dotenv, cwd=cwd)
    env = dict(sources.environment())
    refused = opt_out_reason(env)
    try:
        switch = sources.analytics_enabled()
    except SettingError as exc:
        switch, refused = None, refused or str(exc)
    if refused is None and switch is not None and not switch.value:
        refused = f"analytics disabled ({switch.where} is false)"
    with tempfile.TemporaryDirectory(prefix="telemetry-send-test-") as scratch:
        database = str(db_path) if db_path is not None else str(Path(scratch) / "send-test.sqlite")
        if refused is not None:
            return SendTestReport(SEND_TEST_EVENT, database, refused, [])
        delivery = DeliveryOptions(
            flush_interval=0.05,
            request_timeout=min(timeout, 5.0),
            max_retries=1,
            backoff_base=0.2,
            backoff_max=0.5,
            retry_after_max=1.0,
            retry_deadline=timeout,
            exit_grace=0.5,
        )
        file = sources.settings_file
        manager = TelemetryManager.from_settings(
            AnalyticsSettings(analytics_enabled=True),
            database,
            environ=env,
            delivery=delivery,
            settings_file=file.path if file is not None else None,
        )
        enabled = manager.enabled_providers
        answers: dict[str, list[HttpResponse]] = {}
        for provider in manager.providers:
            answers[provider.name] = []
            provider.classify = _recording(provider.classify, answers[provider.name])  # type: ignore[method-assign]
        try:
            manager.track_event(SEND_TEST_EVENT, {"sent_by": "telemetry send-test"})
            manager.flush(timeout)
            stats = manager.stats()
        finally:
            manager.shutdown(0.5)
    results: list[SendResult] = []
    for name in enabled:
        counts = stats.get(name, {})
        seen = answers.get(name, [])
        last = seen[-1] if seen else None
        if counts.get("sent", 0) >= 1:
            status = "delivered"
        elif counts.get("dropped"):
            status = "failed"
        else:
            status = "pending"  # no verdict within the timeout
        if last is not None:
            answer = _answer_text(last)
        else:
            answer = redact(str(counts.get("last_error") or "no answer"))
        if status != "delivered" and counts.get("dropped"):
            answer += f" (dropped: {', '.join(sorted(counts['dropped']))})"
        results.append(SendResult(name, status, answer, last.status if last is not None else None))
    for name, reason in manager.disabled_providers.items():
        results.append(SendResult(name, "disabled", reason))
    return SendTestReport(SEND_TEST_EVENT, database if db_path is not None else "(temporary)", None, results)
