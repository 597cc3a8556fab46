"""The PII guard: personal data in param keys and values never leaves the process as such."""

from __future__ import annotations

import ipaddress
import json
import random
import string
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry._log import register_secret
from telemetry.events import EVENT, Event
from telemetry.pii import _MEMO_MAX_ENTRIES as MEMO_MAX_ENTRIES
from telemetry.pii import IDENTIFIER_KEYS, PiiGuard, PiiPolicy, PiiReport, looks_like_secret
from telemetry.policy import _MAX_ADMITTED_NAMES as ADMITTED_NAMES_MAX
from telemetry.policy import EventPolicy

from ._support import AMP_KEY, GA_SECRET, raw_bodies
from .conftest import MakeManager

ALICE = PiiPolicy(user_names=("alice",), home_dirs=("/home/alice", "C:\\Users\\alice"))
PROPERTY = settings(max_examples=300, deadline=None, database=None)


def redacted(text: str, policy: PiiPolicy = ALICE) -> str:
    return PiiGuard(policy).redact(text)[0]


def random_token(rng: random.Random, length: int) -> str:
    """What `secrets.token_urlsafe` makes, from a seeded generator."""
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(rng.choice(alphabet) for _ in range(length))


path_components = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=12)


class TestEachKindIsFoundAndRedacted:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("contact alice.smith+tag@example.co.uk now", "contact [email] now"),
            ("from 192.168.10.20.", "from [ip]."),
            ("v6 2001:db8::8a2e:370:7334 here", "v6 [ip] here"),
            ("call +61 2 9876 5432", "call [phone]"),
            ("office (02) 9876 5432", "office [phone]"),
            ("us 555-123-4567", "us [phone]"),
            ("/home/alice/data/run1.mseed", "~/data/run1.mseed"),
            ("C:\\Users\\alice\\waveforms", "~\\waveforms"),
            ("c:/users/ALICE/waveforms", "~/waveforms"),
            ("/home/bob/data", "/home/[user]/data"),
            ("/Users/carol/Desktop", "/Users/[user]/Desktop"),
            ("D:\\Users\\dave\\x", "D:\\Users\\[user]\\x"),
            ("/scratch/alice/run1", "/scratch/[user]/run1"),
            ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w", "token [secret]"),
            ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "key [secret]"),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws [secret]"),
            ("hex d11cbdb3ea840b7b573d68e4cf8a4838", "hex [secret]"),
        ],
    )
    def test_a_finding_is_replaced_by_its_marker(self, text: str, expected: str) -> None:
        assert redacted(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "/event-search",
            "/main-flows/step1-event-search",
            "2024-01-15T12:30:45Z",
            "12:30:45",
            "2024.015",
            "-33.8688, 151.2093",
            "version 1.2.3",
            "1234567890",
            "550e8400-e29b-41d4-a716-446655440000",
            "workflow_step_2_completed_successfully_ok",
            "SeismicWaveformDownloadCompletedSuccessfully2",
            "XYZ_STATION_WAVEFORM_DOWNLOAD_2024_01_15_BHZ",
            "AU.ABC.00.BHZ.D.2024.015",
            "/Users/Shared/data",
            "/data/alicexyz/run1",
            "event_based",
        ],
    )
    def test_ordinary_app_values_pass_unchanged(self, text: str) -> None:
        assert redacted(text) == text

    def test_the_real_users_home_and_name_are_found_without_configuration(self) -> None:
        guard = PiiGuard()
        home = str(Path.home())
        if home in ("/", ""):
            pytest.skip("this process has no home directory")

        text, kinds = guard.redact(f"{home}/project/data.csv")

        assert text == "~/project/data.csv"
        assert kinds == {"home": 1}

    def test_a_configured_secret_is_found_wherever_it_appears(self, make_manager: MakeManager) -> None:
        make_manager()  # building the manager registers GA_SECRET and AMP_KEY

        text, kinds = PiiGuard(ALICE).redact(f"key={AMP_KEY};s={GA_SECRET}")

        assert text == "key=[secret];s=[secret]"
        assert kinds == {"secret": 2}


