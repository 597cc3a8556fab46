"""This package's installed version, read from its distribution metadata, never hard-coded.

Read on first use, not at import: `importlib.metadata` alone costs tens of milliseconds, more
than the rest of `import telemetry`.
"""

from __future__ import annotations

import functools
from typing import Any

DISTRIBUTION = "telemetry-toolkit"


@functools.lru_cache(maxsize=1)
def installed_version() -> str:
    """The installed version of this toolkit, or "0+unknown" when run from an uninstalled tree."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return installed_version()
    raise AttributeError(name)
