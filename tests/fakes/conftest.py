"""Shared fixtures for the fake-server tests: a proxy-free HTTP session and a GA4-only server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from fakes import FakeServer
from fakes.ga4 import GA4Fake

GA4_QUERY = "?measurement_id=G-TEST&api_secret=secret"


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A keep-alive session that never goes through a proxy."""
    with requests.Session() as s:
        s.trust_env = False
        yield s


@pytest.fixture
def ga4_server(fake_server_factory: Any) -> FakeServer:
    """A running server hosting only the GA4 fake."""
    server: FakeServer = fake_server_factory([GA4Fake()])
    return server


@pytest.fixture
def post_ga4(session: requests.Session, ga4_server: FakeServer) -> Callable[..., requests.Response]:
    """POST a JSON body to GA4 /mp/collect (debug=True: /debug/mp/collect) on `ga4_server`."""

    def post(body: Any, *, debug: bool = False, query: str = GA4_QUERY, **kw: Any) -> Any:
        path = "/debug/mp/collect" if debug else "/mp/collect"
        return session.post(ga4_server.url(path + query), json=body, **kw)

    return post
