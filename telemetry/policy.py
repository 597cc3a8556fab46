"""What a manager does with an event outside a vendor's rules, its schema, or the PII rules.

One `EventPolicy` per manager, carried to every provider by the `TelemetryContext`:

- mode "normalise" (the default): the provider applies its documented transformations (see
  README "Privacy") and sends; nothing is rejected.
- mode "drop": an event outside a provider's rules is not sent to that provider; the first drop
  of each event name is logged (WARNING) and every drop is counted in `stats()`.
- mode "strict" (tests and development): `track_*` raises `InvalidEventError` on the caller's
  thread for an event outside any enabled provider's rules or the schema. Only this mode checks
  on the caller's thread; the others check on the provider's worker, so `track_*` stays cheap.

With a strict `EventSchema`, a non-conforming event is an `InvalidEventError` in "strict" mode and
a dropped event with a log line otherwise. The PII guard (`PiiPolicy`) always runs on the worker.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from . import _log
from ._log import get_logger, redact
from ._sanitize import MAX_DEPTH, MAX_ITEMS, MAX_STRING, valid_text
from .events import EVENT, PAGE_VIEW, USER_PROPERTIES, Event
from .pii import PiiGuard, PiiPolicy, PiiReport
from .schema import EventSchema

if TYPE_CHECKING:
    from .base_telemetry import BaseTelemetryProvider

__all__ = [
    "ENRICHMENT_KEYS",
    "GENERIC_RULES",
    "MODES",
    "EventPolicy",
    "EventRules",
    "InvalidEventError",
    "Mode",
    "PrivacyStats",
    "check_event",
]

log = get_logger("telemetry.policy")
_MAX_ADMITTED_NAMES = 1024
"""Event names whose admission is remembered (callers use a small vocabulary)."""

Mode = Literal["normalise", "drop", "strict"]
MODES: tuple[Mode, ...] = ("normalise", "drop", "strict")
ENRICHMENT_KEYS = frozenset({"session_id", "runtime", "lib_version"})
_MAX_PROBLEMS = 20
_MAX_INT_BITS = 63
_MAX_VISITS = 10_000


class InvalidEventError(ValueError):
    """An event outside a vendor's rules or the schema, raised in strict mode only.

    The message names the event, its params and the rules, never a param value or a secret.
    """

    def __init__(self, name: Any, problems: Iterable[str]) -> None:
        self.event_name = name
        self.problems = [redact(p) for p in problems]
        shown = "; ".join(self.problems[:10])
        more = f" (and {len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
        super().__init__(redact(f"event {_short(name)} rejected: {shown}{more}"))


@dataclass(frozen=True)
class EventRules:
    """A vendor's documented rules for names, params and values (None: no such limit).

    A provider declares them as its `event_rules`; `check_event` lists what an event breaks.
    Lossless conversions are not breaches: a bool sent as 0/1, a None param left out, a tuple
    sent as a list.
    """

    name_pattern: str | None = None
    max_name_length: int | None = None
    reserved_names: frozenset[str] = frozenset()
    reserved_name_prefixes: tuple[str, ...] = ()
    key_pattern: str | None = None
    max_key_length: int | None = None
    reserved_keys: frozenset[str] = ENRICHMENT_KEYS
    reserved_key_prefixes: tuple[str, ...] = ()
    max_params: int | None = None
    max_value_length: int | None = None
    scalar_values_only: bool = False
    """Params must be text or numbers (GA4); a list or mapping would be sent as JSON text."""
    max_user_properties: int | None = None
    max_user_property_name_length: int | None = None
    max_user_property_value_length: int | None = None
    reserved_user_property_names: frozenset[str] = frozenset()
    reserved_user_property_prefixes: tuple[str, ...] = ()


GENERIC_RULES = EventRules()
"""The rules every provider has: JSON values within the toolkit's limits, enrichment keys reserved."""


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _short(name: Any) -> str:
    if isinstance(name, str):
        text = repr(name)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"(a name of type {type(name).__name__})"


def check_event(rules: EventRules, event: Event) -> list[str]:
    """What `event` breaks of `rules`, in words that name keys and rules but never values."""
    problems: list[str] = []
    if event.kind == EVENT:
        _check_name(rules, event.name, problems)
    params = event.params
    if params is None:
        return problems
    if not isinstance(params, Mapping):
        problems.append(f"params are a {type(params).__name__}, not a mapping")
        return problems
    try:
        items = list(params.items())
    except Exception as exc:  # noqa: BLE001 - a broken mapping is a problem, not a crash
        problems.append(f"params could not be read ({type(exc).__name__})")
        return problems
    if event.kind == USER_PROPERTIES:
        _check_user_properties(rules, items, problems)
    else:
        _check_params(rules, items, problems, page_view=event.kind == PAGE_VIEW)
    return problems[:_MAX_PROBLEMS]


