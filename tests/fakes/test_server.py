"""FakeServer over real loopback HTTP: lifecycle, routing, keep-alive, recording, inspection API."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import BinaryIO

import pytest
import requests

from fakes import FakeRequest, FakeResponse, FakeServer, Handled, ReceivedEvent, WaitTimeout
from fakes.ga4 import GA4Fake

BODY = {"client_id": "1.2", "events": [{"name": "signup"}]}
COLLECT = "/mp/collect?measurement_id=G-1&api_secret=s"


@dataclass
class EchoFake:
    """A minimal vendor: every request yields one event named after its body."""

    name: str = "echo"
    routes: tuple[str, ...] = ("/echo",)
    resets: int = 0
    crash: bool = False
    seen: list[str] = field(default_factory=list)

    def handle(self, request: FakeRequest) -> Handled:
        if self.crash:
            raise RuntimeError("boom")
        text = request.body.decode()
        self.seen.append(text)
        event = ReceivedEvent("echo", "event", text, {}, None, None, None, None)
        return Handled(FakeResponse.json(200, {"echo": text}), (event,))

    def reset(self) -> None:
        self.resets += 1
        self.seen.clear()


def raw_exchange(server: FakeServer, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def read_response(reader: BinaryIO) -> tuple[bytes, bytes]:
    """Read one HTTP response (head, then a body of Content-Length bytes) from a socket file."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()
        assert line, "connection closed mid-response"
        head += line
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, reader.read(length)


