"""The background delivery engine: queues, batching, retries, deadlines."""

from __future__ import annotations

from .engine import DeliveryEngine
from .options import DeliveryOptions

__all__ = ["DeliveryEngine", "DeliveryOptions"]
