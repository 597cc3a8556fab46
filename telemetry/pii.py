"""The PII guard: scans param keys and values on the worker thread before they leave the process.

What it finds (each a `PiiKind`), and what a redaction leaves in its place:

- ``email``: an e-mail address -> ``[email]``.
- ``ip``: an IPv4 or IPv6 address (checked with `ipaddress`, so ``12:30:45`` is not one) -> ``[ip]``.
  A four-part version string such as ``1.2.3.4`` is a valid IPv4 address and is redacted too.
- ``phone``: a phone number: ``+`` and 8 to 15 digits with optional separators, or 8 to 12 digits
  in two or three separated groups such as ``(02) 9876 5432`` or ``555-123-4567``. A bare run of
  digits (a count, a timestamp) and dates such as ``2024-01-15`` are not phone numbers.
- ``home``: the user's home directory inside a path -> ``~`` (``/home/alice/data`` -> ``~/data``);
  another user's home under ``/home``, ``/Users`` or ``C:\\Users`` -> ``/home/[user]/...``.
- ``user_name``: the user's login name as a path component (``/data/alice/run1`` ->
  ``/data/[user]/run1``), compared case-insensitively, in text that contains a path separator.
- ``secret``: a configured secret (api_secret, api_key, token), a well-known key format (JWT,
  ``sk_live_...``, ``ghp_...``, ``AKIA...``, ``AIza...``, a PEM private key), or a long random
  token: 32 or more characters of ``[A-Za-z0-9_+=/-]`` mixing at least two of lower case, upper
  case and digits, that does not read like words or an identifier. UUIDs are not secrets.
- ``identifier``: a param *named* like a user identifier (``user_id``, ``email``, ``ip``,
  ``distinct_id``, ...): the random client_id is the only identifier this toolkit sends.

`PiiPolicy` says, per kind, whether a finding is redacted, drops the whole param, or is kept.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import ipaddress
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _log

__all__ = [
    "IDENTIFIER_KEYS",
    "PII_KINDS",
    "PiiAction",
    "PiiFinding",
    "PiiGuard",
    "PiiKind",
    "PiiPolicy",
    "PiiReport",
]

PiiKind = Literal["email", "ip", "phone", "home", "user_name", "secret", "identifier"]
PiiAction = Literal["redact", "drop", "keep"]
PII_KINDS: tuple[PiiKind, ...] = ("email", "ip", "phone", "home", "user_name", "secret", "identifier")

IDENTIFIER_KEYS = frozenset(
    {
        "user_id",
        "userid",
        "distinct_id",
        "device_id",
        "email",
        "e_mail",
        "email_address",
        "ip",
        "ip_address",
        "ip_override",
        "user_name",
        "username",
        "phone",
        "phone_number",
    }
)
"""Param names (compared lower-cased, without a leading ``$``) that only an identifier would use."""

MARKERS: Mapping[str, str] = {
    "email": "[email]",
    "ip": "[ip]",
    "phone": "[phone]",
    "user_name": "[user]",
    "secret": "[secret]",
}

MIN_TOKEN_LENGTH = 32
MAX_SCANNED_VALUES = 10_000
"""Values scanned in one param; a param with more is dropped (counted as "too_large")."""
_MIN_NAME_LENGTH = 2

_EMAIL_LOCAL = r"[\w.!#$%&'*+/=?^`{|}~-]"
"""The characters of an address's local part (RFC 5322 "atext" and dots)."""
_EMAIL = re.compile(rf"(?<!{_EMAIL_LOCAL}){_EMAIL_LOCAL}+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{{2,}}")
_IPV4 = re.compile(r"(?<!\w)(?<!\d\.)(?:\d{1,3}\.){3}\d{1,3}(?!\w)(?!\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f:]*[0-9A-Fa-f])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"
)
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d[\d\s().-]{6,20}\d(?![\w])")
_PHONE_NATIONAL = re.compile(
    r"(?<![\w.:/-])(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?![\w.:/-])"
)
_KNOWN_SECRETS = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe-style keys
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"  # GitHub tokens
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
)
_TOKEN = re.compile(rf"[A-Za-z0-9_+=/-]{{{MIN_TOKEN_LENGTH},}}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_STRUCTURE = re.compile(
    r"[A-Z]?[a-z]{3,}"  # words, CamelCase parts
    r"|(?<![A-Za-z0-9])[A-Z]{2,}(?![A-Za-z0-9])"  # upper-case words between separators
    r"|(?<![A-Za-z0-9])\d+(?![A-Za-z0-9])"  # numbers between separators
    r"|[_+=/-]"  # the separators themselves
)
_OTHER_HOMES = re.compile(
    r"(?P<prefix>(?:/home|/Users|/var/home|/export/home)/"
    r"|[A-Za-z]:[\\/](?:Users|Documents and Settings)[\\/])"
    r"(?P<name>[^/\\\s\"'<>|:*?\[\]]+)"
)
_PATH_END = r"(?=[/\\]|$|[\s\"',;)\]}])"
"""A path component ends at a separator, the end, white space, a quote or punctuation."""
_LOWER = re.compile("[a-z]")
_UPPER = re.compile("[A-Z]")
_DIGIT = re.compile("[0-9]")
_INTERESTING = re.compile(r"[0-9@:/\\]")
"""Short text without any of these characters holds nothing the guard looks for."""
_SHARED_HOME_NAMES = frozenset({"shared", "public", "default", "all users", "default user"})


