"""Fault injection for fake servers: latency, hangs, dropped connections and error answers.

A fault applies to one route (an exact path) or to every vendor route, for the next `count`
requests, with a seeded `probability`, or both (each hit still consumes the count). Latency
faults stack and the request is then answered normally; of the other kinds the first matching
fault, in the order they were added, decides the answer and the vendor never sees the request.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

FaultKind = Literal["latency", "hang", "close", "status", "429", "413", "malformed"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

MALFORMED_BODY = b'<html>\x00 this is not JSON {"status": '
"""What a `malformed` fault answers with status 200."""


class Fault:
    """A handle on one added fault: inspect how often it fired, or `remove()` it."""

    def __init__(
        self,
        registry: FaultRegistry,
        fault_id: int,
        kind: FaultKind,
        *,
        route: str | None,
        count: int | None,
        probability: float | None,
        seed: int | None,
        latency: float,
        status: int | None,
        body: bytes | None,
        content_type: str | None,
        retry_after: int | None,
    ) -> None:
        self._registry = registry
        self.id = fault_id
        self.kind: FaultKind = kind
        self.route = route
        self.count = count
        self.probability = probability
        self.seed = seed
        self.latency = latency
        self.status = status
        self.body = body
        self.content_type = content_type
        self.retry_after = retry_after
        self.hits = 0
        self.released = False
        self._random = random.Random(seed)

    @property
    def remaining(self) -> int | None:
        """How many more times a counted fault may fire (None: unlimited)."""
        return None if self.count is None else max(self.count - self.hits, 0)

    def remove(self) -> None:
        """Stop applying this fault and release requests it is holding."""
        self._registry.remove(self)

    def _fires(self, path: str) -> bool:
        """Decide (and count) whether this fault applies to a request on `path`. Locked by caller."""
        if self.released or (self.route is not None and self.route != path):
            return False
        if self.count is not None and self.hits >= self.count:
            return False
        if self.probability is not None and self._random.random() >= self.probability:
            return False
        self.hits += 1
        return True

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "id": self.id,
            "kind": self.kind,
            "route": self.route,
            "count": self.count,
            "probability": self.probability,
            "seed": self.seed,
            "latency": self.latency,
            "status": self.status,
            "body": None if self.body is None else self.body.decode("utf-8", "replace"),
            "retry_after": self.retry_after,
            "hits": self.hits,
            "remaining": self.remaining,
        }

    def __repr__(self) -> str:
        return f"<Fault {self.id} {self.kind} route={self.route} hits={self.hits}>"


@dataclass(frozen=True)
class Decision:
    """What the faults decided for one request: total added latency and the deciding fault."""

    latency: float
    fault: Fault | None
    latency_only: bool


_NO_FAULT = Decision(0.0, None, False)


class FaultRegistry:
    """The faults of one server. Thread-safe; `hold()` blocks hanging requests until released."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._closed = False

    def add(
        self,
        kind: FaultKind | int,
        route: str | None = None,
        count: int | None = None,
        probability: float | None = None,
        seed: int | None = None,
        *,
        latency: float = 0.0,
        status: int | None = None,
        body: str | bytes | None = None,
        content_type: str | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Add a fault and return its handle.

        kind: "latency", "hang", "close", "status", "429", "413" or "malformed" (429 and 413
        may be given as ints). route: an exact path, or None for every vendor route.
        count: fire for the next `count` matching requests only. probability: fire with this
        chance, drawn from `random.Random(seed)` so a seeded run is reproducible.
        latency: seconds added before answering (any kind). status/body/content_type: the
        answer of a "status" fault (default 500, empty body). retry_after: seconds for the
        Retry-After header (default 1 for "429"; added to any other answer when given).
        """
        name = str(kind)
        if name not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count is not None and count < 0:
            raise ValueError("count must be >= 0")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        if name == "latency" and latency == 0:
            raise ValueError("a latency fault needs latency > 0 (seconds)")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code (100-599)")
        if name == "status" and status is None:
            status = 500
        if name == "429" and retry_after is None:
            retry_after = 1
        if route is not None and not route.startswith("/"):
            raise ValueError("route must be an exact path starting with '/', or None")
        raw_body = body.encode() if isinstance(body, str) else body
        with self._changed:
            fault = Fault(
                self,
                next(self._ids),
                cast("FaultKind", name),
                route=route,
                count=count,
                probability=probability,
                seed=seed,
                latency=float(latency),
                status=status,
                body=raw_body,
                content_type=content_type,
                retry_after=retry_after,
            )
            self._faults.append(fault)
            return fault

    def add_from_json(self, spec: dict[str, Any]) -> Fault:
        """Add a fault from a JSON object with the same fields as `add` (for the HTTP API)."""
        allowed = {
            "kind",
            "route",
            "count",
            "probability",
            "seed",
            "latency",
            "status",
            "body",
            "content_type",
            "retry_after",
        }
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}")
        if "kind" not in spec:
            raise ValueError("a fault needs a 'kind'")
        args = dict(spec)
        kind = args.pop("kind")
        for key in ("count", "seed", "status", "retry_after"):
            if args.get(key) is not None and not isinstance(args[key], int):
                raise ValueError(f"{key} must be an integer")
        for key in ("probability", "latency"):
            if args.get(key) is not None and not isinstance(args[key], (int, float)):
                raise ValueError(f"{key} must be a number")
        if args.get("latency") is None:
            args.pop("latency", None)
        return self.add(kind, **args)

    def active(self) -> list[Fault]:
        """The active faults, in the order they were added."""
        with self._changed:
            return list(self._faults)

    def remove(self, fault: Fault) -> None:
        """Remove one fault and release the requests it holds."""
        with self._changed:
            fault.released = True
            if fault in self._faults:
                self._faults.remove(fault)
            self._changed.notify_all()

    def clear(self) -> None:
        """Remove every fault and release every held request."""
        with self._changed:
            for fault in self._faults:
                fault.released = True
            self._faults.clear()
            self._changed.notify_all()

    def decide(self, path: str) -> Decision:
        """Pick what applies to a request on vendor route `path` (consumes counts and draws)."""
        if not self._faults:  # the common case: no lock needed to see an empty list
            return _NO_FAULT
        with self._changed:
            latency = 0.0
            latency_fault: Fault | None = None
            for fault in self._faults:
                if fault.kind == "latency" and fault._fires(path):
                    latency += fault.latency
                    latency_fault = fault
            for fault in self._faults:
                if fault.kind != "latency" and fault._fires(path):
                    return Decision(latency + fault.latency, fault, False)
            if latency_fault is not None:
                return Decision(latency, latency_fault, True)
            return _NO_FAULT

    def hold(self, fault: Fault | None, timeout: float | None = None) -> bool:
        """Block until `fault` is released or the registry closes (or `timeout` passes).

        Returns True when the wait ended early because of a release or close.
        """
        with self._changed:
            return self._changed.wait_for(
                lambda: self._closed or (fault is not None and fault.released), timeout
            )

    @property
    def closed(self) -> bool:
        """True once the server is stopping: every hold is released."""
        return self._closed

    def close(self) -> None:
        """Release every held request for good (the server is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def reopen(self) -> None:
        """Allow holds again (the server restarted)."""
        with self._changed:
            self._closed = False
