"""vcrpy configuration of the provider cassettes: scrubbing, normalising, matching, serialising.

Every secret is scrubbed in `before_record_request` / `before_record_response` (vcrpy's built-in
post-data filter misses a JSON body whose content type carries a charset and cannot reach a token
inside a form field). Volatile values (times, dedup ids, sessions, client ids) are stored as shape
tokens such as `<int:16 digits>`, so a re-recording changes nothing unless the payload did. Bodies
are stored as key-sorted YAML structures, so a change to a payload is a small, readable diff.
vcrpy runs the same hook on live requests before matching, so a scrubbed cassette still matches.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "BODY_MATCHER",
    "FAKE_HOST",
    "MATCH_ON",
    "REDACTED",
    "SECRET_VARIABLES",
    "SERIALIZER",
    "CassetteYaml",
    "Scrubber",
    "SecretFinding",
    "body_matcher",
    "cassette_vcr",
    "comparable_body",
    "configured_secrets",
    "decode_body",
    "dump_yaml",
    "encode_body",
    "load_cassette",
    "normalise",
    "scan_for_secrets",
    "scan_text",
]

REDACTED = "REDACTED"
"""What every secret becomes in a cassette."""

SERIALIZER = "telemetry-yaml"
BODY_MATCHER = "telemetry_body"
MATCH_ON = ("method", "path", "query", BODY_MATCHER)
"""Never host or port: fakes listen on random ports, and live recordings use the vendor's host."""

FAKE_HOST = "vendor-fake.invalid"
"""Loopback origins are stored as this host (a reserved name that never resolves), so the random
port of a fake does not change the file on every recording."""

SECRET_KEYS = frozenset(
    {
        "api_key",
        "api_secret",
        "apikey",
        "token",
        "$token",
        "project_token",
        "secret",
        "api-secret",
        "password",
        "write_key",
        "writekey",
        "service_account_secret",
    }
)
"""Field names (JSON keys, form fields, query parameters; compared lower-case) holding secrets."""

ACCOUNT_KEYS = frozenset({"measurement_id", "firebase_app_id", "project_id"})
ACCOUNT = "<account>"
"""Query parameters naming the vendor project: stored as ACCOUNT, so a cassette re-recorded
against a real project still matches the fakes' recordings (and names no real project)."""

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"})
KEPT_REQUEST_HEADERS = frozenset({"content-type", "content-encoding"}) | SECRET_HEADERS
KEPT_RESPONSE_HEADERS = frozenset({"content-type", "retry-after"})
"""Everything else (Date, Server, User-Agent with its library version, lengths) would churn."""

VOLATILE_KEYS = frozenset(
    {
        "time",
        "timestamp",
        "timestamp_micros",
        "insert_id",
        "$insert_id",
        "messageid",
        "session_id",
        "sessionid",
        "$session_id",
        "client_id",
        "app_instance_id",
        "device_id",
        "$device_id",
        "distinct_id",
        "$distinct_id",
        "anonymousid",
        "originaltimestamp",
        "sentat",
        "receivedat",
        "server_upload_time",
        "payload_size_bytes",
    }
)
"""Keys (compared lower-case, at any depth) whose values change from run to run."""

VERSIONED_KEYS = frozenset({"library"})
"""Keys whose value is "name/version" or {"name", "version"}: the version is normalised, so a
release of this package is no drift."""

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_ID = re.compile(r"[0-9a-fA-F]+(?:-[0-9a-fA-F]+)*")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_TOKEN = re.compile(r"<(?:int:\d+ digits|float|uuid|hex-id|datetime|str|version)>")

HEADER_COMMENT = (
    "# Recorded by scripts/record_cassettes.py (`make cassettes`); do not edit by hand.\n"
    "# Secrets are REDACTED; volatile values are stored as shape tokens such as <int:16 digits>.\n"
)


# -- values ------------------------------------------------------------------------------------