@dataclass(frozen=True)
class PiiFinding:
    """One finding in a text: its kind, where it is, and what a redaction puts in its place."""

    kind: PiiKind
    start: int
    end: int
    replacement: str


@dataclass
class PiiReport:
    """What a scan found: redactions and dropped params, by kind."""

    redacted: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.redacted or self.dropped)

    def count_dropped(self, kind: str) -> None:
        self.dropped[kind] = self.dropped.get(kind, 0) + 1


@dataclass(frozen=True)
class PiiPolicy:
    """What the guard does with each kind of finding.

    action: the default for every kind: "redact" (replace the finding by a marker), "drop" (drop
    the whole param) or "keep" (send as is). actions: per-kind overrides, e.g.
    ``{"secret": "drop", "ip": "keep"}``. Params named like an identifier (``identifier``) are
    always dropped unless overridden with "keep". user_names / home_dirs: what counts as the
    user's name and home (default: this process's login name and home directory).
    allow_keys: param names that are never scanned. enabled: False turns the guard off.
    """

    action: PiiAction = "redact"
    actions: Mapping[str, PiiAction] = field(default_factory=dict)
    user_names: tuple[str, ...] | None = None
    home_dirs: tuple[str, ...] | None = None
    allow_keys: frozenset[str] = frozenset()
    enabled: bool = True

    def __post_init__(self) -> None:
        for kind, action in {"*": self.action, **dict(self.actions)}.items():
            if kind != "*" and kind not in PII_KINDS:
                raise ValueError(f"unknown PII kind {kind!r}; expected one of {PII_KINDS}")
            if action not in ("redact", "drop", "keep"):
                raise ValueError(f"unknown PII action {action!r}; expected redact, drop or keep")

    def action_for(self, kind: str) -> PiiAction:
        if kind in self.actions:
            return self.actions[kind]
        return "drop" if kind == "identifier" and self.action == "redact" else self.action


def current_user_names() -> tuple[str, ...]:
    """This process's login name(s), from the OS and the usual variables; never raises."""
    names: list[str] = []
    with contextlib.suppress(Exception):
        names.append(getpass.getuser())
    for variable in ("USER", "USERNAME", "LOGNAME"):
        names.append(os.environ.get(variable, ""))
    return tuple(dict.fromkeys(n for n in names if len(n) >= _MIN_NAME_LENGTH))


def current_home_dirs() -> tuple[str, ...]:
    """This process's home directory (and HOME/USERPROFILE), never "/"; never raises."""
    homes: list[str] = []
    with contextlib.suppress(Exception):
        homes.append(os.path.expanduser("~"))
    for variable in ("HOME", "USERPROFILE"):
        homes.append(os.environ.get(variable, ""))
    cleaned = [h.rstrip("/\\") for h in homes if h and h != "~"]
    return tuple(dict.fromkeys(h for h in cleaned if len(h) >= _MIN_NAME_LENGTH))


def _entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def looks_like_secret(token: str) -> bool:
    """Whether a run of token characters reads like a random key rather than words or an id."""
    if len(token) < MIN_TOKEN_LENGTH or _UUID.fullmatch(token):
        return False
    classes = (
        (_LOWER.search(token) is not None)
        + (_UPPER.search(token) is not None)
        + (_DIGIT.search(token) is not None)
    )
    if classes < 2 or _entropy(token) < 3.0:
        return False
    structured = sum(len(m) for m in _STRUCTURE.findall(token))
    return structured < 0.7 * len(token)


