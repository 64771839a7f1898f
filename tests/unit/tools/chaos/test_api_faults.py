"""The API lane holds a lasting fault until a client meets it (bounded), so no fault hides another.

A storm is not replaced, and a malformed-frame window not closed, before
it has taken effect; an API restart inside a window re-arms the poison for
the new incarnation. The bound (``effect_timeout``) lets the lane go on,
and the run's check then reports the fault without effect.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from tools.chaos.api_faults import ApiInjector
from tools.chaos.ledger import Ledger
from tools.chaos.schedule import Fault, FaultType

JOIN = 30.0


class FakeFaultsApi:
    """The embedded API as the lane sees it: fault bodies in, counters out.

    ``meet_after`` spends one armed failure once ``remaining()`` has been
    read that many times since the storm was armed (a client meeting it).
    """

    def __init__(self, meet_after: int | None = None) -> None:
        self.lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []
        self.failures = 0
        self.conflicts = 0
        self.meet_after = meet_after
        self.reads = 0
        self.incarnation, self.rev = "aaaa", 10
        poisoned = Counter("gitstore_api_poisoned_events_sent", "x", ["kind", "shape"],
                           registry=CollectorRegistry())  # fmt: skip
        self.server = SimpleNamespace(
            faults=SimpleNamespace(remaining=self.remaining),
            metrics=SimpleNamespace(poisoned_events=poisoned),
            store=SimpleNamespace(current_cursor=lambda: f"{self.incarnation}.{self.rev}"),
        )

    def remaining(self) -> dict[str, int]:
        with self.lock:
            self.reads += 1
            if self.meet_after is not None and self.reads >= self.meet_after and self.failures:
                self.failures -= 1
                self.meet_after = None
            return {
                "conflict_next_status_writes": self.conflicts,
                "fail_next_requests": self.failures,
            }

    def faults(self, **body: Any) -> dict[str, Any]:
        with self.lock:
            self.bodies.append(body)
            if "fail_next_requests" in body:
                self.failures = body["fail_next_requests"]
                self.reads = 0
            if body.get("restart"):
                self.incarnation = "bbbb"
        return {"dropped": 1} if body.get("drop_streams") else {}

    def send_poisoned_frame(self) -> None:
        self.server.metrics.poisoned_events.labels("Product", "invalid_json").inc()

    def storms(self) -> list[int]:
        return [b["status"] for b in self.bodies if "status" in b]


def storm(at: float, status: int, count: int = 5) -> Fault:
    kind = {503: FaultType.STORM_503, 429: FaultType.STORM_429, 500: FaultType.STORM_500}[status]
    params = {"status": status, "count": count, "match": {"kind": "Product"}, "duration": 10.0}
    return Fault(at, kind, params)


def ending(start: Fault) -> Fault:
    return Fault(start.at + start.params["duration"], start.type, start.params, ending=True)


def window(at: float, duration: float = 1.0) -> tuple[Fault, Fault]:
    params = {"kind": "Product", "shape": "invalid_json", "duration": duration}
    return (
        Fault(at, FaultType.MALFORMED_FRAMES, params),
        Fault(at + duration, FaultType.MALFORMED_FRAMES, params, ending=True),
    )


def lane(api: FakeFaultsApi, faults: list[Fault], effect_timeout: float = JOIN) -> ApiInjector:
    return ApiInjector(api, faults, Ledger(), time.monotonic(), effect_timeout=effect_timeout)


def test_a_storm_no_request_met_is_not_replaced_until_one_does() -> None:
    api = FakeFaultsApi()
    first, second = storm(0.0, 500), storm(0.0, 429)
    injector = lane(api, [first, second])
    injector._inject(first)
    assert injector.held(second)
    assert injector.held(None)  # nor cleared at the end of the lane
    api.failures -= 1  # one request met it
    assert not injector.held(second) and not injector.held(None)


def test_once_a_type_took_effect_its_later_faults_are_never_held() -> None:
    api = FakeFaultsApi()
    first, again, other = storm(0.0, 500), storm(0.0, 500), storm(0.0, 429)
    injector = lane(api, [])
    injector._inject(first)
    api.failures -= 1
    injector._inject(again)  # a second 500 storm, not met yet
    assert not injector.held(other) and not injector.held(None)
    start, end = window(0.0)
    injector._inject(start)
    api.send_poisoned_frame()
    assert not injector.held(end)
    second_start, second_end = window(1.0)
    injector._inject(second_start)  # no frame for this window, but the type took effect
    assert not injector.held(second_end)


def test_the_hold_is_bounded_by_the_effect_timeout() -> None:
    api = FakeFaultsApi()
    first, second = storm(0.0, 500), storm(0.0, 429)
    injector = lane(api, [first, second], effect_timeout=0.0)
    injector._inject(first)
    assert not injector.held(second)  # past the bound: the lane goes on


def test_a_malformed_window_stays_open_until_a_frame_was_poisoned() -> None:
    api = FakeFaultsApi()
    start, end = window(0.0)
    injector = lane(api, [start, end])
    api.send_poisoned_frame()  # sent before the window: does not count for it
    injector._inject(start)
    assert injector.held(end)
    assert not injector.held(Fault(0.0, FaultType.STREAM_DROP))  # other faults go on
    api.send_poisoned_frame()
    assert not injector.held(end)
    injector._inject(end)
    assert api.bodies[-1] == {"poison_events": []}


def test_the_ending_of_a_window_a_newer_one_replaced_is_not_held() -> None:
    api = FakeFaultsApi()
    old_start, old_end = window(0.0)
    new_start, _ = window(0.5)
    injector = lane(api, [])
    injector._inject(old_start)
    api.send_poisoned_frame()
    injector._inject(new_start)
    assert not injector.held(old_end)


def test_an_api_restart_inside_a_window_poisons_the_new_incarnation() -> None:
    api = FakeFaultsApi()
    start, _ = window(0.0)
    injector = lane(api, [])
    injector._inject(start)
    first = api.bodies[-1]["poison_events"]
    assert first[0]["resourceVersion"] == "aaaa.11"
    injector._inject(Fault(0.1, FaultType.API_RESTART))
    again = api.bodies[-1]["poison_events"]
    assert {p["resourceVersion"].split(".")[0] for p in again} == {"bbbb"}
    assert again[0] == {"kind": "Product", "resourceVersion": "bbbb.11", "shape": "invalid_json"}


def test_the_lane_injects_the_held_storm_once_the_first_was_met() -> None:
    api = FakeFaultsApi(meet_after=2)  # a client meets the first storm at the lane's 2nd look
    faults = [storm(0.0, 500, count=5), storm(0.01, 429, count=7)]
    injector = lane(api, faults, effect_timeout=2.0)  # the second is never met: bounded
    injector.thread.start()
    injector.thread.join(JOIN)
    assert not injector.thread.is_alive()
    assert api.storms() == [500, 429]
    figures = injector.ledger.figures
    assert figures["storm_500_requests_armed"] == 5
    assert figures["storm_500_requests_unspent"] == 4  # one met: it took effect
    assert figures["storm_429_requests_unspent"] == 7  # the lane's end is bounded too
    assert api.bodies[-1]["fail_next_requests"] == 0  # cleared at the end


def test_a_storm_ends_on_its_ending_and_counts_what_no_request_met() -> None:
    api = FakeFaultsApi()
    first = storm(0.0, 503, count=6)
    injector = lane(api, [])
    injector._inject(first)
    assert injector.held(ending(first))  # nothing met it yet, and no 503 storm took effect
    api.failures -= 2  # two requests met it
    assert not injector.held(ending(first))
    injector._inject(ending(first))
    assert api.bodies[-1] == {"fail_next_requests": 0}
    assert injector.ledger.figures["storm_503_requests_unspent"] == 4
    assert not injector.held(None)  # nothing left to hold at the end


def test_the_ending_of_a_storm_a_newer_one_replaced_does_nothing() -> None:
    api = FakeFaultsApi()
    first, second = storm(0.0, 500), storm(1.0, 429, count=9)
    injector = lane(api, [])
    injector._inject(first)
    api.failures -= 1
    injector._inject(second)
    posted = len(api.bodies)
    assert not injector.held(ending(first))
    injector._inject(ending(first))
    assert len(api.bodies) == posted and api.failures == 9  # the newer storm stays armed
