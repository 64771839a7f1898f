"""How the runtime calls a map function, judged once from its signature.

A secondary watch's map function (see :mod:`controller_manager.handlers`)
comes in two forms: ``map(obj)``, or ``map(obj, listers)`` where
``listers.lister(kind)`` reads the controller's informer caches. The form
is read from the signature once, when the watch is built, never guessed
per event. This module is a leaf (it imports nothing of the runtime) so
that the configuration checks (:mod:`controller_manager.config`, which
must not know the runtime) apply the very same rule at start-up and under
``--check-config``.

The rule:

* a second positional parameter, required or defaulted, means
  ``map(obj, listers)``;
* one positional parameter, or only ``*args``, means ``map(obj)``;
* a callable whose signature cannot be inspected (some builtins) is taken
  as ``map(obj)``, the original form;
* anything else cannot be called by the runtime and is a TypeError that
  names the function and both forms: not callable, no parameter at all,
  more than two required positional parameters, or a required
  keyword-only parameter.
"""

from __future__ import annotations

import enum
import inspect
from typing import Any

__all__ = ["MapForm", "map_form"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class MapForm(enum.Enum):
    """How the runtime calls a map function."""

    OBJECT = "map(obj)"
    OBJECT_AND_LISTERS = "map(obj, listers)"


def map_form(func: Any) -> MapForm:
    """Return the form of ``func`` (module doc); raise TypeError when it has neither."""
    if not callable(func):
        raise TypeError(f"map function {func!r} is not callable")
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return MapForm.OBJECT  # nothing to inspect: the original, one-argument form
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in _POSITIONAL]
    required = [p for p in positional if p.default is p.empty]
    keyword_only = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
    problem = None
    if keyword_only:
        problem = f"requires keyword-only parameter(s) {', '.join(keyword_only)}"
    elif len(required) > 2:
        problem = f"requires {len(required)} positional parameters"
    elif not positional and not varargs:
        problem = "takes no parameter"
    if problem is not None:
        name = getattr(func, "__qualname__", None) or repr(func)
        raise TypeError(
            f"map function {name}{sig} {problem}: a map function is called as "
            f"{MapForm.OBJECT.value} or {MapForm.OBJECT_AND_LISTERS.value}"
        )
    return MapForm.OBJECT_AND_LISTERS if len(positional) >= 2 else MapForm.OBJECT
