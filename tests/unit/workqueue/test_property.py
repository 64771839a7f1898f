"""Property: under random concurrent adds, the queue is stingy and loses nothing.

Producers bump a key's version and then add it; workers record the version
they see after ``get``. Checked for every generated schedule:

* no key is ever held by two workers at once;
* every key's last processed version is its final version, i.e. every add
  that came after a key's last ``get`` caused one more pass.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter as Tally

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller_manager.workqueue import Queue, ShutDown
from tests.support.waits import pause

WAIT = 10.0
KEYS = st.integers(min_value=0, max_value=7)
# A producer step: a key to add, and whether to pause briefly first (so
# that adds also land while workers are mid-pass, not only before).
STEPS = st.tuples(KEYS, st.booleans())
PAUSE = 0.0002


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    producers=st.lists(st.lists(STEPS, min_size=1, max_size=30), min_size=1, max_size=3),
    workers=st.integers(min_value=1, max_value=4),
    work_time=st.sampled_from([0.0, 0.0002, 0.001]),
)
def test_random_concurrent_schedules_are_stingy_and_complete(producers, workers, work_time):
    # Switch threads far more often than the default 5 ms, so that adds,
    # gets and dones interleave in many more ways within one example.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        run_schedule(producers, workers, work_time)
    finally:
        sys.setswitchinterval(switch_interval)


def run_schedule(producers: list[list[tuple[int, bool]]], workers: int, work_time: float) -> None:
    q: Queue[int] = Queue("property")
    state_lock = threading.Lock()
    version: Tally[int] = Tally()
    seen: dict[int, int] = {}
    holders: Tally[int] = Tally()
    violations: list[str] = []
    start = threading.Barrier(len(producers) + workers, timeout=WAIT)

    def produce(steps: list[tuple[int, bool]]) -> None:
        start.wait()
        for key, spread in steps:
            if spread:
                pause(PAUSE)  # spread the adds: a producer's own timing, not a wait
            with state_lock:
                version[key] += 1
            q.add(key)

    def work() -> None:
        start.wait()
        while True:
            try:
                key = q.get(timeout=WAIT)
            except ShutDown:
                return
            with state_lock:
                holders[key] += 1
                if holders[key] > 1:
                    violations.append(f"key {key} held by {holders[key]} workers")
                seen[key] = version[key]
            if work_time:
                pause(work_time)  # simulated work, so adds land mid-pass
            with state_lock:
                holders[key] -= 1
            q.done(key)

    producer_threads = [
        threading.Thread(target=produce, args=(steps,), name=f"producer-{i}", daemon=True)
        for i, steps in enumerate(producers)
    ]
    worker_threads = [
        threading.Thread(target=work, name=f"worker-{i}", daemon=True) for i in range(workers)
    ]
    for thread in producer_threads + worker_threads:
        thread.start()
    for thread in producer_threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "producer stuck"
    # Workers drain everything queued (and every re-pass) before ShutDown.
    q.shutdown()
    for thread in worker_threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "worker stuck"

    assert violations == []
    added = {key for steps in producers for key, _ in steps}
    assert {key: seen.get(key) for key in added} == {key: version[key] for key in added}
    assert len(q) == 0
