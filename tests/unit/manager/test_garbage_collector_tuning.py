"""The manager's run loop tunes the collector before it starts anything (issue 16).

The settings are process-wide (``gc.freeze`` cannot be undone for what it
froze), so the run loop is exercised in a child process, with a manager
stub that records what the collector looked like when ``start`` was called.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from controller_manager.manager.signals import GC_THRESHOLD
from tests.support.paths import REPO

CHILD = textwrap.dedent(
    """
    import gc, json
    from controller_manager.manager import signals

    class Manager:
        stop_asked = False
        controllers = ()

        def start(self):
            self.seen = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
            self.stop_asked = True

        def request_stop(self):
            self.stop_asked = True

        def stop(self, timeout=None):
            return True

        def __getattr__(self, name):  # anything else the loop asks: nothing to report
            return lambda *a, **k: None

    before = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
    manager = Manager()
    signals.run(manager)
    print(json.dumps({"before": before, "at_start": manager.seen}))
    """
)


def test_the_run_loop_freezes_startup_and_raises_the_threshold_before_starting() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"]["frozen"] == 0 and seen["before"]["threshold"] != list(GC_THRESHOLD)
    assert seen["at_start"]["threshold"] == list(GC_THRESHOLD)
    assert seen["at_start"]["frozen"] > 1000  # start-up's modules, out of the collector's sight
