"""Suite-wide fixtures: the thread-leak guard, and logging put back after each test.

Shared helpers are in :mod:`tests.support` (importable from every test:
``pythonpath = .`` in ``setup.cfg``); fixtures stay in each room's conftest.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.support.threads import leaked_threads


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread of ours alive after its teardown.

    Function-scoped and autouse in the root conftest, so it is set up before
    (and torn down after) every other function-scoped fixture of the test;
    threads of session-scoped servers start before its snapshot and are not
    counted. Each new thread of ours gets a bounded join first.
    """
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = leaked_threads(before)
    assert not leaked, f"threads left running after teardown: {leaked}"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo ``configure_logging`` (the CLI's): its handler, the level, and the hooks.

    A test that runs the CLI in-process configures the root logger; the next
    test must not inherit its handler, format or redactor.
    """
    level = logging.getLogger().level
    hooks = (sys.excepthook, threading.excepthook)
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "controller-manager":
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)
    sys.excepthook, threading.excepthook = hooks
