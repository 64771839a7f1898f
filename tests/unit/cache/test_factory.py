"""The informer factory: one informer per (kind, namespace, selector)."""

from __future__ import annotations

import threading

import pytest

from controller_manager.cache.factory import InformerFactory, InformerKey, selector_key
from controller_manager.cache.fake import FakeListerWatcher

T = 10.0


@pytest.fixture
def built():
    """A lister_watcher_factory recording its calls, plus the fakes it made."""
    calls = []
    fakes = {}

    def factory(kind, namespace, selector):
        calls.append((kind, namespace, selector))
        fakes[(kind, namespace, selector_key(selector))] = lw = FakeListerWatcher()
        return lw

    factory.calls = calls
    factory.fakes = fakes
    return factory


def test_one_informer_per_kind_namespace_selector(built):
    factory = InformerFactory(built)
    a = factory.informer_for("Widget")
    assert factory.informer_for("Widget") is a
    sel1 = {"matchLabels": {"app": "web", "tier": "1"}}
    sel2 = {"matchLabels": {"tier": "1", "app": "web"}}  # same selector, other order
    s = factory.informer_for("Widget", selector=sel1)
    assert factory.informer_for("Widget", selector=sel2) is s
    assert s is not a
    n = factory.informer_for("Widget", namespace="x")
    assert n is not a and factory.informer_for("Widget", "x") is n
    assert factory.informer_for("Widget", selector={}) is a  # empty selector == none
    assert factory.informer_for("Gadget") is not a
    assert len(built.calls) == 4
    assert built.calls[1] == ("Widget", None, sel1)
    assert set(factory.informers()) == {
        InformerKey("Widget", None, None),
        InformerKey("Widget", None, selector_key(sel1)),
        InformerKey("Widget", "x", None),
        InformerKey("Gadget", None, None),
    }


def test_conflicting_transform_is_refused(built):
    factory = InformerFactory(built)

    def t1(o):
        return o

    factory.informer_for("Widget", transform=t1)
    assert factory.informer_for("Widget", transform=t1) is factory.informer_for("Widget")
    with pytest.raises(ValueError):
        factory.informer_for("Widget", transform=lambda o: o)


def test_start_sync_stop_all_and_late_informers_start(built, make_obj, recorder):
    kinds = []

    class Obs:
        def on_event(self, t):
            pass

    def observer_factory(kind):
        kinds.append(kind)
        return Obs()

    factory = InformerFactory(built, observer_factory=observer_factory)
    w = factory.informer_for("Widget")
    built.fakes[("Widget", None, None)].create(make_obj("a"))
    factory.start()
    assert factory.wait_for_cache_sync(T)
    assert w.indexer.list_keys() == ["default/a"]

    late = factory.informer_for("Gadget")  # created after start: started at once
    assert factory.wait_for_cache_sync(T) and late.has_synced()
    assert kinds == ["Widget", "Gadget"]

    assert factory.stop(T)
    assert not [t for t in threading.enumerate() if t.name.startswith(("reflector-", "informer-"))]
    with pytest.raises(RuntimeError):
        factory.informer_for("Other")


def test_wait_for_cache_sync_times_out_when_a_list_keeps_failing(built):
    def failing(kind, namespace, selector):
        lw = built(kind, namespace, selector)
        lw.fail_next_lists(1000)
        return lw

    factory = InformerFactory(failing)
    factory.informer_for("Widget")
    factory.start()
    try:
        assert not factory.wait_for_cache_sync(0.2)
    finally:
        assert factory.stop(T)
