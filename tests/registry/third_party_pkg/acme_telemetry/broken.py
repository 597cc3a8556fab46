"""An entry point whose module cannot be imported: the registry reports it and skips it."""

from __future__ import annotations

import acme_sdk_that_is_not_installed  # noqa: F401

REGISTRATION = None