class PiiGuard:
    """Finds and removes personal data in param keys and values. Thread-safe; never raises."""

    def __init__(self, policy: PiiPolicy | None = None) -> None:
        self.policy = policy or PiiPolicy()
        names = self.policy.user_names if self.policy.user_names is not None else current_user_names()
        homes = self.policy.home_dirs if self.policy.home_dirs is not None else current_home_dirs()
        self._homes = _home_pattern(homes)
        self._names = _name_pattern(names)
        # Text -> (redacted text, kinds found): params repeat a small vocabulary (plans, pages,
        # labels), so most strings are scanned once. Valid while the registered secrets are.
        self._memo: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}
        # Param names seen to need no scan: not allow-listed, not an identifier, nothing to find.
        self._plain_keys: set[str] = set()
        self._memo_secrets = -1

    # -- text ------------------------------------------------------------------------------

    def findings(self, text: str) -> list[PiiFinding]:
        """Every finding in `text`, leftmost first; of overlapping findings the longer one wins."""
        if _nothing_to_find(text):
            return []
        found = _registered_secret_spans(text)
        detectors = self._detectors(text)
        if not detectors:
            return found
        for kind, pattern, accept, replacement in detectors:
            for match in pattern.finditer(text):
                if accept is None or accept(match.group(0)):
                    found.append(PiiFinding(kind, match.start(), match.end(), replacement(match)))
        return _without_overlaps(found) if len(found) > 1 else found

    def redact(self, text: str) -> tuple[str, Counter[str]]:
        """`text` with every finding whose action is not "keep" replaced; and the kinds replaced."""
        kinds: Counter[str] = Counter()
        if self.policy.enabled:
            text = self._redact_into(text, kinds)
        return text, kinds

    def _current_memo(self) -> dict[str, tuple[str, tuple[tuple[str, int], ...]]]:
        """The memo, emptied (with the plain keys) when a secret was registered or it is full."""
        if self._memo_secrets != len(_log._secrets) or len(self._memo) >= _MEMO_MAX_ENTRIES:
            self._memo = {}
            self._plain_keys = set()
            self._memo_secrets = len(_log._secrets)
        return self._memo

    def _redact_into(self, text: str, kinds: dict[str, int]) -> str:
        if len(text) > _MEMO_MAX_TEXT:
            return self._redact_uncached(text, kinds)
        memo = self._current_memo()
        known = memo.get(text)
        if known is None:
            found: dict[str, int] = {}
            known = (self._redact_uncached(text, found), tuple(found.items()))
            memo[text] = known
        for kind, count in known[1]:
            kinds[kind] = kinds.get(kind, 0) + count
        return known[0]

    def _redact_uncached(self, text: str, kinds: dict[str, int]) -> str:
        findings = self.findings(text)
        if not findings:
            return text
        pieces: list[str] = []
        last = 0
        for finding in findings:
            if self.policy.action_for(finding.kind) == "keep":
                continue
            kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
            pieces.append(text[last : finding.start])
            pieces.append(finding.replacement)
            last = finding.end
        if last == 0 and not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def is_personal(self, text: str) -> bool:
        """Whether `text` holds a finding whose action is not "keep" (memoised like `redact`)."""
        known = self._current_memo().get(text)
        if known is not None:
            return bool(known[1])
        kinds: dict[str, int] = {}
        self._redact_into(text, kinds)
        return bool(kinds)

    def is_identifier_key(self, key: str) -> bool:
        """Whether a param name is one only a user identifier would have (`IDENTIFIER_KEYS`)."""
        return key.lower().lstrip("$") in IDENTIFIER_KEYS

    # -- params ----------------------------------------------------------------------------

    def knows_plain(self, params: Mapping[str, Any]) -> bool:
        """Whether `clean_params(params)` would find nothing and change nothing, known from what
        the guard remembers: every name is a known plain one, every value None, a number, a flag
        or text already scanned without a finding. False says only "scan to know"."""
        if not self.policy.enabled:
            return True
        memo = self._current_memo()
        plain_keys = self._plain_keys
        for key, value in params.items():
            if key not in plain_keys or not _nothing_in(value, memo):
                return False
        return True

    def clean_params(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], PiiReport]:
        """A new dict of `params` (JSON-safe values) without personal data; and what was done.

        A finding whose action is "drop" drops the whole top-level param it is in.
        """
        report = PiiReport()
        policy = self.policy
        if not policy.enabled:
            return dict(params), report
        memo = self._current_memo()
        plain_keys = self._plain_keys
        out: dict[str, Any] = {}
        for key, value in params.items():
            if key in plain_keys:  # the common case: a known name with a number, a flag or known text
                if _nothing_in(value, memo):
                    out[key] = value
                    continue
            elif key in policy.allow_keys:
                out[key] = value
                continue
            elif key.lower().lstrip("$") in IDENTIFIER_KEYS and policy.action_for("identifier") != "keep":
                report.count_dropped("identifier")
                continue
            elif _nothing_to_find(key) and len(plain_keys) < _MEMO_MAX_ENTRIES:
                plain_keys.add(key)
            if (value is None or type(value) in _PLAIN) and key in plain_keys:
                out[key] = value
                continue
            kinds: dict[str, int] = {}
            budget = [MAX_SCANNED_VALUES]
            new_key = key if key in plain_keys else self._redact_into(key, kinds)
            new_value = self._clean_value(value, kinds, budget)
            if budget[0] < 0:
                report.count_dropped("too_large")
                continue
            dropping = [kind for kind in kinds if policy.action_for(kind) == "drop"]
            if dropping:
                for kind in dropping:
                    report.count_dropped(kind)
                continue
            for kind, count in kinds.items():
                report.redacted[kind] = report.redacted.get(kind, 0) + count
            out[new_key] = new_value
        return out, report

    def _clean_value(self, value: Any, kinds: dict[str, int], budget: list[int]) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        if isinstance(value, str):
            return self._redact_into(value, kinds)
        if isinstance(value, dict):
            cleaned: dict[Any, Any] = {}
            for key, item in value.items():
                new_key = self._redact_into(key, kinds) if isinstance(key, str) else key
                cleaned[new_key] = self._clean_value(item, kinds, budget)
            return cleaned
        if isinstance(value, list):
            return [self._clean_value(item, kinds, budget) for item in value]
        return value

    # -- internals -------------------------------------------------------------------------

    def _detectors(self, text: str) -> list[_Detector]:
        """The detectors that can match `text`, chosen by cheap tests (most text needs none)."""
        length = len(text)
        if length < _MIN_KNOWN_SECRET and _INTERESTING.search(text) is None:
            return []
        detectors: list[_Detector] = []
        if length >= _MIN_KNOWN_SECRET:
            detectors.append(_SECRET_FORMATS)
        if "@" in text:
            detectors.append(_EMAILS)
        digits = sum(map(text.count, _DIGIT_CHARS)) if length >= 4 else 0
        if digits >= 4 and "." in text:
            detectors.append(_IPV4S)
        if text.count(":") >= 2:
            detectors.append(_IPV6S)
        if digits >= 8:
            detectors += (_PHONES_INTERNATIONAL, _PHONES_NATIONAL)
        if "/" in text or "\\" in text:
            if self._homes is not None:
                detectors.append(("home", self._homes, None, _tilde))
            detectors.append(_OTHER_HOME_DETECTOR)
            if self._names is not None:
                detectors.append(_user_name_detector(self._names))
        if length >= MIN_TOKEN_LENGTH:
            detectors.append(_TOKENS)
        return detectors


