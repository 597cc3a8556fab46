"""The `telemetry` loggers: silent by default, a readable trace with DEBUG_TELEMETRY=1, no secrets.

Every logger this package uses comes from `get_logger`, which attaches a filter that replaces
any registered secret (api_secret, api_key, token) with a mask before a record reaches a handler.
The filter runs only for records that are actually emitted, so disabled logging costs nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

ROOT_LOGGER_NAME = "telemetry"
MASK = "***"
_MIN_SECRET_LENGTH = 4

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_debug_handler: logging.Handler | None = None

logging.getLogger(ROOT_LOGGER_NAME).addHandler(logging.NullHandler())


def register_secret(value: str | None) -> None:
    """Remember a secret so that no log record of this package ever shows it."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        from urllib.parse import quote, quote_plus  # rare path: keep module import light

        with _secrets_lock:
            # The URL-encoded forms too: GA4's api_secret travels in a query string.
            _secrets.update({value, quote(value, safe=""), quote_plus(value)})


def redact(text: str) -> str:
    """`text` with every registered secret replaced by a mask."""
    if not _secrets:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def mask(value: str | None) -> str:
    """A display form of a secret: its first two characters and a mask, or "(unset)"."""
    if not value:
        return "(unset)"
    return value[:2] + MASK if len(value) > 8 else MASK


class _RedactingFilter(logging.Filter):
    """Formats the record once and removes registered secrets from the result."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception as problem:  # noqa: BLE001 - an argument whose str/repr raises must not escape
            message = f"{record.msg} (arguments not printable: {type(problem).__name__})"
            record.args = ()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None:
            # Exception text can carry a URL with its query string; keep only the redacted type and text.
            exc = record.exc_info[1]
            record.msg = f"{record.msg} ({type(exc).__name__}: {redact(str(exc))})"
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = _RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    """A logger under `telemetry` whose records never carry a registered secret."""
    full = name if name.startswith(ROOT_LOGGER_NAME) else f"{ROOT_LOGGER_NAME}.{name}"
    logger = logging.getLogger(full)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def debug_requested(environ: dict[str, str] | None = None) -> bool:
    """Whether DEBUG_TELEMETRY asks for the debug trace."""
    value = (environ if environ is not None else os.environ).get("DEBUG_TELEMETRY", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def enable_debug_trace(stream: object | None = None) -> None:
    """Send the `telemetry` loggers' DEBUG trace to stderr; never touches the root logger."""
    global _debug_handler
    logger = logging.getLogger(ROOT_LOGGER_NAME)
    if _debug_handler is None:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)  # type: ignore[arg-type]
        handler.setFormatter(logging.Formatter("[telemetry] %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_FILTER)
        _debug_handler = handler
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def guard_third_party_logger(name: str) -> None:
    """Redact registered secrets from another library's logger that sees our requests.

    Only a filter is added: no handler, no level, nothing else about that logger changes.
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
