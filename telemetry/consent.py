"""The user's answer about analytics: has the user been asked, what did they answer, keep it.

Small enough for a consent banner:

    consent = Consent.from_config_file("config.cfg")       # the app's [ANALYTICS] section
    if consent.should_ask():
        ...show the banner...
        consent.accept()          # or consent.decline(manager), or consent.dismiss()
    manager = TelemetryManager.from_settings(consent, db_path)   # a Consent is a settings object

`decline(*managers)` turns the given managers off at once (queued events discarded, nothing sent)
before it writes the answer; no call here ever sends an event, tracks the answer, or raises.
The state is the original app's two settings: `analytics_enabled` and `analytics_popup_dismissed`
("asked"), in the `[ANALYTICS]` section of its INI `config.cfg`, or on any settings object.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ._log import get_logger

if TYPE_CHECKING:
    from .telemetry_manager import TelemetryManager

__all__ = [
    "ASKED_KEY",
    "ENABLED_KEY",
    "SECTION",
    "Consent",
    "ConsentState",
    "ConsentStore",
    "IniConsentStore",
    "SettingsConsentStore",
]

log = get_logger("telemetry.consent")

SECTION = "ANALYTICS"
ENABLED_KEY = "analytics_enabled"
ASKED_KEY = "analytics_popup_dismissed"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class ConsentState:
    """`asked`: the user has seen the question (the original `analytics_popup_dismissed`).
    `analytics_enabled`: analytics is on (the answer once asked; the default before)."""

    asked: bool
    analytics_enabled: bool

    @property
    def answer(self) -> bool | None:
        """True (yes), False (no), or None when the user has not been asked."""
        return self.analytics_enabled if self.asked else None


class ConsentStore(Protocol):
    """Where the state lives. `load` never raises; `save` raises OSError when it cannot write."""

    def load(self) -> ConsentState: ...

    def save(self, state: ConsentState) -> None: ...


def _parse_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


class IniConsentStore:
    """The `[ANALYTICS]` section of an INI file (the original app's `config.cfg`).

    Saving rewrites only the two keys' lines (adding them, or the section, when missing) and
    keeps every other line, comment and key byte for byte; the file is replaced atomically.
    A missing or unreadable file reads as "not asked", with `default_enabled`.
    """

    def __init__(self, path: str | os.PathLike[str], *, default_enabled: bool = True) -> None:
        self.path = Path(path)
        self.default_enabled = default_enabled
        self._lock = threading.Lock()

    def load(self) -> ConsentState:
        default = ConsentState(False, self.default_enabled)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return default
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("consent: %s unreadable (%s); treated as not asked", self.path, type(exc).__name__)
            return default
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text, source=str(self.path))
        except configparser.Error as exc:
            problem = type(exc).__name__
            log.warning("consent: %s is not valid INI (%s); treated as not asked", self.path, problem)
            return default
        if not parser.has_section(SECTION):
            return default
        section = parser[SECTION]
        enabled = _parse_bool(section.get(ENABLED_KEY))
        asked = _parse_bool(section.get(ASKED_KEY))
        return ConsentState(
            asked=bool(asked),
            analytics_enabled=self.default_enabled if enabled is None else enabled,
        )

    def save(self, state: ConsentState) -> None:
        with self._lock:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = ""
            updated = update_ini_section(
                text,
                SECTION,
                {ENABLED_KEY: str(state.analytics_enabled), ASKED_KEY: str(state.asked)},
            )
            _write_atomically(self.path, updated)

    def __repr__(self) -> str:
        return f"IniConsentStore({str(self.path)!r})"


class SettingsConsentStore:
    """Any settings object with `analytics_enabled` / `analytics_popup_dismissed` attributes.

    `save(settings)`, when given, persists the object after the attributes are set (for example
    the app's own `settings.save()`); without it the answer lives in the object only.
    """

    def __init__(
        self,
        settings: Any,
        save: Callable[[Any], object] | None = None,
        *,
        default_enabled: bool = True,
    ) -> None:
        self.settings = settings
        self._save = save
        self.default_enabled = default_enabled

    def load(self) -> ConsentState:
        enabled = getattr(self.settings, ENABLED_KEY, None)
        asked = getattr(self.settings, ASKED_KEY, None)
        return ConsentState(
            asked=bool(asked),
            analytics_enabled=self.default_enabled if enabled is None else bool(enabled),
        )

    def save(self, state: ConsentState) -> None:
        setattr(self.settings, ENABLED_KEY, state.analytics_enabled)
        setattr(self.settings, ASKED_KEY, state.asked)
        if self._save is not None:
            self._save(self.settings)

    def __repr__(self) -> str:
        return f"SettingsConsentStore({type(self.settings).__name__})"


class Consent:
    """The consent API a UI calls. Every method returns at once and never raises.

    The state is read from the store when the Consent is made (`reload()` reads it again); an
    answer takes effect in this process even when it cannot be written (the method then
    returns False and logs a warning).
    """

    def __init__(self, store: ConsentStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._state = _safe_load(store)

    @classmethod
    def from_config_file(cls, path: str | os.PathLike[str], *, default_enabled: bool = True) -> Consent:
        """Consent kept in the `[ANALYTICS]` section of an INI file such as `config.cfg`."""
        return cls(IniConsentStore(path, default_enabled=default_enabled))

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        save: Callable[[Any], object] | None = None,
        *,
        default_enabled: bool = True,
    ) -> Consent:
        """Consent kept on a settings object (`save(settings)` persists it, when given)."""
        return cls(SettingsConsentStore(settings, save, default_enabled=default_enabled))

    # -- what the UI reads --------------------------------------------------------------------

    @property
    def state(self) -> ConsentState:
        return self._state

    @property
    def asked(self) -> bool:
        """Whether the user has seen the question (answered or dismissed it)."""
        return self._state.asked

    @property
    def answer(self) -> bool | None:
        """True or False once asked; None before."""
        return self._state.answer

    @property
    def analytics_enabled(self) -> bool:
        """Whether analytics may run: makes a Consent usable as `from_settings(consent, ...)`."""
        return self._state.analytics_enabled

    @property
    def analytics_popup_dismissed(self) -> bool:
        """The original setting's name for `asked`."""
        return self._state.asked

    def should_ask(self) -> bool:
        """Whether to show the banner: not asked yet while analytics is on (the original popup)."""
        state = self._state
        return not state.asked and state.analytics_enabled

    def reload(self) -> ConsentState:
        """Read the store again (another process or page may have changed it)."""
        with self._lock:
            self._state = _safe_load(self.store)
            return self._state

    # -- what the UI does --------------------------------------------------------------------

    def accept(self) -> bool:
        """The user said yes. Returns whether the answer was saved. Starts nothing by itself:
        build a manager (`TelemetryManager.from_settings(consent, ...)`) to track."""
        return self.record(True)

    def decline(self, *managers: TelemetryManager | None) -> bool:
        """The user said no: each manager stops at once (queued events discarded, nothing sent),
        then the answer is saved. Returns whether it was saved. Sends nothing."""
        return self.record(False, *managers)

    def dismiss(self) -> bool:
        """The banner was closed without an answer: asked, and analytics left as it is."""
        return self._save(ConsentState(True, self._state.analytics_enabled))

    def record(self, enabled: bool, *managers: TelemetryManager | None) -> bool:
        """Save an answer (from a banner or a settings toggle); on "no", disable `managers` first."""
        if not enabled:
            for manager in managers:
                _disable(manager)
        return self._save(ConsentState(True, bool(enabled)))

    def _save(self, state: ConsentState) -> bool:
        with self._lock:
            self._state = state
            try:
                self.store.save(state)
            except Exception as exc:  # noqa: BLE001 - a UI callback must never fail on our account
                log.warning("consent: answer not saved (%s: %s)", type(exc).__name__, exc)
                return False
            return True

    def __repr__(self) -> str:
        state = self._state
        return f"Consent(asked={state.asked}, analytics_enabled={state.analytics_enabled}, {self.store!r})"


def _safe_load(store: ConsentStore) -> ConsentState:
    try:
        return store.load()
    except Exception as exc:  # noqa: BLE001 - an unreadable store means "not asked"
        log.warning("consent: state unreadable (%s); treated as not asked", type(exc).__name__)
        return ConsentState(False, bool(getattr(store, "default_enabled", True)))


def _disable(manager: TelemetryManager | None) -> None:
    if manager is None:
        return
    try:
        manager.disable()
    except Exception as exc:  # noqa: BLE001 - opting out must complete whatever a manager does
        log.warning("consent: a manager could not be disabled (%s)", type(exc).__name__)


_HEADER = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[^=:\s\[#;][^=:]*?)\s*(?P<sep>[=:])")


def update_ini_section(text: str, section: str, values: dict[str, str]) -> str:
    """`text` with `values` set in `[section]`: existing key lines rewritten in place, missing
    keys added at the end of the section, a missing section appended. Everything else is kept."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    start = end = None
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if header is None:
            continue
        if start is not None:
            end = index
            break
        if header.group("name").strip() == section:
            start = index
    remaining = dict(values)
    if start is None:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        if lines and lines[-1].strip():
            lines.append(newline)
        lines.append(f"[{section}]{newline}")
        lines.extend(f"{key} = {value}{newline}" for key, value in remaining.items())
        return "".join(lines)
    end = len(lines) if end is None else end
    last_content = start
    for index in range(start + 1, end):
        line = lines[index]
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            last_content = index
        match = _KEY.match(line)
        if match is None:
            continue
        key = match.group("key").strip().lower()
        if key in values:  # every occurrence: INI readers keep the last one
            ending = line[len(line.rstrip("\r\n")) :] or newline
            indent, name, sep = match.group("indent"), match.group("key"), match.group("sep")
            lines[index] = f"{indent}{name} {sep} {values[key]}{ending}"
            remaining.pop(key, None)
    if remaining:
        insert_at = last_content + 1
        if not lines[last_content].endswith(("\n", "\r")):
            lines[last_content] += newline
        added = [f"{key} = {value}{newline}" for key, value in remaining.items()]
        lines[insert_at:insert_at] = added
    return "".join(lines)


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same directory and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = None
    with contextlib.suppress(FileNotFoundError):
        mode = path.stat().st_mode & 0o777
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