def shape_token(value: Any) -> Any:
    """The stable stand-in of a volatile value: its type and shape, never the value itself."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return f"<int:{len(str(abs(value)))} digits>"
    if isinstance(value, float):
        return "<float>"
    if isinstance(value, str):
        if _TOKEN.fullmatch(value):
            return value
        if _UUID.fullmatch(value):
            return "<uuid>"
        if _DATETIME.fullmatch(value):
            return "<datetime>"
        if _HEX_ID.fullmatch(value):
            return "<hex-id>"
        return "<str>"
    return value


def normalise(value: Any) -> Any:
    """A copy of a decoded body with every volatile value replaced by its shape token."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = key.lower() if isinstance(key, str) else key
            if name in VOLATILE_KEYS and not isinstance(item, (dict, list)):
                out[key] = shape_token(item)
            elif name in VERSIONED_KEYS and isinstance(item, str) and "/" in item:
                out[key] = item.split("/", 1)[0] + "/<version>"
            elif name in VERSIONED_KEYS and isinstance(item, dict) and "version" in item:
                out[key] = {**normalise(item), "version": "<version>"}
            else:
                out[key] = normalise(item)
        return out
    if isinstance(value, list):
        return [normalise(item) for item in value]
    return value


def _scrub_value(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every known secret string replaced, and every secret-named field redacted."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in SECRET_KEYS and item not in (None, ""):
                out[key] = REDACTED
            else:
                out[key] = _scrub_value(item, secrets)
        return out
    if isinstance(value, list):
        if _is_form_pair(value) and value[0].lower() in SECRET_KEYS and value[1] not in (None, ""):
            return [value[0], REDACTED]
        return [_scrub_value(item, secrets) for item in value]
    if isinstance(value, str):
        return _replace_secrets(value, secrets)
    return value


def _is_form_pair(value: list[Any]) -> bool:
    return len(value) == 2 and isinstance(value[0], str) and not isinstance(value[1], list)


def _replace_secrets(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


# -- bodies ------------------------------------------------------------------------------------


def _header(headers: Mapping[str, Any] | None, name: str) -> str:
    """One header's value from a vcrpy headers mapping (values may be lists), or ""."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            if isinstance(value, (list, tuple)):
                value = value[0] if value else ""
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return ""


def decode_body(body: bytes | str | None, content_type: str = "", content_encoding: str = "") -> Any:
    """The structured form of a body, as stored in a cassette and compared by the matcher.

    None (empty), {"json": value}, {"form": [[name, value], ...]} (a value holding a JSON object
    or array is {"json": ...}), {"text": str} or {"base64": str}; plus "encoding": "gzip" when
    the body was compressed.
    """
    if body is None:
        return None
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if not raw:
        return None
    extra: dict[str, Any] = {}
    if "gzip" in content_encoding.lower():
        try:
            raw = gzip.decompress(raw)
            extra = {"encoding": "gzip"}
        except (OSError, EOFError):
            return {"base64": base64.b64encode(raw).decode("ascii")}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii"), **extra}
    ctype = content_type.lower()
    if "x-www-form-urlencoded" in ctype:
        pairs = parse_qsl(text, keep_blank_values=True)
        return {"form": [[name, _maybe_json(value)] for name, value in pairs], **extra}
    parsed = _maybe_json(text)
    if isinstance(parsed, dict) and "json" in parsed:
        return {**parsed, **extra}
    if "json" in ctype:
        try:
            return {"json": json.loads(text), **extra}
        except ValueError:
            pass
    return {"text": text, **extra}


def _maybe_json(text: str) -> Any:
    """{"json": value} when `text` is a JSON object or array, else `text` unchanged."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return {"json": json.loads(stripped)}
        except ValueError:
            return text
    return text


def _dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_body(structured: Any) -> bytes:
    """The bytes of a structured body (the inverse of `decode_body`, up to JSON spacing)."""
    if structured is None:
        return b""
    if not isinstance(structured, dict):
        return str(structured).encode("utf-8")
    if "base64" in structured:
        return base64.b64decode(structured["base64"])
    if "json" in structured:
        raw = _dump_json(structured["json"]).encode("utf-8")
    elif "form" in structured:
        pairs = [
            (
                str(name),
                _dump_json(value["json"]) if isinstance(value, dict) and "json" in value else str(value),
            )
            for name, value in structured["form"]
        ]
        raw = urlencode(pairs).encode("ascii")
    else:
        raw = str(structured.get("text", "")).encode("utf-8")
    if structured.get("encoding") == "gzip":
        raw = gzip.compress(raw, mtime=0)
    return raw


# -- hooks -------------------------------------------------------------------------------------


class Scrubber:
    """vcrpy's before_record_request / before_record_response for telemetry cassettes.

    secrets: the values of the configured keys; they are replaced wherever they appear (URI,
    headers, bodies, response bodies such as Amplitude's "Invalid API key: <key>"), on top of
    the secret-named fields, which are redacted whatever their value.
    origin: when given ("http://127.0.0.1:8080"), requests to any other origin are neither
    recorded nor matched (vcrpy lets them through), so a request of some other test's lingering
    worker thread can never slip into a cassette.
    """

    def __init__(self, secrets: Iterable[str | None] = (), origin: str | None = None) -> None:
        unique = {s for s in secrets if s and len(s) >= 4}
        self.secrets: tuple[str, ...] = tuple(sorted(unique, key=len, reverse=True))
        self.origin = None if origin is None else _origin(origin)

    def request(self, request: Any) -> Any:
        """Scrub and normalise one vcrpy Request (a copy vcrpy made) in place and return it."""
        seen = _origin(request.uri)
        # vcrpy applies this hook again to a request it already went through: keep it idempotent.
        if self.origin is not None and seen != self.origin and seen[1] != FAKE_HOST:
            return None
        ctype = _header(request.headers, "content-type")
        cenc = _header(request.headers, "content-encoding")
        structured = normalise(_scrub_value(decode_body(request.body, ctype, cenc), self.secrets))
        request.body = encode_body(structured)
        request.uri = self.uri(request.uri)
        kept: dict[str, str] = {}
        for name, value in dict(request.headers).items():
            lower = str(name).lower()
            if lower not in KEPT_REQUEST_HEADERS:
                continue
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            kept[str(name)] = _redact_header(text) if lower in SECRET_HEADERS else text
        request.headers = kept
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """Scrub and normalise one recorded response dict (vcrpy passes a deep copy)."""
        headers = response.get("headers") or {}
        kept = {
            str(name): [_replace_secrets(str(v), self.secrets) for v in values]
            for name, values in headers.items()
            if str(name).lower() in KEPT_RESPONSE_HEADERS
        }
        body = response.get("body") or {}
        structured = decode_body(
            body.get("string"), _header(headers, "content-type"), _header(headers, "content-encoding")
        )
        structured = normalise(_scrub_value(structured, self.secrets))
        response["headers"] = kept
        response["body"] = {"string": encode_body(structured)}
        return response

    def uri(self, uri: str) -> str:
        """The URI with secret query parameters redacted and a loopback origin made stable."""
        parts = urlsplit(uri)
        netloc = parts.netloc
        if parts.hostname in ("127.0.0.1", "localhost", "::1") or (parts.hostname or "").startswith("127."):
            netloc = FAKE_HOST
        query = [(name, self._query_value(name, value)) for name, value in parse_qsl(parts.query, True)]
        path = _replace_secrets(parts.path, self.secrets)
        return urlunsplit((parts.scheme, netloc, path, urlencode(query, safe="<>"), ""))

    def _query_value(self, name: str, value: str) -> str:
        if name.lower() in SECRET_KEYS and value:
            return REDACTED
        if name.lower() in ACCOUNT_KEYS and value:
            return ACCOUNT
        return _replace_secrets(value, self.secrets)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _redact_header(value: str) -> str:
    """ "Basic dXNlcjpzZWNyZXQ=" -> "Basic REDACTED": the scheme stays visible for review."""
    scheme, _, rest = value.partition(" ")
    return f"{scheme} {REDACTED}" if rest else REDACTED


def body_matcher(r1: Any, r2: Any) -> None:
    """vcrpy matcher: the bodies are equal once decoded, scrubbed and normalised (asserts)."""
    left = comparable_body(r1.body, r1.headers)
    right = comparable_body(r2.body, r2.headers)
    assert left == right, f"bodies differ:\n  live:     {_short(left)}\n  recorded: {_short(right)}"


def comparable_body(body: Any, headers: Mapping[str, Any] | None) -> Any:
    """A body as the matcher and the drift check compare it."""
    structured = decode_body(body, _header(headers, "content-type"), _header(headers, "content-encoding"))
    return normalise(_scrub_value(structured, ()))


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


# -- serialiser --------------------------------------------------------------------------------


class CassetteYaml:
    """vcrpy serializer: bodies as structures, keys sorted, no line wrapping: stable diffs."""

    @staticmethod
    def serialize(cassette: dict[str, Any]) -> str:
        data = copy.deepcopy(cassette)
        for interaction in data.get("interactions", []):
            request = interaction["request"]
            headers = request.get("headers") or {}
            request["body"] = decode_body(
                request.get("body"), _header(headers, "content-type"), _header(headers, "content-encoding")
            )
            response = interaction["response"]
            rheaders = response.get("headers") or {}
            response["body"] = decode_body(
                (response.get("body") or {}).get("string"),
                _header(rheaders, "content-type"),
                _header(rheaders, "content-encoding"),
            )
        return HEADER_COMMENT + dump_yaml(data)

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        data = yaml.safe_load(text) or {}
        for interaction in data.get("interactions", []):
            request = interaction["request"]
            request["body"] = encode_body(request.get("body"))
            response = interaction["response"]
            response["body"] = {"string": encode_body(response.get("body"))}
        return dict(data)


def dump_yaml(data: Any) -> str:
    """The one YAML style of every cassette file: block style, sorted keys, no wrapping.

    Non-ASCII characters are escaped: PyYAML does not read back some it writes raw (U+0085).
    """
    return str(
        yaml.safe_dump(data, sort_keys=True, allow_unicode=False, default_flow_style=False, width=10_000)
    )


def load_cassette(path: Path) -> dict[str, Any]:
    """A cassette file as stored (structured bodies), for inspection and comparison."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a cassette")
    return data


def cassette_vcr(
    library_dir: Path | str,
    *,
    record_mode: str = "none",
    secrets: Iterable[str | None] = (),
    origin: str | None = None,
) -> Any:
    """A configured `vcr.VCR`: record mode `none` (replay only) unless told otherwise.

    Cassettes are `<library_dir>/<name>.yaml`; the matcher compares method, path, query and the
    normalised body, never host or port. `secrets` and `origin`: see `Scrubber`.
    """
    import vcr

    scrubber = Scrubber(secrets, origin)
    recorder = vcr.VCR(
        cassette_library_dir=str(library_dir),
        serializer=SERIALIZER,
        record_mode=record_mode,
        match_on=MATCH_ON,
        before_record_request=scrubber.request,
        before_record_response=scrubber.response,
        decode_compressed_response=True,
        path_transformer=vcr.VCR.ensure_suffix(".yaml"),
    )
    recorder.register_serializer(SERIALIZER, CassetteYaml)
    recorder.register_matcher(BODY_MATCHER, body_matcher)
    return recorder


# -- secret scanning ---------------------------------------------------------------------------

GA4_SECRET_SHAPE = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-]))"
    r"(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{22}"
)
"""A GA4 Measurement Protocol api_secret: 22 URL-safe characters, mixed case and digits."""

HEX_KEY_SHAPE = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32}(?![0-9A-Za-z])")
"""An Amplitude API key or a Mixpanel project token / API secret: 32 hexadecimal digits."""

SECRET_VARIABLES = (
    "GA_API_SECRET",
    "AMPLITUDE_API_KEY",
    "MIXPANEL_PROJECT_TOKEN",
    "MIXPANEL_API_SECRET",
    "MIXPANEL_SERVICE_ACCOUNT_SECRET",
    "RUDDERSTACK_WRITE_KEY",
    "SEGMENT_WRITE_KEY",
)
"""Environment variables that carry a real vendor key: their values may never be in a cassette."""


def configured_secrets(environ: Mapping[str, str]) -> list[str]:
    """The values of the SECRET_VARIABLES set in `environ`."""
    return [value for name in SECRET_VARIABLES if (value := environ.get(name, ""))]


RECOGNISABLE_MARK = "ca55e77e"
"""Every fake secret the recording uses contains this mark; no cassette may."""


@dataclass(frozen=True)
class SecretFinding:
    """One suspected secret in a cassette file; `excerpt` is masked so a report leaks nothing.

    `line` is 0 for a finding of the structural scan (an unredacted secret-named field)."""

    path: str
    line: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.excerpt}"


def _mask(text: str) -> str:
    """Nothing of a suspected secret leaves the scanner but its length (the line says where)."""
    return f"[{len(text)} characters hidden]"


def scan_text(text: str, known: Iterable[str] = (), path: str = "<text>") -> list[SecretFinding]:
    """Every known secret, fake-secret mark and secret-shaped token in `text`."""
    findings: list[SecretFinding] = []
    lines = text.splitlines()
    needles: list[tuple[str, str]] = []
    for secret in {k for k in known if k and len(k) >= 4}:
        needles.append(("configured secret", secret))
        for variant in (secret, f"{secret}:", f":{secret}"):
            encoded = base64.b64encode(variant.encode()).decode().rstrip("=")
            if len(encoded) >= 8:
                needles.append(("configured secret (base64)", encoded))
    for number, line in enumerate(lines, 1):
        for kind, needle in needles:
            if needle in line:
                findings.append(SecretFinding(path, number, kind, _mask(needle)))
        if RECOGNISABLE_MARK in line.lower():
            findings.append(SecretFinding(path, number, "recording's fake secret", _mask(line.strip())))
        for match in GA4_SECRET_SHAPE.finditer(line):
            findings.append(SecretFinding(path, number, "GA4 api_secret shape", _mask(match.group())))
        for match in HEX_KEY_SHAPE.finditer(line):
            findings.append(SecretFinding(path, number, "Amplitude/Mixpanel key shape", _mask(match.group())))
    return findings


def _secret_fields(value: Any, trail: str = "") -> Iterator[tuple[str, str]]:
    """(where, value) of every secret-named field whose value is not REDACTED, in a YAML tree."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{trail}.{key}" if trail else str(key)
            name = str(key).lower()
            if name in SECRET_KEYS | SECRET_HEADERS:
                for text in item if isinstance(item, list) else [item]:
                    if text not in (None, "") and not str(text).endswith(REDACTED):
                        yield where, str(text)
            elif name in ("uri", "url") and isinstance(item, str):
                for qname, qvalue in parse_qsl(urlsplit(item).query, keep_blank_values=True):
                    if qname.lower() in SECRET_KEYS and qvalue not in ("", REDACTED):
                        yield f"{where}?{qname}", qvalue
            else:
                yield from _secret_fields(item, where)
    elif isinstance(value, list):
        if _is_form_pair(value) and value[0].lower() in SECRET_KEYS:
            if value[1] not in (None, "", REDACTED):
                yield f"{trail}[{value[0]}]", str(value[1])
            return
        for index, item in enumerate(value):
            yield from _secret_fields(item, f"{trail}[{index}]")


def scan_for_secrets(root: Path, known: Iterable[str] = ()) -> list[SecretFinding]:
    """Scan every file under `root` (or the file `root`): known values, shapes, unredacted fields."""
    known = tuple(known)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    findings: list[SecretFinding] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        findings += scan_text(text, known, str(path))
        if path.suffix in (".yaml", ".yml"):
            try:
                tree = yaml.safe_load(text)
            except yaml.YAMLError:
                continue
            for where, value in _secret_fields(tree):
                findings.append(SecretFinding(str(path), 0, f"unredacted field {where}", _mask(value)))
    return findings