_Detector = tuple[
    PiiKind,
    "re.Pattern[str]",
    "Callable[[str], bool] | None",
    "Callable[[re.Match[str]], str]",
]


def _marker(kind: str) -> Callable[[re.Match[str]], str]:
    text = MARKERS[kind]
    return lambda _match: text


def _tilde(_match: re.Match[str]) -> str:
    return "~"


def _other_home(match: re.Match[str]) -> str:
    return match.group("prefix") + "[user]"


_secrets_seen: tuple[int, tuple[str, ...]] = (0, ())


def _registered_secrets() -> tuple[str, ...]:
    """The configured secrets, longest first; re-read only when one has been added."""
    global _secrets_seen
    count, secrets = _secrets_seen
    if count != len(_log._secrets):
        with _log._secrets_lock:
            secrets = tuple(sorted(_log._secrets, key=len, reverse=True))
        _secrets_seen = (len(secrets), secrets)
    return secrets


_PLAIN = frozenset({int, float, bool})


def _nothing_in(value: Any, memo: Mapping[str, tuple[str, tuple[tuple[str, int], ...]]]) -> bool:
    """Whether `value` needs no scan: None, a number, a flag, or text `memo` found nothing in."""
    kind = type(value)
    if kind is str:
        known = memo.get(value)
        return known is not None and not known[1]
    return value is None or kind in _PLAIN