def _check_name(rules: EventRules, name: Any, problems: list[str]) -> None:
    if not isinstance(name, str):
        problems.append(f"the event name is a {type(name).__name__}, not text")
        return
    if not name.strip():
        problems.append("the event name is empty")
        return
    if valid_text(name) is not name:
        problems.append("the event name is not valid Unicode text (a lone surrogate)")
    if rules.max_name_length is not None and len(name) > rules.max_name_length:
        problems.append(f"the event name is longer than {rules.max_name_length} characters")
    if rules.name_pattern is not None and not _compiled(rules.name_pattern).fullmatch(name):
        problems.append(f"the event name does not match {rules.name_pattern}")
    if name in rules.reserved_names:
        problems.append(f"the event name {name!r} is reserved")
    elif rules.reserved_name_prefixes and name.startswith(rules.reserved_name_prefixes):
        problems.append("the event name starts with a reserved prefix")


def _check_key(rules: EventRules, key: Any, problems: list[str]) -> bool:
    if not isinstance(key, str):
        problems.append(f"a param key is a {type(key).__name__}, not text")
        return False
    short = _short(key)
    if valid_text(key) is not key:
        problems.append("a param key is not valid Unicode text (a lone surrogate)")
    if rules.max_key_length is not None and len(key) > rules.max_key_length:
        problems.append(f"param {short} is longer than {rules.max_key_length} characters")
    if rules.key_pattern is not None and not _compiled(rules.key_pattern).fullmatch(key):
        problems.append(f"param {short} does not match {rules.key_pattern}")
    if key in rules.reserved_keys:
        problems.append(f"param {short} is reserved")
    elif rules.reserved_key_prefixes and key.startswith(rules.reserved_key_prefixes):
        problems.append(f"param {short} starts with a reserved prefix")
    return True


def _check_params(
    rules: EventRules, items: list[tuple[Any, Any]], problems: list[str], *, page_view: bool
) -> None:
    sent = [(k, v) for k, v in items if v is not None]
    if rules.max_params is not None and len(sent) > rules.max_params:
        problems.append(f"{len(sent)} params; at most {rules.max_params} are sent")
    if len(items) > MAX_ITEMS:
        problems.append(f"{len(items)} params; at most {MAX_ITEMS} are kept")
    for key, value in items[: MAX_ITEMS + 1]:
        if page_view and key in ("page_path", "page_title"):
            if value is not None and not isinstance(value, str):
                problems.append(f"{key} is a {type(value).__name__}, not text")
            elif isinstance(value, str):
                _check_text(rules.max_value_length, key, value, problems)
            continue
        if not _check_key(rules, key, problems):
            continue
        _check_value(rules, key, value, problems)
        if len(problems) >= _MAX_PROBLEMS:
            return


def _check_text(limit: int | None, key: str, value: str, problems: list[str]) -> None:
    limit = MAX_STRING if limit is None else min(limit, MAX_STRING)
    if len(value) > limit:
        problems.append(f"param {_short(key)} is longer than {limit} characters")
    elif valid_text(value) is not value:
        problems.append(f"param {_short(key)} is not valid Unicode text (a lone surrogate)")


def _check_value(rules: EventRules, key: str, value: Any, problems: list[str]) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _check_text(rules.max_value_length, key, value, problems)
        return
    if isinstance(value, (int, float)):
        problem = _json_problem(value, 1, [0], None)
        if problem is not None:
            problems.append(f"param {_short(key)} {problem}")
        return
    if isinstance(value, (list, tuple, Mapping)) and rules.scalar_values_only:
        problems.append(f"param {_short(key)} is a {type(value).__name__}; only text and numbers are sent")
        return
    problem = _json_problem(value, 1, [0], rules.max_value_length)
    if problem is not None:
        problems.append(f"param {_short(key)}: {problem}")


