"""This package's installed version, read from its distribution metadata, never hard-coded."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "telemetry-toolkit"


def installed_version() -> str:
    """The installed version of this toolkit, or "0+unknown" when run from an uninstalled tree."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = installed_version()