class TestPropertiesOfTheGuard:
    @settings(max_examples=100, deadline=None, database=None)
    @given(address=st.emails(), before=st.sampled_from(["", "to ", "mail: ", "("]))
    def test_every_email_address_is_removed(self, address: str, before: str) -> None:
        text = redacted(f"{before}{address} end")

        assert address not in text
        assert "@" not in text

    @PROPERTY
    @given(address=st.ip_addresses().filter(lambda a: not a.is_unspecified))
    def test_every_ip_address_is_removed(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> None:
        text = redacted(f"client {address} connected")

        assert text == "client [ip] connected"

    @PROPERTY
    @given(parts=st.lists(path_components, max_size=5), windows=st.booleans())
    def test_no_path_under_the_home_directory_keeps_the_user_name(
        self, parts: list[str], windows: bool
    ) -> None:
        text = "C:\\Users\\alice\\" + "\\".join(parts) if windows else "/home/alice/" + "/".join(parts)

        assert "alice" not in redacted(text).lower()

    @PROPERTY
    @given(prefix=st.lists(path_components, max_size=3), suffix=st.lists(path_components, max_size=3))
    def test_the_user_name_as_a_path_component_is_removed(self, prefix: list[str], suffix: list[str]) -> None:
        text = "/" + "/".join([*prefix, "alice", *suffix])

        assert "/alice" not in redacted(text).lower()

    def test_almost_every_random_token_is_recognised_as_a_secret(self) -> None:
        rng = random.Random(20240115)
        tokens = [random_token(rng, rng.randint(32, 64)) for _ in range(4000)]
        hex_tokens = ["".join(rng.choice("0123456789abcdef") for _ in range(32)) for _ in range(1000)]

        missed = [t for t in tokens if not looks_like_secret(t)]

        assert len(missed) <= len(tokens) // 200  # at most 0.5 %; measured 0.03 %
        assert all(looks_like_secret(t) for t in hex_tokens)

    @PROPERTY
    @given(value=st.uuids())
    def test_uuids_are_identifiers_not_secrets(self, value: uuid.UUID) -> None:
        assert redacted(str(value)) == str(value)

    @PROPERTY
    @given(
        words=st.lists(st.sampled_from(["event", "based", "download", "station", "step", "2"]), min_size=6)
    )
    def test_identifiers_made_of_words_are_not_secrets(self, words: list[str]) -> None:
        text = "_".join(words)

        assert redacted(text) == text


class TestPolicy:
    def test_drop_removes_the_whole_param(self) -> None:
        guard = PiiGuard(PiiPolicy(action="drop", user_names=(), home_dirs=()))

        params, report = guard.clean_params({"contact": "a@b.example", "n": 3, "ok": "fine"})

        assert params == {"n": 3, "ok": "fine"}
        assert report.dropped == {"email": 1}

    def test_actions_per_kind_override_the_default(self) -> None:
        policy = PiiPolicy(actions={"ip": "keep", "email": "drop"}, user_names=(), home_dirs=())

        params, report = PiiGuard(policy).clean_params({"host": "10.0.0.1", "mail": "a@b.example", "x": 1})

        assert params == {"host": "10.0.0.1", "x": 1}
        assert report.dropped == {"email": 1}
        assert report.redacted == {}

    def test_a_finding_deep_inside_a_param_is_redacted_in_place(self) -> None:
        params, report = PiiGuard(ALICE).clean_params(
            {"files": ["/home/alice/a.csv", {"owner": "bob@example.org"}], "alice@example.org": 1}
        )

        assert params == {"files": ["~/a.csv", {"owner": "[email]"}], "[email]": 1}
        assert report.redacted == {"home": 1, "email": 2}

    @pytest.mark.parametrize("key", sorted(IDENTIFIER_KEYS | {"$user_id", "Email", "IP"}))
    def test_params_named_like_a_user_identifier_are_dropped(self, key: str) -> None:
        params, report = PiiGuard(ALICE).clean_params({key: "anything", "kept": 1})

        assert params == {"kept": 1}
        assert report.dropped == {"identifier": 1}

    def test_allowed_keys_are_never_scanned(self) -> None:
        policy = PiiPolicy(allow_keys=frozenset({"server"}), user_names=(), home_dirs=())

        params, _ = PiiGuard(policy).clean_params({"server": "10.0.0.1", "client": "10.0.0.2"})

        assert params == {"server": "10.0.0.1", "client": "[ip]"}

    def test_a_disabled_guard_changes_nothing(self) -> None:
        policy = PiiPolicy(enabled=False)
        original = {"mail": "a@b.example", "user_id": "u1"}

        assert PiiGuard(policy).clean_params(original)[0] == original

    @pytest.mark.parametrize("bad", [{"action": "hide"}, {"actions": {"mac": "drop"}}])
    def test_an_unknown_action_or_kind_is_a_loud_error(self, bad: dict[str, Any]) -> None:
        with pytest.raises(ValueError, match="unknown PII"):
            PiiPolicy(**bad)

    @settings(max_examples=100, deadline=None, database=None)
    @given(text=st.text(max_size=2000))
    def test_the_guard_never_raises_and_is_idempotent(self, text: str) -> None:
        once = redacted(text)

        assert redacted(once) == once

    def test_pathological_values_are_scanned_without_quadratic_blowup(self) -> None:
        guard = PiiGuard(ALICE)
        hostile = [
            "a" * 10_000 + "@",
            "a." * 5_000 + "@x",
            "1." * 5_000,
            "+1" + " 2" * 5_000,
            "/" * 10_000,
            "aB3" * 3_400,
            "1:" * 5_000,
            "eyJ" + "a" * 10_000,
        ]
        started = time.monotonic()

        for text in hostile:
            guard.redact(text)

        assert time.monotonic() - started < 2.0  # linear scans take milliseconds; quadratic ones, minutes


class TestTheGuardRemembersWhatItScanned:
    """Params repeat a small vocabulary, so the guard keeps its verdict per string; the memo must
    never keep a verdict that has become wrong, nor grow without bound."""

    def test_a_value_scanned_before_a_secret_was_configured_is_redacted_after(self) -> None:
        guard = PiiGuard(ALICE)
        value = "token memo-secret-value-9f3e2d1c0b"
        assert guard.clean_params({"note": value})[0] == {"note": value}

        register_secret("memo-secret-value-9f3e2d1c0b")

        cleaned, report = guard.clean_params({"note": value})
        assert "memo-secret-value-9f3e2d1c0b" not in json.dumps(cleaned)
        assert report.redacted == {"secret": 1}

    def test_an_event_name_sent_before_a_secret_was_configured_is_dropped_after(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(policy=EventPolicy(pii=ALICE))
        name = "deploy_namesecret4b7d9e2a61"
        manager.track_event(name)
        assert manager.flush()

        register_secret("namesecret4b7d9e2a61")
        manager.track_event(name)
        assert manager.flush()

        assert [e.name for e in fake_server.events()] == [name, name]  # the first event, two vendors
        assert manager.stats()["GA4"]["privacy"]["events_dropped"] == {"pii": 1}

    def test_the_event_names_the_policy_remembers_stay_bounded(self) -> None:
        policy = EventPolicy(pii=ALICE)

        for n in range(3 * ADMITTED_NAMES_MAX):
            event = Event(EVENT, f"event_{n}", {}, 0.0, n, "prefix")
            assert policy.admit(None, event) is event  # type: ignore[arg-type]  # unused when admitted

        assert len(policy._admitted) <= ADMITTED_NAMES_MAX

    def test_a_remembered_finding_is_counted_every_time_it_is_seen(self) -> None:
        guard = PiiGuard(ALICE)

        reports = [guard.clean_params({"contact": "mail me at a@example.com"})[1] for _ in range(3)]

        assert [r.redacted for r in reports] == [{"email": 1}] * 3

    def test_the_memo_stays_bounded(self) -> None:
        guard = PiiGuard(ALICE)

        for n in range(3 * MEMO_MAX_ENTRIES):
            guard.redact(f"page-{n}")
        for n in range(3 * MEMO_MAX_ENTRIES):
            name = "".join(string.ascii_lowercase[int(d)] for d in str(n))  # no digits: nothing to find
            assert guard.clean_params({name: 1})[0] == {name: 1}

        assert len(guard._memo) <= MEMO_MAX_ENTRIES
        assert len(guard._plain_keys) <= MEMO_MAX_ENTRIES

    @PROPERTY
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["plan", "note", "email", "path", "n", "user_id", "pw"]),
                st.sampled_from(
                    [None, True, 3, 2.5, "pro", "a@example.com", "/home/alice/x", "203.0.113.9", "x" * 300]
                ),
            ),
            max_size=6,
        )
    )
    def test_params_the_guard_knows_as_plain_are_exactly_what_a_scan_would_return(
        self, history: list[tuple[str, Any]]
    ) -> None:
        # What lets the first provider skip the scan of an event: the shortcut must never say
        # "plain" where a scan would redact, drop or count anything.
        guard = PiiGuard(ALICE)
        for n in range(len(history) + 1):
            params = dict(history[:n])
            known = guard.knows_plain(params)
            cleaned, report = guard.clean_params(params)
            if known:
                assert cleaned == params
                assert not report

    def test_params_scanned_once_without_a_finding_are_known_as_plain(self) -> None:
        guard = PiiGuard(ALICE)
        plain = {"plan": "pro", "n": 42, "flag": True, "ratio": 0.5, "none": None}
        assert not guard.knows_plain(plain)  # nothing remembered yet
        guard.clean_params(plain)
        assert guard.knows_plain(plain)
        assert not guard.knows_plain({**plain, "plan": "enterprise"})  # text not scanned yet
        assert not guard.knows_plain({**plain, "note": "pro"})  # a name not seen yet
        guard.clean_params({"plan": "mail a@example.com"})
        assert not guard.knows_plain({**plain, "plan": "mail a@example.com"})  # a finding
        assert not guard.knows_plain({**plain, "n": [1]})  # a container is scanned inside

    @pytest.mark.parametrize(
        ("value", "kind"),
        [("mail a@example.com", "email"), ("/home/alice/x", "home"), ("203.0.113.9", "ip")],
    )
    def test_a_param_name_seen_with_plain_values_still_has_a_personal_value_redacted(
        self, value: str, kind: str
    ) -> None:
        guard = PiiGuard(ALICE)
        for _ in range(3):  # the name is now known to need no scan, and so is "plain"
            assert guard.clean_params({"note": "plain", "n": 1}) == ({"note": "plain", "n": 1}, PiiReport())

        for _ in range(2):  # the second time from the memo
            cleaned, report = guard.clean_params({"note": value, "n": 1})
            assert value not in json.dumps(cleaned)
            assert report.redacted == {kind: 1}
            assert cleaned["n"] == 1


