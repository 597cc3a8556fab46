"""Settings from files, and the one precedence rule: explicit arguments, environment, file, defaults.

Three file formats are read:

- `telemetry.toml`: top-level keys (`analytics_enabled`, `db_path`, `endpoint`, ...) and one
  table per provider (`[ga4]`, `[mixpanel]`, ...);
- `pyproject.toml`: the same under `[tool.telemetry]` and `[tool.telemetry.<provider>]`;
- the INI `config.cfg` of the original application: `[ANALYTICS]` (`analytics_enabled`,
  `analytics_popup_dismissed`, ...) and `[ANALYTICS.<provider>]` sections.

A `.env` file is read only when the application names one, and it never touches `os.environ`:
its values sit just below the process environment. Nothing here raises into the application:
an unreadable file is recorded in `SettingsSources.problems` and ignored.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._log import get_logger, mask

__all__ = [
    "CONFIG_ENV",
    "GLOBAL_KEYS",
    "INI_NAME",
    "INI_SECTION",
    "PYPROJECT_NAME",
    "TOML_NAME",
    "Resolved",
    "Setting",
    "SettingError",
    "SettingsFile",
    "SettingsFileError",
    "SettingsSources",
    "find_settings_file",
    "load_analytics_settings",
    "load_settings_file",
    "parse_bool",
    "read_dotenv",
]

log = get_logger("telemetry.settings")

TOML_NAME = "telemetry.toml"
PYPROJECT_NAME = "pyproject.toml"
INI_NAME = "config.cfg"
INI_SECTION = "ANALYTICS"
CONFIG_ENV = "TELEMETRY_CONFIG"
"""Environment variable naming the settings file the library reads (when no argument names one)."""
DB_PATH_ENV = "TELEMETRY_DB_PATH"

GLOBAL_KEYS = ("analytics_enabled", "analytics_popup_dismissed", "db_path", "endpoint", "app_base_url")
"""Top-level keys a settings file may hold besides provider tables."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsFileError(ValueError):
    """A settings file cannot be read or parsed; the message names the file."""


class SettingError(ValueError):
    """One setting has a value of the wrong type; the message names where it came from."""


def parse_bool(value: Any) -> bool:
    """True/False from a bool, 0/1, or the words 1/true/yes/on and 0/false/no/off (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"{value!r} is not a boolean")


# -- files -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsFile:
    """One parsed settings file: top-level `values` and per-provider `tables` (lower-case names)."""

    path: Path
    kind: str
    """"toml" (telemetry.toml), "pyproject" ([tool.telemetry]) or "ini" (config.cfg [ANALYTICS])."""
    values: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def where(self, table: str | None, key: str) -> str:
        """Where a key lives, in words: `telemetry.toml [mixpanel] project_token`."""
        if self.kind == "pyproject":
            section = "[tool.telemetry" + (f".{table}]" if table else "]")
        elif self.kind == "ini":
            section = f"[{INI_SECTION}" + (f".{table}]" if table else "]")
        else:
            section = f"[{table}]" if table else ""
        return " ".join(part for part in (self.path.name, section, key) if part)

    def base_dir(self) -> Path:
        return self.path.parent


def _toml() -> Any:
    """tomllib (Python 3.11+), else tomli when installed, else None."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    toml = _toml()
    if toml is None:
        raise SettingsFileError(f"{path}: reading TOML needs Python 3.11+ or the tomli package")
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = toml.load(handle)
    except OSError as exc:
        raise SettingsFileError(f"{path}: cannot be read ({type(exc).__name__}: {exc.strerror})") from None
    except toml.TOMLDecodeError as exc:
        raise SettingsFileError(f"{path}: not valid TOML ({exc})") from None
    return data


