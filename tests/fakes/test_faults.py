"""Fault injection over real loopback HTTP: which requests a fault hits, and what each kind does."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
import requests

from fakes import FakeRequest, FakeResponse, FakeServer, Handled
from fakes._faults import MALFORMED_BODY
from fakes.ga4 import GA4Fake

BODY = {"client_id": "1.2", "events": [{"name": "signup"}]}
COLLECT = "/mp/collect?measurement_id=G-1&api_secret=s"


@dataclass
class DocumentedErrorsFake:
    """A vendor that documents its own 429 and 413 bodies, like Amplitude and Mixpanel."""

    name: str = "documented"
    routes: tuple[str, ...] = ("/ingest",)

    def handle(self, request: FakeRequest) -> Handled:
        return Handled(FakeResponse.json(200, {"code": 200}))

    def reset(self) -> None:
        pass

    def error_body(self, status: int) -> FakeResponse | None:
        if status == 429:
            return FakeResponse.json(429, {"code": 429, "error": "Too many requests"})
        if status == 413:
            return FakeResponse.json(413, {"code": 413, "error": "Payload too large"})
        return None


def post_in_background(url: str) -> tuple[threading.Thread, list[Exception]]:
    """POST BODY from a thread (10 s timeout); the list collects the error it ends with."""
    errors: list[Exception] = []

    def send() -> None:
        with requests.Session() as session:
            session.trust_env = False
            try:
                session.post(url, json=BODY, timeout=10)
            except requests.RequestException as error:
                errors.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    return sender, errors


def statuses(session: requests.Session, url: str, n: int) -> list[int]:
    return [session.post(url, json=BODY).status_code for _ in range(n)]


class TestWhichRequestsAreHit:
    def test_counted_fault_hits_only_the_next_n_requests(self, ga4_server, session):
        """count=2 fails two requests, then the route answers normally."""
        handle = ga4_server.faults.add("status", status=500, count=2)
        assert statuses(session, ga4_server.url(COLLECT), 4) == [500, 500, 204, 204]
        assert (handle.hits, handle.remaining) == (2, 0)

    def test_route_fault_leaves_other_routes_alone(self, ga4_server, session):
        """A fault on /debug/mp/collect does not touch /mp/collect."""
        ga4_server.faults.add("status", route="/debug/mp/collect", status=502)
        assert session.post(ga4_server.url(COLLECT), json=BODY).status_code == 204
        assert session.post(ga4_server.url("/debug/mp/collect"), json=BODY).status_code == 502

    def test_fault_without_route_hits_every_vendor_route_but_not_inspection(self, ga4_server, session):
        """route=None covers vendor routes; /_fakes/ stays usable for the test."""
        ga4_server.faults.add("status", status=503)
        assert session.post(ga4_server.url(COLLECT), json=BODY).status_code == 503
        assert session.post(ga4_server.url("/debug/mp/collect"), json=BODY).status_code == 503
        assert session.get(ga4_server.url("/_fakes/health")).status_code == 200

    def test_seeded_probability_fault_is_reproducible(self, fake_server_factory, session):
        """The same seed gives the same sequence of hits on a fresh server."""
        runs = []
        for _ in range(2):
            server = fake_server_factory([GA4Fake()])
            server.faults.add("status", status=500, probability=0.5, seed=7)
            runs.append(statuses(session, server.url(COLLECT), 30))
        assert runs[0] == runs[1]
        assert set(runs[0]) == {204, 500}

    @pytest.mark.parametrize(("probability", "expected"), [(0.0, {204}), (1.0, {500})])
    def test_probability_bounds_mean_never_and_always(self, ga4_server, session, probability,
                                                      expected):  # fmt: skip
        """probability=0 never fires and probability=1 always does."""
        ga4_server.faults.add("status", probability=probability, seed=1)
        assert set(statuses(session, ga4_server.url(COLLECT), 10)) == expected

    def test_probability_and_count_together_cap_the_hits(self, ga4_server, session):
        """With both, the fault fires at random but at most `count` times."""
        ga4_server.faults.add("status", probability=1.0, count=3, seed=1)
        assert statuses(session, ga4_server.url(COLLECT), 5) == [500, 500, 500, 204, 204]

    def test_removed_and_cleared_faults_stop_applying(self, ga4_server, session):
        """handle.remove() and faults.clear() both take effect for the next request."""
        handle = ga4_server.faults.add("status", status=500)
        handle.remove()
        assert statuses(session, ga4_server.url(COLLECT), 1) == [204]
        ga4_server.faults.add("413")
        ga4_server.faults.clear()
        assert statuses(session, ga4_server.url(COLLECT), 1) == [204]

    def test_first_added_error_fault_wins(self, ga4_server, session):
        """Of two matching error faults, the earlier one decides the answer."""
        ga4_server.faults.add("status", status=502, count=1)
        ga4_server.faults.add("status", status=503, count=1)
        assert statuses(session, ga4_server.url(COLLECT), 3) == [502, 503, 204]

    @pytest.mark.parametrize(
        ("kind", "options"),
        [
            pytest.param("explode", {}, id="unknown kind"),
            pytest.param("latency", {}, id="latency without seconds"),
            pytest.param("status", {"status": 99}, id="status out of range"),
            pytest.param("hang", {"count": -1}, id="negative count"),
            pytest.param("hang", {"route": "mp/collect"}, id="route without slash"),
        ],
    )
    def test_invalid_fault_is_refused(self, ga4_server, kind, options):
        """Mistakes in a fault are reported when it is added, not when it would fire."""
        with pytest.raises(ValueError):  # noqa: PT011 - several distinct messages
            ga4_server.faults.add(kind, **options)


class TestFaultKinds:
    def test_latency_delays_then_answers_normally_and_counts_events(self, ga4_server, session):
        """A latency fault adds its seconds and the events still count as received."""
        ga4_server.faults.add("latency", latency=0.2, count=1)
        started = time.monotonic()
        assert session.post(ga4_server.url(COLLECT), json=BODY).status_code == 204
        assert time.monotonic() - started >= 0.2
        (recorded,) = ga4_server.requests()
        assert (recorded.fault, recorded.latency) == ("latency", 0.2)
        assert len(ga4_server.events()) == 1

    def test_latency_stacks_with_an_error_fault(self, ga4_server, session):
        """Latency faults apply on top of the fault that decides the answer."""
        ga4_server.faults.add("latency", latency=0.1, count=1)
        ga4_server.faults.add("status", status=503, latency=0.1, count=1)
        started = time.monotonic()
        assert session.post(ga4_server.url(COLLECT), json=BODY).status_code == 503
        assert time.monotonic() - started >= 0.2
        assert ga4_server.requests()[0].latency == pytest.approx(0.2)

    def test_hang_makes_a_client_with_a_short_timeout_time_out(self, ga4_server, session):
        """The request is accepted and never answered; the client's read timeout fires."""
        ga4_server.faults.add("hang", count=1)
        with pytest.raises(requests.ReadTimeout):
            session.post(ga4_server.url(COLLECT), json=BODY, timeout=0.3)
        (recorded,) = ga4_server.requests()
        assert (recorded.fault, recorded.status) == ("hang", None)
        assert ga4_server.events() == []

    def test_hang_is_recorded_while_it_is_held(self, ga4_server):
        """A hanging request shows up in requests() at once, so a test can wait for it."""
        ga4_server.faults.add("hang")
        sender, errors = post_in_background(ga4_server.url(COLLECT))
        (held,) = ga4_server.wait_for_requests(1, timeout=5)
        assert held.fault == "hang"
        ga4_server.faults.clear()  # releases the request: its connection is closed unanswered
        sender.join(timeout=5)
        assert isinstance(errors[0], requests.ConnectionError)

    def test_stop_returns_promptly_while_a_hang_is_held(self):
        """stop() releases hanging requests instead of waiting for them."""
        server = FakeServer([GA4Fake()]).start()
        server.faults.add("hang")
        sender, errors = post_in_background(server.url(COLLECT))
        server.wait_for_requests(1, timeout=5)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1.0
        sender.join(timeout=5)
        assert isinstance(errors[0], requests.ConnectionError)

    def test_close_gives_the_client_a_connection_error(self, ga4_server, session):
        """The connection is cut mid-response (a partial status line), then closed."""
        ga4_server.faults.add("close", count=1)
        with pytest.raises(requests.ConnectionError):
            session.post(ga4_server.url(COLLECT), json=BODY)
        assert ga4_server.requests()[0].fault == "close"
        assert ga4_server.events() == []
        assert session.post(ga4_server.url(COLLECT), json=BODY).status_code == 204

    def test_status_fault_answers_any_code_with_an_optional_body(self, ga4_server, session):
        """status=502 with a body; the request is recorded with the fault, its events are not."""
        ga4_server.faults.add("status", status=502, body="bad gateway", count=1)
        response = session.post(ga4_server.url(COLLECT), json=BODY)
        assert (response.status_code, response.text) == (502, "bad gateway")
        (recorded,) = ga4_server.requests()
        assert (recorded.fault, recorded.status) == ("status", 502)
        assert ga4_server.events() == []

    def test_status_fault_can_carry_retry_after(self, ga4_server, session):
        """A 503 can advertise Retry-After too."""
        ga4_server.faults.add("status", status=503, retry_after=7)
        assert session.post(ga4_server.url(COLLECT), json=BODY).headers["Retry-After"] == "7"

    def test_429_has_retry_after_and_an_empty_body_for_ga4(self, ga4_server, session):
        """GA4 documents no 429 body, so the fake sends none; Retry-After defaults to 1 s."""
        ga4_server.faults.add("429")
        response = session.post(ga4_server.url(COLLECT), json=BODY)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert response.content == b""

    def test_429_uses_the_vendors_documented_body(self, fake_server_factory, session):
        """A vendor's error_body(429) is what the fault sends, with the chosen Retry-After."""
        server = fake_server_factory([DocumentedErrorsFake()])
        server.faults.add("429", retry_after=30)
        response = session.post(server.url("/ingest"), json={})
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "30"
        assert response.json() == {"code": 429, "error": "Too many requests"}

    def test_413_uses_the_vendors_documented_body(self, fake_server_factory, session):
        """A vendor's error_body(413) is what a 413 fault sends."""
        server = fake_server_factory([DocumentedErrorsFake()])
        server.faults.add(413)
        response = session.post(server.url("/ingest"), json={})
        assert (response.status_code, response.json()["code"]) == (413, 413)
        assert "Retry-After" not in response.headers

    def test_malformed_answers_200_with_a_body_that_is_not_json(self, ga4_server, session):
        """A garbage 200 whose events are not counted as received."""
        ga4_server.faults.add("malformed")
        response = session.post(ga4_server.url(COLLECT), json=BODY)
        assert response.status_code == 200
        assert response.content == MALFORMED_BODY
        with pytest.raises(requests.JSONDecodeError):
            response.json()
        assert ga4_server.events() == []
