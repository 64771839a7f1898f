"""Event filters: which watch events are worth a reconcile.

The default filter is controller-runtime's usual combination
(``GenerationChangedPredicate`` or labels / annotations changed) plus
deletionTimestamp changes: adds and deletes always pass; an update passes
when ``metadata.generation``, labels, annotations or deletionTimestamp
differ. An update that only touches ``status`` (or ``resourceVersion``,
``managedFields``) is dropped -- which is what stops a controller's own
status writes from triggering it again, and again.

Objects without ``metadata.generation`` fall back to comparing everything
but ``status`` and the volatile metadata fields, so a spec change is never
missed on a kind that does not bump generations.

The informer's own resync delivers ``on_update(obj, obj)``; the default
filter drops it (nothing changed). Periodic resync is the controller's job
(a timer on its clock, see ``Controller``), so one controller's resync
period never depends on whoever created the shared informer first.
``"any"`` lets every event through, informer resyncs included.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from controller_manager.cache.listwatch import Object


class PredicateName(str, enum.Enum):
    """The predicates a config may name (``controllers[].predicate``)."""

    DEFAULT = "default"
    ANY = "any"

    def __str__(self) -> str:
        return self.value


PREDICATES: tuple[str, ...] = tuple(p.value for p in PredicateName)
"""Every predicate name, as the config spells it (the config validates against this)."""

# Metadata that changes on every write, status writes included.
_VOLATILE_METADATA = frozenset({"resourceVersion", "managedFields", "generation"})


class Predicate(Protocol):
    """Decides per event whether to enqueue; must be cheap and never raise."""

    def create(self, obj: Object) -> bool: ...

    def update(self, old: Object, new: Object) -> bool: ...

    def delete(self, obj: Object) -> bool: ...


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _without_status(obj: Object) -> Object:
    meta = {k: v for k, v in _meta(obj).items() if k not in _VOLATILE_METADATA}
    rest = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
    rest["metadata"] = meta
    return rest


def spec_or_meta_changed(old: Object, new: Object) -> bool:
    """Return True when ``new`` differs from ``old`` in anything but status.

    "Anything" is generation, labels, annotations or deletionTimestamp when
    both carry a generation; the whole non-status object otherwise.
    """
    old_meta, new_meta = _meta(old), _meta(new)
    old_gen, new_gen = old_meta.get("generation"), new_meta.get("generation")
    if old_gen is None or new_gen is None:
        return _without_status(old) != _without_status(new)
    return (
        old_gen != new_gen
        or (old_meta.get("labels") or {}) != (new_meta.get("labels") or {})
        or (old_meta.get("annotations") or {}) != (new_meta.get("annotations") or {})
        or old_meta.get("deletionTimestamp") != new_meta.get("deletionTimestamp")
    )


class DefaultPredicate:
    """Adds, deletes and non-status updates (see the module doc)."""

    def create(self, obj: Object) -> bool:
        return True

    def update(self, old: Object, new: Object) -> bool:
        if old is new:
            return False  # an informer resync: the controller's timer covers it
        return spec_or_meta_changed(old, new)

    def delete(self, obj: Object) -> bool:
        return True

    def __repr__(self) -> str:
        return "DefaultPredicate()"


class AnyChangePredicate:
    """Every event, status-only updates and informer resyncs included.

    Beware: a controller that writes its own kind's status under this
    filter reconciles once more after each write (the write is a no-op the
    second time, so it converges, at the cost of a pass).
    """

    def create(self, obj: Object) -> bool:
        return True

    def update(self, old: Object, new: Object) -> bool:
        return True

    def delete(self, obj: Object) -> bool:
        return True

    def __repr__(self) -> str:
        return "AnyChangePredicate()"


def predicate_for(name: str | Predicate) -> Predicate:
    """Return the predicate named ``"default"`` or ``"any"``, or ``name`` itself.

    Raise ValueError for an unknown name (a config typo should fail at
    start, not filter silently).
    """
    if not isinstance(name, str):
        return name
    if name == PredicateName.DEFAULT:
        return DefaultPredicate()
    if name == PredicateName.ANY:
        return AnyChangePredicate()
    raise ValueError(f"unknown predicate {name!r}: expected one of {', '.join(PREDICATES)}")