def _split(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    values: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            tables[str(key).lower()] = dict(value)
        else:
            values[str(key)] = value
    return values, tables


def _read_ini(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise SettingsFileError(f"{path}: cannot be read ({type(exc).__name__}: {exc.strerror})") from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SettingsFileError(f"{path}: not a valid INI file ({first})") from None
    values: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    prefix = INI_SECTION.lower() + "."
    for section in parser.sections():
        name = section.lower()
        if name == INI_SECTION.lower():
            values.update(parser.items(section))
        elif name.startswith(prefix) and len(name) > len(prefix):
            tables[name[len(prefix) :]] = dict(parser.items(section))
    return values, tables


def load_settings_file(path: str | os.PathLike[str]) -> SettingsFile:
    """Parse one settings file, its format chosen by its name. Raises SettingsFileError."""
    file_path = Path(path)
    if not file_path.is_file():
        raise SettingsFileError(f"{file_path}: no such file")
    suffix = file_path.suffix.lower()
    if suffix == ".toml":
        data = _read_toml(file_path)
        if file_path.name == PYPROJECT_NAME:
            tool = data.get("tool")
            section = tool.get("telemetry") if isinstance(tool, dict) else None
            values, tables = _split(section if isinstance(section, dict) else {})
            return SettingsFile(file_path, "pyproject", values, tables)
        values, tables = _split(data)
        return SettingsFile(file_path, "toml", values, tables)
    if suffix in (".cfg", ".ini"):
        values, tables = _read_ini(file_path)
        return SettingsFile(file_path, "ini", values, tables)
    raise SettingsFileError(f"{file_path}: unknown settings format (use .toml, .cfg or .ini)")


def find_settings_file(directory: str | os.PathLike[str] = ".") -> Path | None:
    """The settings file a tool run in `directory` would use, or None.

    In order: `telemetry.toml`, a `pyproject.toml` with a `[tool.telemetry]` table, a `config.cfg`
    with an `[ANALYTICS]` section. Used by the `telemetry` command; the library itself reads only
    the file it is given (argument or TELEMETRY_CONFIG), never one found in the working directory.
    """
    base = Path(directory).resolve()
    candidate = base / TOML_NAME
    if candidate.is_file():
        return candidate
    candidate = base / PYPROJECT_NAME
    if candidate.is_file():
        try:
            if load_settings_file(candidate).kind == "pyproject" and _has_tool_table(candidate):
                return candidate
        except SettingsFileError:
            pass
    candidate = base / INI_NAME
    if candidate.is_file():
        import configparser

        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(candidate, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            return candidate  # let the reader report what is wrong with it
        if any(s.lower() == INI_SECTION.lower() for s in parser.sections()):
            return candidate
    return None


def _has_tool_table(path: Path) -> bool:
    tool = _read_toml(path).get("tool")
    return isinstance(tool, dict) and isinstance(tool.get("telemetry"), dict)


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """`KEY=value` lines of a .env file (comments, `export`, quotes handled). Raises SettingsFileError."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsFileError(f"{file_path}: cannot be read ({type(exc).__name__})") from None
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.replace("_", "").isalnum():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def load_analytics_settings(path: str | os.PathLike[str]) -> Any:
    """An `AnalyticsSettings` from a settings file's analytics_enabled / analytics_popup_dismissed.

    A missing key keeps the AnalyticsSettings default. Raises SettingsFileError or SettingError.
    """
    from .settings import AnalyticsSettings

    settings_file = load_settings_file(path)
    result = AnalyticsSettings()
    for key in ("analytics_enabled", "analytics_popup_dismissed"):
        if key in settings_file.values:
            try:
                setattr(result, key, parse_bool(settings_file.values[key]))
            except ValueError as exc:
                raise SettingError(f"{settings_file.where(None, key)}: {exc}") from None
    return result


# -- layered resolution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One field of a provider's config: where its value may come from.

    field: the config dataclass attribute. env: environment variables, the first one set wins.
    key: its key in the provider's file table (default: `field`). shared_key: a top-level file
    key used when the provider's table has none (e.g. `endpoint`). secret: shown masked.
    transform: applied to the raw value before type conversion (e.g. `str.lower`).
    """

    field: str
    env: tuple[str, ...] = ()
    key: str | None = None
    shared_key: str | None = None
    secret: bool = False
    transform: Callable[[Any], Any] | None = None

    @property
    def file_key(self) -> str:
        return self.key or self.field

    @property
    def label(self) -> str:
        """How `telemetry doctor` names it: its environment variable, else its file key."""
        return self.env[0] if self.env else self.file_key


@dataclass(frozen=True)
class Resolved:
    """A value and where it came from: source is argument, environment, dotenv or file.

    `shared` is true when it came from a name every provider reads (TELEMETRY_ENDPOINT, a
    top-level file key), not one of this provider's own.
    """

    value: Any
    source: str
    where: str
    shared: bool = False

    def shown(self, secret: bool) -> str:
        """The value for display: masked when secret."""
        return mask(str(self.value)) if secret else str(self.value)


def _present(value: Any) -> bool:
    return value is not None and value != ""


class SettingsSources:
    """The layers a configuration is read from, highest precedence first.

    1. explicit arguments (`overrides`: provider table -> field -> value; `globals`);
    2. the process environment (`environ`);
    3. a `.env` file, only when one was named;
    4. the settings file;
    5. the config class defaults.

    Within a layer the most specific name wins (GA_ENDPOINT before TELEMETRY_ENDPOINT, a
    provider table's `endpoint` before the top-level one). Empty values count as unset.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        settings_file: SettingsFile | None = None,
        dotenv: Mapping[str, str] | None = None,
        dotenv_path: Path | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        global_overrides: Mapping[str, Any] | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.settings_file = settings_file
        self.dotenv: Mapping[str, str] = dict(dotenv or {})
        self.dotenv_path = dotenv_path
        self.overrides = {str(k).lower(): dict(v) for k, v in (overrides or {}).items()}
        self.global_overrides = dict(global_overrides or {})
        self.problems: list[str] = list(problems or [])

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        settings_file: str | os.PathLike[str] | None = None,
        dotenv: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        global_overrides: Mapping[str, Any] | None = None,
    ) -> SettingsSources:
        """Read the named files (settings_file, else TELEMETRY_CONFIG; .env only when named).

        Never raises: a file that cannot be read is logged, recorded in `problems` and ignored.
        """
        env = os.environ if environ is None else environ
        problems: list[str] = []
        dotenv_values: dict[str, str] = {}
        dotenv_path = Path(dotenv) if dotenv is not None else None
        if dotenv_path is not None:
            try:
                dotenv_values = read_dotenv(dotenv_path)
            except SettingsFileError as exc:
                problems.append(str(exc))
        named = settings_file if settings_file is not None else (env.get(CONFIG_ENV) or None)
        if named is None:
            named = dotenv_values.get(CONFIG_ENV) or None
        parsed: SettingsFile | None = None
        if named is not None:
            try:
                parsed = load_settings_file(named)
            except SettingsFileError as exc:
                problems.append(str(exc))
        for problem in problems:
            log.warning("settings: %s; ignored", problem)
        return cls(
            env,
            settings_file=parsed,
            dotenv=dotenv_values,
            dotenv_path=dotenv_path,
            overrides=overrides,
            global_overrides=global_overrides,
            problems=problems,
        )

    def environment(self) -> Mapping[str, str]:
        """The process environment over the .env values (for DO_NOT_TRACK, DEBUG_TELEMETRY, ...)."""
        if not self.dotenv:
            return self.environ
        merged = dict(self.dotenv)
        merged.update(self.environ)
        return merged

    def _from_env(self, names: tuple[str, ...]) -> Resolved | None:
        for index, name in enumerate(names):
            value = self.environ.get(name)
            if _present(value):
                return Resolved(value, "environment", f"environment {name}", shared=index > 0)
        for index, name in enumerate(names):
            value = self.dotenv.get(name)
            if _present(value):
                where = f".env {name}" + (f" ({self.dotenv_path})" if self.dotenv_path else "")
                return Resolved(value, "dotenv", where, shared=index > 0)
        return None

    def resolve(self, table: str, setting: Setting) -> Resolved | None:
        """The value of one provider setting from the highest layer that has it, or None."""
        table = table.lower()
        explicit = self.overrides.get(table, {})
        if _present(explicit.get(setting.field)):
            return Resolved(explicit[setting.field], "argument", f"argument {table}.{setting.field}")
        found = self._from_env(setting.env)
        if found is not None:
            return found
        file = self.settings_file
        if file is not None:
            section = file.tables.get(table, {})
            if _present(section.get(setting.file_key)):
                return Resolved(section[setting.file_key], "file", file.where(table, setting.file_key))
            if setting.shared_key and _present(file.values.get(setting.shared_key)):
                where = file.where(None, setting.shared_key)
                return Resolved(file.values[setting.shared_key], "file", where, shared=True)
        return None

    def resolve_global(self, key: str, env: tuple[str, ...] = ()) -> Resolved | None:
        """A top-level setting (analytics_enabled, db_path, ...) from the highest layer, or None."""
        if _present(self.global_overrides.get(key)):
            return Resolved(self.global_overrides[key], "argument", f"argument {key}")
        found = self._from_env(env)
        if found is not None:
            return found
        file = self.settings_file
        if file is not None and _present(file.values.get(key)):
            return Resolved(file.values[key], "file", file.where(None, key))
        return None

    def db_path(self) -> tuple[str | None, str | None]:
        """The client_id database path and where it came from (TELEMETRY_DB_PATH, then the file).

        A relative `db_path` in a settings file is relative to that file's directory.
        """
        found = self.resolve_global("db_path", (DB_PATH_ENV,))
        if found is None:
            return None, None
        path = Path(str(found.value)).expanduser()
        if found.source == "file" and self.settings_file is not None and not path.is_absolute():
            path = self.settings_file.base_dir() / path
        return str(path), found.where

    def analytics_enabled(self) -> Resolved | None:
        """analytics_enabled from the settings file (or an explicit global), parsed; None when unset."""
        found = self.resolve_global("analytics_enabled")
        if found is None:
            return None
        try:
            return Resolved(parse_bool(found.value), found.source, found.where)
        except ValueError as exc:
            raise SettingError(f"{found.where}: {exc}") from None

    def unknown_tables(self, known: set[str]) -> list[str]:
        """Provider tables of the settings file that no registered provider reads."""
        if self.settings_file is None:
            return []
        return sorted(t for t in self.settings_file.tables if t not in known)