def _json_problem(value: Any, depth: int, visits: list[int], limit: int | None) -> str | None:
    """Why `value` (at `depth`, as `_sanitize` counts it) is not sent unchanged, or None."""
    visits[0] += 1
    if visits[0] > _MAX_VISITS:
        return "too large to send unchanged"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if value.bit_length() <= _MAX_INT_BITS else "holds an integer beyond 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "holds a number that is not finite"
    if isinstance(value, str):
        cap = MAX_STRING if limit is None else min(limit, MAX_STRING)
        if len(value) > cap:
            return f"holds text longer than {cap} characters"
        return None if valid_text(value) is value else "holds text that is not valid Unicode"
    if isinstance(value, (list, tuple, Mapping)):
        if depth >= MAX_DEPTH:
            return f"is nested deeper than {MAX_DEPTH} levels"
        if len(value) > MAX_ITEMS:
            return f"holds more than {MAX_ITEMS} items"
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"holds a key of type {type(key).__name__}"
                if limit is not None and len(key) > limit:
                    return f"holds a key longer than {limit} characters"
                if valid_text(key) is not key:
                    return "holds a key that is not valid Unicode"
                problem = _json_problem(item, depth + 1, visits, limit)
                if problem is not None:
                    return problem
            return None
        for item in value:
            problem = _json_problem(item, depth + 1, visits, limit)
            if problem is not None:
                return problem
        return None
    return f"holds a {type(value).__name__}, which JSON cannot carry"


def _check_user_properties(rules: EventRules, items: list[tuple[Any, Any]], problems: list[str]) -> None:
    if rules.max_user_properties is not None and len(items) > rules.max_user_properties:
        problems.append(f"{len(items)} user properties; at most {rules.max_user_properties} are kept")
    for key, value in items[: MAX_ITEMS + 1]:
        if not isinstance(key, str):
            problems.append(f"a user property name is a {type(key).__name__}, not text")
            continue
        short = _short(key)
        limit = rules.max_user_property_name_length
        if limit is not None and len(key) > limit:
            problems.append(f"user property {short} is longer than {limit} characters")
        if rules.key_pattern is not None and not _compiled(rules.key_pattern).fullmatch(key):
            problems.append(f"user property {short} does not match {rules.key_pattern}")
        if key in rules.reserved_user_property_names or key in rules.reserved_keys:
            problems.append(f"user property {short} is reserved")
        elif rules.reserved_user_property_prefixes and key.startswith(rules.reserved_user_property_prefixes):
            problems.append(f"user property {short} starts with a reserved prefix")
        value_limit = rules.max_user_property_value_length
        if isinstance(value, str) and value_limit is not None and len(value) > value_limit:
            problems.append(f"user property {short} is longer than {value_limit} characters")
        else:
            _check_value(rules, key, value, problems)


