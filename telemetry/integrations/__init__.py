"""Integrations with application frameworks (`telemetry.integrations.streamlit`).

Each integration is imported on its own; importing this package imports no framework.
"""

from __future__ import annotations

__all__: list[str] = []