_MEMO_MAX_TEXT = 256
_MEMO_MAX_ENTRIES = 4096
"""The guard's memo of scanned strings is emptied when it reaches this size (bounded memory)."""


def _nothing_to_find(text: str) -> bool:
    """Short text without a digit, @, : or a path separator, and no configured secret."""
    if len(text) >= _MIN_KNOWN_SECRET or _INTERESTING.search(text) is not None:
        return False
    secrets = _registered_secrets()
    return not secrets or not any(secret in text for secret in secrets)


def _registered_secret_spans(text: str) -> list[PiiFinding]:
    """Where the configured secrets (api_secret, api_key, ...) appear in `text`."""
    secrets = _registered_secrets()
    if not secrets or not any(secret in text for secret in secrets):
        return []
    spans: list[PiiFinding] = []
    for secret in secrets:
        start = text.find(secret)
        while start >= 0:
            spans.append(PiiFinding("secret", start, start + len(secret), MARKERS["secret"]))
            start = text.find(secret, start + len(secret))
    return spans


def _without_overlaps(found: list[PiiFinding]) -> list[PiiFinding]:
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[PiiFinding] = []
    end = -1
    for finding in found:
        if finding.start >= end:
            kept.append(finding)
            end = finding.end
    return kept


def _is_ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _international_digits_ok(candidate: str) -> bool:
    return 8 <= _digits(candidate) <= 15


def _national_digits_ok(candidate: str) -> bool:
    return 8 <= _digits(candidate) <= 12


def _is_personal_home(candidate: str) -> bool:
    match = _OTHER_HOMES.fullmatch(candidate)
    return match is not None and match.group("name").lower() not in _SHARED_HOME_NAMES


def _home_pattern(homes: Iterable[str]) -> re.Pattern[str] | None:
    """The user's home directories, as a path prefix (either separator, any case)."""
    cleaned = {h.rstrip("/\\") for h in homes}
    usable = sorted((h for h in cleaned if len(h) >= _MIN_NAME_LENGTH), key=len, reverse=True)
    if not usable:
        return None
    alternatives = [r"[/\\]".join(re.escape(p) for p in re.split(r"[/\\]", home)) for home in usable]
    return re.compile(r"(?<![\w.~/\\-])(?:" + "|".join(alternatives) + ")" + _PATH_END, re.IGNORECASE)


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """The user's login names as whole path components (any case)."""
    usable = sorted({n for n in names if len(n) >= _MIN_NAME_LENGTH}, key=len, reverse=True)
    if not usable:
        return None
    alternatives = "|".join(re.escape(n) for n in usable)
    return re.compile(r"(?<=[/\\])(?:" + alternatives + ")" + _PATH_END, re.IGNORECASE)


_DIGIT_CHARS = "0123456789"
_MIN_KNOWN_SECRET = 20
_SECRET_FORMATS: _Detector = ("secret", _KNOWN_SECRETS, None, _marker("secret"))
_EMAILS: _Detector = ("email", _EMAIL, None, _marker("email"))
_IPV4S: _Detector = ("ip", _IPV4, _is_ip, _marker("ip"))
_IPV6S: _Detector = ("ip", _IPV6, _is_ip, _marker("ip"))
_PHONES_INTERNATIONAL: _Detector = ("phone", _PHONE_INTERNATIONAL, _international_digits_ok, _marker("phone"))
_PHONES_NATIONAL: _Detector = ("phone", _PHONE_NATIONAL, _national_digits_ok, _marker("phone"))
_OTHER_HOME_DETECTOR: _Detector = ("home", _OTHER_HOMES, _is_personal_home, _other_home)
_TOKENS: _Detector = ("secret", _TOKEN, looks_like_secret, _marker("secret"))


@functools.lru_cache(maxsize=8)
def _user_name_detector(pattern: re.Pattern[str]) -> _Detector:
    return ("user_name", pattern, None, _marker("user_name"))
