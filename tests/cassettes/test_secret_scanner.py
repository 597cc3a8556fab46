"""No cassette holds a secret; and the scanner that says so finds every kind of secret."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from contract_tests.cassette_scenarios import RECORDING_SECRETS
from contract_tests.cassettes import configured_secrets, dump_yaml, scan_for_secrets, scan_text

from ._support import CASSETTES, SPECS


def _known_secrets() -> list[str]:
    """Everything the recording or the developer configured: no cassette may hold any of it."""
    spec_secrets = [s for spec in SPECS for s in spec.make_config("http://127.0.0.1:9").secrets()]
    return [*RECORDING_SECRETS.values(), *spec_secrets, *configured_secrets(os.environ)]


class TestTheCommittedCassettesHoldNoSecret:
    def test_no_cassette_holds_a_configured_key_a_key_shaped_value_or_a_fake_recording_secret(self) -> None:
        findings = scan_for_secrets(CASSETTES, _known_secrets())
        assert findings == [], "\n".join(str(f) for f in findings)

    def test_a_key_configured_in_the_environment_is_searched_for(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AMPLITUDE_API_KEY", "developer-real-key-0001")
        assert "developer-real-key-0001" in _known_secrets()

    def test_the_scan_covers_every_cassette_file(self) -> None:
        files = list(CASSETTES.rglob("*.yaml"))
        assert len(files) >= 16
        assert all(f.stat().st_size > 0 for f in files)


GA4_SHAPED = "aB3dEfGhIjKlMnOpQrStUv"
HEX_KEY = "0123456789abcdef0123456789abcdef"
CONFIGURED = "my-configured-key-for-the-test"

Plant = Callable[[str], str]


def _replace_first(old: str, new: str) -> Plant:
    def plant(text: str) -> str:
        assert old in text, f"the cassette has no {old!r} to plant into"
        return text.replace(old, new, 1)

    return plant


PLANTS: dict[str, tuple[Plant, str]] = {
    "ga4-shaped secret in the query": (
        _replace_first("api_secret=REDACTED", f"api_secret={GA4_SHAPED}"),
        "GA4 api_secret shape",
    ),
    "ga4-shaped value anywhere": (
        _replace_first("page_title: Event Search", f"page_title: {GA4_SHAPED}"),
        "shape",
    ),
    "amplitude/mixpanel-shaped key": (
        _replace_first("page_title: Event Search", f"page_title: {HEX_KEY}"),
        "key shape",
    ),
    "configured key": (
        _replace_first("page_title: Event Search", f"page_title: x{CONFIGURED}x"),
        "configured secret",
    ),
    "configured key in base64 (basic auth)": (
        _replace_first(
            "page_title: Event Search",
            "page_title: " + base64.b64encode(f"{CONFIGURED}:".encode()).decode(),
        ),
        "configured secret (base64)",
    ),
    "the recording's fake secret": (
        _replace_first(
            "page_title: Event Search", f"page_title: {RECORDING_SECRETS['service_account_secret']}"
        ),
        "recording's fake secret",
    ),
    "an unredacted api_secret": (
        _replace_first("api_secret=REDACTED", "api_secret=short"),
        "unredacted field",
    ),
    "an unredacted authorization header": (
        _replace_first(
            "Content-Type:\n      - application/json", "Authorization:\n      - Basic dXNlcjpwdw=="
        ),
        "unredacted field",
    ),
    "an unredacted token in a json body": (
        _replace_first("client_id: <uuid>", "client_id: <uuid>\n        token: tok"),
        "unredacted field",
    ),
}


class TestTheScannerFindsEachKindOfSecret:
    @pytest.fixture
    def cassette(self, tmp_path: Path) -> Path:
        target = tmp_path / "ga4"
        shutil.copytree(CASSETTES / "ga4", target)
        return target / "page_view.yaml"

    def test_a_clean_cassette_gives_no_finding(self, cassette: Path) -> None:
        assert scan_for_secrets(cassette.parent, [CONFIGURED, *RECORDING_SECRETS.values()]) == []

    @pytest.mark.parametrize("case", list(PLANTS))
    def test_a_planted_secret_is_found(self, cassette: Path, case: str) -> None:
        plant, kind = PLANTS[case]
        cassette.write_text(plant(cassette.read_text()))
        findings = scan_for_secrets(cassette.parent, [CONFIGURED, *RECORDING_SECRETS.values()])
        assert any(kind in f.kind for f in findings), findings
        assert all(CONFIGURED not in str(f) and GA4_SHAPED not in str(f) for f in findings), "report leaks"

    def test_tokens_in_a_form_field_and_inside_its_json_are_found(self, tmp_path: Path) -> None:
        form = [["data", {"json": [{"properties": {"token": "abc"}}]}], ["token", "xyz"], ["verbose", "1"]]
        path = tmp_path / "form.yaml"
        path.write_text(dump_yaml({"interactions": [{"request": {"body": {"form": form}}}]}))
        where = "unredacted field interactions[0].request.body.form"
        assert {f.kind for f in scan_for_secrets(path)} == {
            f"{where}[0][1].json[0].properties.token",
            f"{where}[1][token]",
        }

    def test_uuids_and_our_dedup_ids_are_not_mistaken_for_keys(self) -> None:
        text = "client_id: 5ca1ab1e-0000-4000-8000-000000000001\ninsert_id: 0123456789abcdef-1f\n"
        assert scan_text(text) == []
