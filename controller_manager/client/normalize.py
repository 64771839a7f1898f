"""Decode-time normalisation, so cached objects compare equal to what reconcilers compute.

The wire spells condition status ``TRUE`` / ``FALSE`` / ``UNKNOWN``; upstream
code and stores sometimes use ``True`` / ``False`` / ``Unknown``. Comparing
the two spellings made every status write look like a change (upstream bug:
writes forever). Every object the client hands out -- from list, get, watch
and status writes -- has its condition statuses upper-cased here.
"""

from __future__ import annotations

from typing import Any

CONDITION_STATUSES = frozenset({"TRUE", "FALSE", "UNKNOWN"})


def normalize_condition_status(value: Any) -> Any:
    """Return ``value`` upper-cased when it is a condition status string, else as is."""
    if isinstance(value, str) and value not in CONDITION_STATUSES:
        upper = value.upper()
        if upper in CONDITION_STATUSES:
            return upper
    return value


def normalize_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Normalise ``obj`` in place (it must be freshly decoded, never a cached object); return it."""
    status = obj.get("status")
    if status.__class__ is dict:
        conditions = status.get("conditions")
        if conditions.__class__ is list:
            for cond in conditions:
                if cond.__class__ is dict:
                    value = cond.get("status")
                    # Only strings: a list or dict here is malformed, but must
                    # not make the membership test raise (it is unhashable).
                    if value.__class__ is str and value not in CONDITION_STATUSES:
                        cond["status"] = normalize_condition_status(value)
    return obj