class TestThroughAManager:
    def test_no_personal_value_reaches_a_vendor_and_each_finding_is_counted(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(policy=EventPolicy(pii=ALICE))
        manager.track_event(
            "file_opened",
            {
                "path": "/home/alice/data/AU.ABC.mseed",
                "shared_by": "alice@example.org",
                "server": "203.0.113.9",
                "note": "ring +61 2 9876 5432",
                "user_id": "alice",
                "rows": 12,
            },
        )
        manager.track_page_view("/home/alice/report", "Report")
        assert manager.flush()

        wire = raw_bodies(fake_server)
        for personal in ("alice", "example.org", "203.0.113.9", "9876"):
            assert personal not in wire
        ga4 = [e for e in fake_server.events("ga4") if e.name == "file_opened"]
        assert ga4[0].params["path"] == "~/data/AU.ABC.mseed"
        assert ga4[0].params["rows"] == 12
        assert "user_id" not in ga4[0].params
        for provider in ("GA4", "Amplitude"):
            privacy = manager.stats()[provider]["privacy"]
            assert privacy["pii_redacted"] == {"home": 2, "email": 1, "ip": 1, "phone": 1}
            assert privacy["pii_params_dropped"] == {"identifier": 1}

    def test_a_secret_passed_as_a_param_never_reaches_a_vendor(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager()
        manager.track_event("configured", {"debug": f"key is {AMP_KEY}", "other": GA_SECRET})
        manager.set_user_properties({"plan": AMP_KEY})
        assert manager.flush()

        assert len(fake_server.events()) >= 3
        bodies = [r.body.decode() for r in fake_server.requests()]
        assert not any(AMP_KEY in b for b in bodies if '"api_key"' not in b)  # Amplitude's own auth field
        assert all(b.count(AMP_KEY) <= 1 for b in bodies)
        assert not any(GA_SECRET in b for b in bodies)
        amplitude = [e for e in fake_server.events("amplitude") if e.name == "configured"]
        assert amplitude[0].params["debug"] == "key is [secret]"

    def test_an_event_whose_name_holds_personal_data_is_dropped_and_counted(
        self, make_manager: MakeManager, fake_server: Any
    ) -> None:
        manager = make_manager(policy=EventPolicy(pii=ALICE))
        manager.track_event("opened /home/alice/secret-plans")
        manager.track_event("mail to bob@example.org")
        manager.track_event("kept")
        assert manager.flush()

        assert sorted(e.name for e in fake_server.events()) == ["kept", "kept"]
        assert manager.stats()["GA4"]["privacy"]["events_dropped"] == {"pii": 2}
        assert "alice" not in json.dumps(manager.stats())