class TestLifecycle:
    def test_context_manager_serves_on_a_free_loopback_port(self, session):
        """`with FakeServer()` binds 127.0.0.1 on a free port and stops on exit."""
        with FakeServer([GA4Fake()]) as server:
            assert server.base_url == f"http://127.0.0.1:{server.port}"
            assert server.port > 0
            assert session.get(server.url("/_fakes/health")).json()["status"] == "ok"
            old_url = server.url("/_fakes/health")
        assert not server.running
        with pytest.raises(requests.ConnectionError):
            session.get(old_url, timeout=2)

    def test_port_is_free_again_after_stop(self):
        """stop() closes the listening socket so the port can be bound again."""
        server = FakeServer([GA4Fake()]).start()
        port = server.port
        server.stop()
        with FakeServer([GA4Fake()], port=port) as again:
            assert again.port == port

    def test_stop_is_idempotent_and_restart_works(self, session):
        """stop() twice is harmless, and a stopped server can start again."""
        server = FakeServer([GA4Fake()]).start()
        server.stop()
        server.stop()
        server.start()
        try:
            assert session.get(server.url("/_fakes/health")).status_code == 200
        finally:
            server.stop()

    def test_starting_twice_is_an_error(self, ga4_server):
        """A running server refuses a second start()."""
        with pytest.raises(RuntimeError, match="already running"):
            ga4_server.start()

    def test_base_url_before_start_is_an_error(self):
        """There is no port until the server is started."""
        with pytest.raises(RuntimeError, match="not running"):
            _ = FakeServer([GA4Fake()]).base_url

    def test_stop_closes_idle_keep_alive_connections(self):
        """A client holding an idle keep-alive connection sees it closed by stop()."""
        server = FakeServer([GA4Fake()]).start()
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(b"GET /_fakes/health HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _ = read_response(sock.makefile("rb"))
            assert head.startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 1.0
            assert sock.recv(1) == b""


class TestRouting:
    def test_default_server_hosts_every_vendor(self, fake_server, session):
        """The pytest fixture's server serves GA4, Amplitude and Mixpanel routes."""
        vendors = session.get(fake_server.url("/_fakes/health")).json()["vendors"]
        assert set(vendors) == {"ga4", "amplitude", "mixpanel", "rudderstack"}
        assert vendors["ga4"] == ["/mp/collect", "/debug/mp/collect"]
        assert "/2/httpapi" in vendors["amplitude"]
        assert "/track" in vendors["mixpanel"]

    def test_request_is_routed_by_exact_path_ignoring_the_query(self, fake_server_factory, session):
        """/echo?x=1 goes to the vendor listing /echo."""
        echo = EchoFake()
        server = fake_server_factory([echo, GA4Fake()])
        response = session.post(server.url("/echo?x=1"), data=b"hi")
        assert response.json() == {"echo": "hi"}
        assert echo.seen == ["hi"]
        assert server.requests()[0].vendor == "echo"

    def test_unknown_path_gets_404_json_and_is_recorded(self, ga4_server, session):
        """Paths no vendor lists are answered 404 with a JSON body, and recorded."""
        response = session.post(ga4_server.url("/mp/collect/extra"), data=b"{}")
        assert response.status_code == 404
        assert response.json()["path"] == "/mp/collect/extra"
        (recorded,) = ga4_server.requests()
        assert (recorded.vendor, recorded.status) == (None, 404)

    def test_two_vendors_claiming_one_route_is_an_error(self):
        """Routing must be unambiguous."""
        with pytest.raises(ValueError, match="served by both"):
            FakeServer([EchoFake(), EchoFake(name="other")])

    def test_vendor_that_raises_answers_500_with_the_traceback(self, fake_server_factory, session):
        """A bug in a fake becomes a visible 500, not a silently dead connection."""
        server = fake_server_factory([EchoFake(crash=True)])
        response = session.post(server.url("/echo"), data=b"x")
        assert response.status_code == 500
        assert "RuntimeError: boom" in response.text
        assert server.requests()[0].status == 500


class TestHttpHandling:
    def test_keep_alive_requests_do_not_stall_on_nagle(self, ga4_server, session):
        """100 requests on one connection take far less than the 4 s a 40 ms stall would cost."""
        url = ga4_server.url(COLLECT)
        started = time.monotonic()
        for _ in range(100):
            session.post(url, json=BODY)
        assert time.monotonic() - started < 2.0
        assert len(ga4_server.events()) == 100

    def test_pipelined_requests_on_one_connection_are_all_answered(self, ga4_server):
        """Several requests sent at once on one socket get their answers in order."""
        request = (
            f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\nContent-Length: 47\r\n\r\n"
            '{"client_id":"1.2","events":[{"name":"piped"}]}'
        ).encode()
        with socket.create_connection((ga4_server.host, ga4_server.port), timeout=5) as sock:
            sock.sendall(request * 3)
            reader = sock.makefile("rb")
            for _ in range(3):
                head, body = read_response(reader)
                assert head.startswith(b"HTTP/1.1 204 No Content\r\n")
                assert b"content-length" not in head.lower()
                assert body == b""
        assert [e.name for e in ga4_server.events()] == ["piped"] * 3

    def test_http_1_0_request_gets_its_connection_closed(self, ga4_server):
        """HTTP/1.0 without keep-alive: one answer, then the server closes."""
        answer = raw_exchange(ga4_server, b"GET /_fakes/health HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Connection: close\r\n" in answer

    def test_connection_close_header_is_honoured(self, ga4_server):
        """`Connection: close` ends the connection after the answer."""
        answer = raw_exchange(ga4_server, b"GET /_fakes/health HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert answer.endswith(b'"status": "ok", "vendors": {"ga4": ["/mp/collect", '
                               b'"/debug/mp/collect"]}}')  # fmt: skip

    def test_chunked_body_is_decoded(self, ga4_server):
        """Transfer-Encoding: chunked bodies reach the vendor whole."""
        body = b'{"client_id":"1.2","events":[{"name":"chunky"}]}'
        chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
        request = (
            f"POST {COLLECT} HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        assert raw_exchange(ga4_server, request + chunked).startswith(b"HTTP/1.1 204")
        assert ga4_server.events()[0].name == "chunky"

    def test_expect_100_continue_is_answered(self, ga4_server):
        """Clients that wait for `100 Continue` before the body are not left hanging."""
        body = b'{"client_id":"1.2","events":[{"name":"e"}]}'
        with socket.create_connection((ga4_server.host, ga4_server.port), timeout=5) as sock:
            sock.sendall(
                f"POST {COLLECT} HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\n\r\n".encode()
            )
            reader = sock.makefile("rb")
            assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"
            assert reader.readline() == b"\r\n"
            sock.sendall(body)
            head, _ = read_response(reader)
        assert head.startswith(b"HTTP/1.1 204")

    def test_garbage_request_line_gets_400_and_a_close(self, ga4_server):
        """A request that is not HTTP is refused."""
        assert raw_exchange(ga4_server, b"HELLO\r\n\r\n").startswith(b"HTTP/1.1 400 Bad Request")


class TestRecording:
    def test_requests_records_every_detail(self, ga4_server, session):
        """Method, path, query, lower-case headers, body, vendor, status and monotonic time."""
        before = time.monotonic()
        session.post(ga4_server.url(COLLECT), json=BODY, headers={"X-Trace": "t1"})
        (recorded,) = ga4_server.requests()
        assert (recorded.method, recorded.path) == ("POST", "/mp/collect")
        assert recorded.query == {"measurement_id": ["G-1"], "api_secret": ["s"]}
        assert recorded.headers["x-trace"] == "t1"
        assert recorded.json() == BODY
        assert (recorded.vendor, recorded.status, recorded.fault) == ("ga4", 204, None)
        assert before <= recorded.time <= time.monotonic()
        assert [e.name for e in recorded.events] == ["signup"]

    def test_events_filter_by_vendor_and_kind(self, fake_server_factory, session):
        """events(vendor=, kind=) select among everything received."""
        server = fake_server_factory([GA4Fake(), EchoFake()])
        session.post(server.url("/echo"), data=b"hello")
        session.post(server.url(COLLECT), json={"client_id": "1.2", "events": [
            {"name": "page_view"}, {"name": "signup"}]})  # fmt: skip
        assert [e.name for e in server.events()] == ["hello", "page_view", "signup"]
        assert [e.name for e in server.events("ga4")] == ["page_view", "signup"]
        assert [e.name for e in server.events("ga4", kind="page_view")] == ["page_view"]
        assert [e.name for e in server.events(kind="event")] == ["hello", "signup"]

    def test_wait_for_returns_once_events_sent_from_another_thread_arrive(self, ga4_server):
        """wait_for blocks on a condition until the events are recorded."""
        url = ga4_server.url(COLLECT)

        def send() -> None:
            with requests.Session() as s:
                s.trust_env = False
                for _ in range(3):
                    s.post(url, json=BODY)

        sender = threading.Thread(target=send)
        sender.start()
        events = ga4_server.wait_for(3, timeout=5, vendor="ga4")
        sender.join()
        assert [e.name for e in events] == ["signup"] * 3

    def test_wait_for_timeout_says_what_did_arrive(self, ga4_server, session):
        """The timeout error is both an AssertionError and a TimeoutError, with a summary."""
        session.post(ga4_server.url(COLLECT), json=BODY)
        with pytest.raises(WaitTimeout) as caught:
            ga4_server.wait_for(2, timeout=0.05, kind="event")
        message = str(caught.value)
        assert "waiting for 2 event(s) with kind='event': 1 matched" in message
        assert "POST /mp/collect vendor=ga4 status=204 events=1" in message
        assert "ga4 event 'signup' client_id=1.2 accepted" in message
        assert isinstance(caught.value, AssertionError)
        assert isinstance(caught.value, TimeoutError)

    def test_wait_for_requests_filters_by_path(self, ga4_server, session):
        """wait_for_requests counts only the given path."""
        session.post(ga4_server.url(COLLECT), json=BODY)
        session.post(ga4_server.url("/debug/mp/collect"), json=BODY)
        (debug,) = ga4_server.wait_for_requests(1, timeout=1, path="/debug/mp/collect")
        assert debug.status == 200
        with pytest.raises(TimeoutError):
            ga4_server.wait_for_requests(2, timeout=0.05, path="/debug/mp/collect")

    def test_clear_forgets_recordings_and_resets_vendors(self, fake_server_factory, session):
        """clear() empties requests and events and calls reset() on every vendor once."""
        echo = EchoFake()
        server = fake_server_factory([echo])
        session.post(server.url("/echo"), data=b"x")
        server.clear()
        assert server.requests() == []
        assert server.events() == []
        assert echo.resets == 1

    def test_record_false_keeps_nothing_yet_answers_checks_and_reports_each_request(
        self, fake_server_factory, session
    ):
        """A load server (record=False) answers and checks as usual and hands every request to
        on_request, but keeps none of them for inspection."""
        seen: list[tuple[int | None, list[str]]] = []
        server = fake_server_factory(
            [GA4Fake()],
            record=False,
            on_request=lambda r: seen.append((r.status, [e.name for e in r.events])),
        )
        for name in ("signup", "login"):
            body = {"client_id": "1.2", "events": [{"name": name}]}
            assert session.post(server.url(COLLECT), json=body).status_code == 204
        assert seen == [(204, ["signup"]), (204, ["login"])]
        assert server.requests() == []
        assert server.events() == []
        assert session.get(server.url("/_fakes/events")).json() == []

    def test_concurrent_clients_are_all_recorded(self, ga4_server):
        """Recording is thread-safe: 8 clients x 25 requests give 200 events."""
        url = ga4_server.url(COLLECT)

        def send() -> None:
            with requests.Session() as s:
                s.trust_env = False
                for _ in range(25):
                    assert s.post(url, json=BODY).status_code == 204

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ga4_server.wait_for(200, timeout=5)) == 200
        assert len(ga4_server.requests()) == 200


class TestInspectionApi:
    def test_health_lists_vendors_and_routes(self, ga4_server, session):
        """GET /_fakes/health is the readiness probe."""
        assert session.get(ga4_server.url("/_fakes/health")).json() == {
            "status": "ok",
            "vendors": {"ga4": ["/mp/collect", "/debug/mp/collect"]},
        }

    def test_events_endpoint_returns_normalised_events(self, fake_server_factory, session):
        """GET /_fakes/events?vendor= lists ReceivedEvents as JSON."""
        server = fake_server_factory([GA4Fake(), EchoFake()])
        session.post(server.url("/echo"), data=b"x")
        session.post(server.url(COLLECT), json=BODY)
        (event,) = session.get(server.url("/_fakes/events?vendor=ga4")).json()
        assert event["vendor"] == "ga4"
        assert event["name"] == "signup"
        assert event["accepted"] is True
        assert event["problems"] == []
        assert len(session.get(server.url("/_fakes/events")).json()) == 2

    def test_requests_endpoint_returns_bodies_as_text(self, ga4_server, session):
        """Bodies are UTF-8 text, undecodable bytes replaced; inspection calls are not recorded."""
        session.post(ga4_server.url(COLLECT), data=b"\xff\xfeoops")
        (recorded,) = session.get(ga4_server.url("/_fakes/requests")).json()
        assert recorded["body"] == "\ufffd\ufffdoops"
        assert recorded["path"] == "/mp/collect"
        assert recorded["status"] == 204
        assert recorded["query"]["api_secret"] == ["s"]

    def test_delete_requests_clears_everything(self, ga4_server, session):
        """DELETE /_fakes/requests is clear()."""
        session.post(ga4_server.url(COLLECT), json=BODY)
        assert session.delete(ga4_server.url("/_fakes/requests")).status_code == 200
        assert ga4_server.requests() == []
        assert session.get(ga4_server.url("/_fakes/events")).json() == []

    def test_validation_messages_endpoint_lists_debug_answers(self, ga4_server, session):
        """GET /_fakes/validation_messages returns what debug endpoints answered."""
        session.post(ga4_server.url("/debug/mp/collect"), json={"events": [{"name": "e"}]})
        (message,) = session.get(ga4_server.url("/_fakes/validation_messages?vendor=ga4")).json()
        assert message["validationCode"] == "VALUE_REQUIRED"

    def test_faults_can_be_added_listed_and_cleared_over_http(self, ga4_server, session):
        """POST, GET and DELETE /_fakes/faults drive the same registry as `fake.faults`."""
        added = session.post(
            ga4_server.url("/_fakes/faults"), json={"kind": "status", "status": 503, "count": 1}
        )
        assert added.status_code == 201
        assert added.json()["kind"] == "status"
        assert session.post(ga4_server.url(COLLECT), json=BODY).status_code == 503
        assert session.post(ga4_server.url(COLLECT), json=BODY).status_code == 204
        (listed,) = session.get(ga4_server.url("/_fakes/faults")).json()
        assert (listed["hits"], listed["remaining"]) == (1, 0)
        assert session.delete(ga4_server.url("/_fakes/faults")).json() == {"cleared": 1}
        assert ga4_server.faults.active() == []

    def test_one_fault_can_be_removed_by_id(self, ga4_server, session):
        """DELETE /_fakes/faults/<id> removes only that fault."""
        first = session.post(ga4_server.url("/_fakes/faults"), json={"kind": "malformed"}).json()
        session.post(ga4_server.url("/_fakes/faults"), json={"kind": "413"})
        response = session.delete(ga4_server.url(f"/_fakes/faults/{first['id']}"))
        assert response.json() == {"removed": first["id"]}
        assert [f.kind for f in ga4_server.faults.active()] == ["413"]

    @pytest.mark.parametrize(
        "spec",
        [
            pytest.param({"kind": "explode"}, id="unknown kind"),
            pytest.param({"route": "/mp/collect"}, id="no kind"),
            pytest.param({"kind": "status", "sttaus": 500}, id="unknown field"),
            pytest.param({"kind": "hang", "probability": 2}, id="probability above 1"),
            pytest.param({"kind": "hang", "count": "3"}, id="count not an integer"),
            pytest.param([1, 2], id="not an object"),
        ],
    )
    def test_bad_fault_spec_is_refused_with_400(self, ga4_server, session, spec):
        """Invalid fault specifications are rejected with an explanation."""
        response = session.post(ga4_server.url("/_fakes/faults"), json=spec)
        assert response.status_code == 400
        assert response.json()["error"]
        assert ga4_server.faults.active() == []

    def test_unknown_inspection_endpoint_gets_404(self, ga4_server, session):
        """Typos in inspection paths are not silently served."""
        assert session.get(ga4_server.url("/_fakes/nope")).status_code == 404


class TestPytestPlugin:
    def test_fake_server_fixture_is_running(self, fake_server, session):
        """The `fake_server` fixture is a started server with every vendor."""
        assert fake_server.running
        assert {v.name for v in fake_server.vendors} == {"ga4", "amplitude", "mixpanel", "rudderstack"}
        assert session.get(fake_server.url("/_fakes/health")).status_code == 200

    def test_factory_starts_independent_servers(self, fake_server_factory, session):
        """Each factory call starts a separate server with its own vendors and recordings."""
        one = fake_server_factory([GA4Fake()])
        two = fake_server_factory([GA4Fake(ga360=True)])
        assert one.port != two.port
        session.post(one.url(COLLECT), json=BODY)
        assert len(one.events()) == 1
        assert two.events() == []
