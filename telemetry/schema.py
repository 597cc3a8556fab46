"""An optional application event schema: the events an app sends, their params and types.

The schema is enforced by the manager's `EventPolicy`: with a strict schema, an undeclared event,
an undeclared or missing required param, or a value of the wrong type is an `InvalidEventError`
at the call in development (policy mode "strict") and a dropped event with a log line in
production (any other mode). It exports to JSON, so analysts can read exactly what the app sends.

    schema = EventSchema({
        "workflow_started": {"workflow_type": str, "download_type": Param(str, required=False)},
        "workflow_completed": {"success": bool, "cancelled": bool},
    })
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .events import EVENT, PAGE_VIEW, USER_PROPERTIES

__all__ = ["SCHEMA_FORMAT", "EventSchema", "EventSpec", "Param", "ParamType"]

SCHEMA_FORMAT = "telemetry-event-schema/1"

ParamType = Literal["string", "integer", "number", "boolean", "list", "object", "any"]
PARAM_TYPES: tuple[ParamType, ...] = ("string", "integer", "number", "boolean", "list", "object", "any")
_PYTHON_TYPES: dict[type, ParamType] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "list",
    dict: "object",
}
AUTOMATIC_PARAMS = {
    "session_id": "this run's session (a random id, or its start time where the vendor wants a number)",
    "runtime": '"streamlit" inside a running Streamlit app, "cli" otherwise',
    "lib_version": "the app's version, or this package's",
}
"""Added to every event by the toolkit; listed in the export, never declared by the app."""
PAGE_VIEW_PARAMS: dict[str, ParamType] = {"page_path": "string", "page_title": "string"}


def _type_name(value: ParamType | type | str) -> ParamType:
    if isinstance(value, type):
        if value in _PYTHON_TYPES:
            return _PYTHON_TYPES[value]
        raise ValueError(f"unsupported param type {value.__name__}; use one of {sorted(PARAM_TYPES)}")
    if value not in PARAM_TYPES:
        raise ValueError(f"unknown param type {value!r}; use one of {PARAM_TYPES}")
    return value


def _matches(kind: ParamType, value: Any) -> bool:
    if kind == "any":
        return True
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return not isinstance(value, float) or math.isfinite(value)
    if kind == "string":
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, (list, tuple))
    return isinstance(value, Mapping)


def _describe(value: Any) -> str:
    """The JSON type name of a value, for problems (never the value: it may be personal)."""
    if value is None:
        return "null"
    for python_type, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (list, "list"),
        (tuple, "list"),
    ):
        if isinstance(value, python_type):
            return name
    return "object" if isinstance(value, Mapping) else type(value).__name__


@dataclass(frozen=True)
class Param:
    """One declared param: its type ("string", "integer", "number", "boolean", "list", "object",
    "any", or the Python type), whether the event must carry it, and what it means."""

    type: ParamType | builtins.type | str = "string"
    required: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _type_name(self.type))

    @property
    def type_name(self) -> ParamType:
        return _type_name(self.type)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name, "required": self.required}
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_value(cls, value: Param | builtins.type | str | Mapping[str, Any]) -> Param:
        """A Param from a Param, a Python type, a type name or an exported dict."""
        if isinstance(value, Param):
            return value
        if isinstance(value, Mapping):
            return cls(
                value.get("type", "string"),
                bool(value.get("required", True)),
                str(value.get("description", "")),
            )
        return cls(value)


@dataclass(frozen=True)
class EventSpec:
    """One declared event: its name, params and meaning."""

    name: str
    params: Mapping[str, Param] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"params": {k: p.to_dict() for k, p in self.params.items()}}
        if self.description:
            out["description"] = self.description
        return out


ParamsDeclaration = Mapping[str, "Param | type | str | Mapping[str, Any]"]


class EventSchema:
    """The events and params an application declares. Immutable once built; thread-safe.

    events: {event name: {param name: Param or type}} or EventSpec objects.
    strict: enforce (undeclared events and wrong types are rejected); False only documents and
        logs each kind of mismatch once.
    allow_extra_params: whether a declared event may carry params it does not declare.
    page_views: whether page views are part of what the app sends; pages: the page paths it
        sends (an entry ending in "*" is a prefix), or None for any path.
    user_properties: the declared user properties, or None to leave them unchecked.
    """

    def __init__(
        self,
        events: Mapping[str, Any] | Iterable[EventSpec] = (),
        *,
        strict: bool = True,
        allow_extra_params: bool = False,
        page_views: bool = True,
        pages: Iterable[str] | None = None,
        user_properties: ParamsDeclaration | None = None,
        description: str = "",
    ) -> None:
        self.strict = strict
        self.allow_extra_params = allow_extra_params
        self.page_views = page_views
        self.pages = None if pages is None else tuple(pages)
        self.description = description
        self.user_properties = (
            None
            if user_properties is None
            else {str(k): Param.from_value(v) for k, v in user_properties.items()}
        )
        specs: dict[str, EventSpec] = {}
        items: Iterable[Any] = events.items() if isinstance(events, Mapping) else events
        for item in items:
            spec = _spec(item)
            if spec.name in specs:
                raise ValueError(f"event {spec.name!r} is declared twice")
            specs[spec.name] = spec
        self._events = specs

    # -- what the app declared --------------------------------------------------------------

    @property
    def events(self) -> dict[str, EventSpec]:
        return dict(self._events)

    def __contains__(self, name: object) -> bool:
        return name in self._events

    # -- checking -------------------------------------------------------------------------

    def check(self, kind: str, name: Any, params: Any) -> list[str]:
        """What is wrong with one event against this schema (empty when it conforms).

        Problems name events, params and JSON types, never values. Never raises.
        """
        try:
            if kind == PAGE_VIEW:
                return self._check_page_view(params)
            if kind == USER_PROPERTIES:
                if self.user_properties is None:
                    return []
                return _check_params("user properties", self.user_properties, params, extra=False)
            if kind != EVENT:
                return [f"unknown event kind {kind!r}"]
            if not isinstance(name, str) or name not in self._events:
                return [f"event {_short(name)} is not declared in the schema"]
            spec = self._events[name]
            return _check_params(f"event {name!r}", spec.params, params, extra=self.allow_extra_params)
        except Exception as exc:  # noqa: BLE001 - a check must never raise into the caller
            return [f"the event could not be checked ({type(exc).__name__})"]

    def _check_page_view(self, params: Any) -> list[str]:
        if not self.page_views:
            return ["page views are not declared in the schema"]
        if self.pages is None:
            return []
        path = params.get("page_path") if isinstance(params, Mapping) else None
        if not isinstance(path, str):
            return ["page view without a text page_path"]
        for page in self.pages:
            if page.endswith("*") and path.startswith(page[:-1]):
                return []
            if path == page:
                return []
        return [f"page {path!r} is not declared in the schema"]

    # -- export -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The schema as plain data (the format `from_dict` reads back), for analysts and tools."""
        return {
            "format": SCHEMA_FORMAT,
            "description": self.description,
            "strict": self.strict,
            "allow_extra_params": self.allow_extra_params,
            "events": {name: spec.to_dict() for name, spec in sorted(self._events.items())},
            "page_views": {
                "tracked": self.page_views,
                "pages": None if self.pages is None else list(self.pages),
                "params": dict(PAGE_VIEW_PARAMS),
            },
            "user_properties": None
            if self.user_properties is None
            else {k: p.to_dict() for k, p in sorted(self.user_properties.items())},
            "added_to_every_event": dict(AUTOMATIC_PARAMS),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventSchema:
        if data.get("format", SCHEMA_FORMAT) != SCHEMA_FORMAT:
            raise ValueError(f"not a {SCHEMA_FORMAT} document: format {data.get('format')!r}")
        events = {
            name: EventSpec(
                name,
                {k: Param.from_value(v) for k, v in (spec.get("params") or {}).items()},
                str(spec.get("description", "")),
            )
            for name, spec in (data.get("events") or {}).items()
        }
        page_views = data.get("page_views") or {}
        user_properties = data.get("user_properties")
        return cls(
            events.values(),
            strict=bool(data.get("strict", True)),
            allow_extra_params=bool(data.get("allow_extra_params", False)),
            page_views=bool(page_views.get("tracked", True)),
            pages=page_views.get("pages"),
            user_properties=None
            if user_properties is None
            else {k: Param.from_value(v) for k, v in user_properties.items()},
            description=str(data.get("description", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> EventSchema:
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventSchema) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventSchema(events={sorted(self._events)}, strict={self.strict})"


def _spec(item: Any) -> EventSpec:
    if isinstance(item, EventSpec):
        params = {k: Param.from_value(v) for k, v in item.params.items()}
        return EventSpec(item.name, params, item.description)
    name, declaration = item
    if isinstance(declaration, EventSpec):
        return _spec(declaration)
    params = {str(k): Param.from_value(v) for k, v in (declaration or {}).items()}
    return EventSpec(str(name), params)


def _short(name: Any) -> str:
    text = repr(name) if isinstance(name, str) else f"of type {type(name).__name__}"
    return text if len(text) <= 80 else text[:77] + "..."


def _check_params(where: str, declared: Mapping[str, Param], params: Any, *, extra: bool) -> list[str]:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        return [f"{where}: params are a {type(params).__name__}, not a mapping"]
    problems: list[str] = []
    present = {}
    for key, value in dict(params).items():
        if value is None:
            continue  # None is "absent": no provider sends it
        if not isinstance(key, str) or key not in declared:
            if not extra:
                problems.append(f"{where}: param {_short(key)} is not declared")
            continue
        present[key] = value
        expected = declared[key].type_name
        if not _matches(expected, value):
            problems.append(f"{where}: param {key!r} is {_describe(value)}, declared {expected}")
    for key, spec in declared.items():
        if spec.required and key not in present:
            problems.append(f"{where}: required param {key!r} is missing")
    return problems