class PrivacyStats:
    """One provider's privacy counters, as reported under "privacy" by `TelemetryManager.stats()`.

    Written by the provider's worker, read by anyone: guarded by a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._redacted: Counter[str] = Counter()
        self._params_dropped: Counter[str] = Counter()
        self._events_dropped: Counter[str] = Counter()

    def add(self, report: PiiReport) -> None:
        if report:
            with self._lock:
                self._redacted.update(report.redacted)
                self._params_dropped.update(report.dropped)

    def event_dropped(self, reason: str) -> None:
        with self._lock:
            self._events_dropped[reason] += 1

    def as_dict(self) -> dict[str, Any]:
        """{"pii_redacted": {kind: n}, "pii_params_dropped": {kind: n}, "events_dropped": {reason: n}}."""
        with self._lock:
            return {
                "pii_redacted": dict(self._redacted),
                "pii_params_dropped": dict(self._params_dropped),
                "events_dropped": dict(self._events_dropped),
            }


class EventPolicy:
    """The per-manager policy: mode ("normalise", "drop", "strict"), optional schema, PII policy.

    Pass it as `TelemetryManager(..., policy=EventPolicy("strict", schema=SCHEMA))`, or a mode
    name as `policy="strict"`. Thread-safe; providers read it from their context on the worker.
    """

    def __init__(
        self,
        mode: Mode | str = "normalise",
        *,
        schema: EventSchema | None = None,
        pii: PiiPolicy | None = None,
    ) -> None:
        spelled = "normalise" if mode == "normalize" else mode
        if spelled not in MODES:
            raise ValueError(f"unknown policy mode {mode!r}; expected one of {MODES}")
        self._mode: Mode = spelled
        self._schema = schema
        self._pii = pii or PiiPolicy()
        self._guard: PiiGuard | None = None
        self._guard_lock = threading.Lock()
        self._logged: set[tuple[str, str, str]] = set()
        self._logged_lock = threading.Lock()
        # In "normalise" mode without a schema, whether an event is admitted as it is depends on
        # its name alone, and on the registered secrets (a name may come to contain one).
        self._by_name = schema is None and spelled == "normalise"
        self._admitted: dict[str, int] = {}
        """Event names admitted as they are, with the number of secrets registered then."""

    @classmethod
    def coerce(cls, value: EventPolicy | str | None) -> EventPolicy:
        """An EventPolicy from a policy, a mode name, or None (the default policy)."""
        if isinstance(value, EventPolicy):
            return value
        return cls() if value is None else cls(value)

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def strict(self) -> bool:
        return self._mode == "strict"

    @property
    def schema(self) -> EventSchema | None:
        return self._schema

    @property
    def pii(self) -> PiiPolicy:
        return self._pii

    @property
    def guard(self) -> PiiGuard:
        """The PII guard, built on first use (it reads the user's name and home)."""
        guard = self._guard
        if guard is None:
            with self._guard_lock:
                if self._guard is None:
                    self._guard = PiiGuard(self._pii)
                guard = self._guard
        return guard

    # -- the caller's thread (strict mode only) ---------------------------------------------

    def check(self, kind: str, name: Any, params: Any, providers: Iterable[BaseTelemetryProvider]) -> None:
        """Raise InvalidEventError when the event breaks the schema or a provider's rules."""
        problems: list[str] = []
        try:
            event = Event(kind, name, params, 0.0, 0, "")
            schema = self.schema
            if schema is not None and schema.strict:
                problems.extend(schema.check(kind, name, params))
            if kind == EVENT and isinstance(name, str) and self._personal(name):
                problems.append("the event name contains personal data")
            for provider in providers:
                problems.extend(f"{provider.name}: {p}" for p in provider.event_problems(event))
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the caller gets one error type
            problems.append(f"the event could not be checked ({type(exc).__name__})")
        if problems:
            raise InvalidEventError(name, problems)

    # -- the provider's worker ------------------------------------------------------------

    def admit(self, provider: BaseTelemetryProvider, event: Event) -> Event | None:
        """The event `provider` may send (its name repaired when it is not valid Unicode, in
        "normalise" mode), or None; a refusal is logged once per name and counted."""
        name = event.name
        remember = self._by_name and event.kind == EVENT and type(name) is str
        if remember and self._admitted.get(name) == len(_log._secrets):
            return event
        if event.kind == EVENT and isinstance(name, str) and self.guard.is_personal(name):
            provider.privacy_stats.event_dropped("pii")
            self._log_once(provider.name, "<personal>", "pii", "an event whose name contains personal data")
            return None
        schema = self._schema
        if schema is not None:
            problems = schema.check(event.kind, name, event.params)
            if problems:
                if schema.strict:
                    provider.privacy_stats.event_dropped("schema")
                    self._log_once(provider.name, name, "schema", "; ".join(problems[:5]), dropped=True)
                    return None
                self._log_once(provider.name, name, "schema", "; ".join(problems[:5]), dropped=False)
        if self._mode != "normalise":
            rule_problems = provider.event_problems(event)
            if rule_problems:
                provider.privacy_stats.event_dropped("policy")
                self._log_once(provider.name, name, "policy", "; ".join(rule_problems[:5]), dropped=True)
                return None
        elif isinstance(name, str) and valid_text(name) is not name:
            return event.replace(name=valid_text(name))
        if remember and len(self._admitted) < _MAX_ADMITTED_NAMES:
            self._admitted[name] = len(_log._secrets)
        return event

    def clean_params(self, params: Mapping[str, Any], stats: PrivacyStats) -> dict[str, Any]:
        """JSON-safe params without personal data (the PII guard); findings counted in `stats`."""
        cleaned, report = self.guard.clean_params(params)
        stats.add(report)
        if report:
            log.debug(
                "personal data removed: redacted %s, params dropped %s",
                dict(report.redacted),
                dict(report.dropped),
            )
        return cleaned

    # -- helpers -----------------------------------------------------------------------------

    def _personal(self, text: str) -> bool:
        return self.guard.is_personal(text)

    def _log_once(self, provider: str, name: Any, reason: str, detail: str, *, dropped: bool = True) -> None:
        key = (provider, name if isinstance(name, str) else type(name).__name__, reason)
        with self._logged_lock:
            if key in self._logged:
                return
            self._logged.add(key)
        what = "dropped" if dropped else "sent, but does not match the schema"
        if name == "<personal>":
            log.warning("%s: %s was %s (logged once)", provider, detail, what)
            return
        log.warning("%s: event %s %s: %s (logged once per event name)", provider, _short(name), what, detail)

    def __repr__(self) -> str:
        schema = "none" if self.schema is None else f"{len(self.schema.events)} events"
        return f"EventPolicy(mode={self.mode!r}, schema={schema}, pii={self.pii.action!r})"
