"""The end-to-end bench's tally counts what the fakes decoded: events, ids, resends, rejections."""

from __future__ import annotations

from typing import Any

from benchmarks._common import _Tally, http_json
from fakes import FakeServer


def amplitude_event(name: str, insert_id: str | None, **fields: Any) -> dict[str, Any]:
    event = {"event_type": name, "device_id": "device-1", "time": 1_700_000_000_000, **fields}
    if insert_id is not None:
        event["insert_id"] = insert_id
    return event


def test_the_tally_counts_events_resends_rejections_and_names_per_vendor() -> None:
    tally = _Tally()
    with FakeServer(on_request=tally.add, record=False) as server:
        amplitude = f"{server.base_url}/2/httpapi"
        http_json(
            "POST",
            amplitude,
            {"api_key": "k", "events": [amplitude_event("a", "id-1"), amplitude_event("b", "id-2")]},
        )
        server.clear()  # the counting fake forgets the vendors' dedup state every second
        http_json(
            "POST",
            amplitude,
            {"api_key": "k", "events": [amplitude_event("a", "id-1"), amplitude_event("c", None)]},
        )
        ga4 = f"{server.base_url}/mp/collect?measurement_id=G-T&api_secret=s"
        http_json(
            "POST",
            ga4,
            {"client_id": "1.2", "events": [{"name": "page", "params": {}}, {"name": "9bad", "params": {}}]},
        )

        counts = tally.snapshot()

    assert counts["events"] == {"amplitude": 4, "ga4": 2}
    assert counts["unique_ids"] == {"amplitude": 2, "ga4": 0}
    assert counts["duplicates"] == {"amplitude": 1, "ga4": 0}  # id-1 again, after the fake forgot it
    assert counts["without_id"] == {"amplitude": 1, "ga4": 2}
    assert counts["rejected"] == {"amplitude": 0, "ga4": 1}  # GA4 drops an event named "9bad"
    assert counts["names"] == {
        "amplitude:a": 2,
        "amplitude:b": 1,
        "amplitude:c": 1,
        "ga4:page": 1,
        "ga4:9bad": 1,
    }
