"""Shared fixtures for the cache tests.

Nothing here sleeps a fixed time: helpers wait on conditions with bounded,
generous timeouts that only matter when a test is failing. The helpers
themselves live in :mod:`tests.support`; the root conftest's guard fails a
test that leaves a reflector or informer thread running.

Every test here runs twice, once per JSON codec the cache can use
(``orjson``, the ``fast`` extra, and the stdlib), by setting
``CONTROLLER_MANAGER_JSON``: the stdlib path is tested even where orjson
is installed. orjson's run is skipped where it is not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controller_manager.cache.codec import ENV_VAR, CodecName, orjson_available
from controller_manager.cache.fake import FakeListerWatcher
from controller_manager.cache.informer import SharedIndexInformer
from tests.support.clocks import RecordingFakeClock
from tests.support.objects import obj
from tests.support.recorders import HandlerRecorder
from tests.support.waits import WAIT


@pytest.fixture(autouse=True, params=[CodecName.ORJSON, CodecName.STDLIB], ids=str)
def json_codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CodecName:
    """The codec every cache built in this test uses (see the module doc)."""
    if request.param is CodecName.ORJSON and not orjson_available():
        pytest.skip("orjson (the 'fast' extra) is not installed")
    monkeypatch.setenv(ENV_VAR, request.param.value)
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def make_obj() -> Callable[..., dict[str, Any]]:
    """Build a small resource: make_obj(name, namespace='default', labels=, spec=, rv=)."""
    return obj


@pytest.fixture
def recorder() -> Callable[[], HandlerRecorder]:
    """A factory of HandlerRecorders (call it once per handler)."""
    return HandlerRecorder


@pytest.fixture
def clock() -> RecordingFakeClock:
    return RecordingFakeClock()


@pytest.fixture
def fake() -> FakeListerWatcher:
    return FakeListerWatcher()


@pytest.fixture
def informers() -> Iterator[Callable[..., SharedIndexInformer]]:
    """Build informers that are always stopped at teardown (even if a test fails)."""
    made: list[SharedIndexInformer] = []

    def build(lw: Any, **kwargs: Any) -> SharedIndexInformer:
        kwargs.setdefault("name", f"test{len(made)}")
        informer = SharedIndexInformer(lw, **kwargs)
        made.append(informer)
        return informer

    yield build
    for informer in made:
        assert informer.stop(timeout=WAIT), f"{informer} did not stop"
