"""The ``key=value`` fields of a log call, recovered for structured (JSON) output.

The runtime logs the way client-go's klog does: one line per event, the
event in words followed by ``key=value`` pairs, written as a %-format
string with arguments::

    log.warning("reconcile failed; retrying with back-off attempt=%d max_retries=%d", 3, 10)

:func:`message_fields` turns that call into ``{"attempt": 3, "max_retries": 10}``
so the JSON formatter can make every structured value a key, without a
second logging API and without touching the hundred call sites.

Why the *format string* and not the finished message: the keys come from
the code, never from data. Parsing the rendered line would split
``last_error=Forbidden: kind=Product denied`` into a bogus ``kind`` (and
could override the real one); reading ``last_error=%r`` and its argument
gives the whole error as one value, however many spaces or ``=`` signs it
holds. Arguments that are numbers, booleans or None stay typed
(``"attempt": 3``), everything else is the text the line shows. An
argument rendered bare (``"list_restart %s reason=..."``) whose text is
itself nothing but ``k=v`` pairs (a request context) contributes those
pairs too.

Rules, each deliberate:

* A field is a whitespace-separated piece of the format string that starts
  with ``key=`` (key: a letter or ``_``, then letters, digits, ``_``,
  ``.``, ``-``). Its value is that piece rendered with the arguments it
  consumes; trailing ``:``, ``,`` or ``;`` of the format string are
  punctuation, not value (``"error=%s: %s"``).
* A literal piece (``reason=LIST_EXPIRED``) is a field with a string value.
* A format string this parser does not follow (``*`` widths, arguments
  that do not match) yields no fields: the line is still logged whole in
  ``msg``, only without extra keys. Never an exception from a log call.
* Once a redaction filter has replaced a record's message (``args`` gone),
  only literal pieces remain: a value with spaces is then cut at the first
  space. Secrets are never reintroduced: this reads the record as the
  filter left it.

Hand-written rather than a library: logfmt parsers read finished lines,
which is exactly the ambiguity above; no maintained library maps printf
specs to their arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["message_fields"]

# One printf conversion spec as the % operator reads it (``%%`` included).
_SPEC = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?(?P<flags>[#0\- +]*)(?P<width>\*|\d+)?"
    r"(?:\.(?P<precision>\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])"
)
_FIELD = re.compile(r"^(?P<key>[A-Za-z_][\w.\-]*)=(?P<value>.+)$", re.DOTALL)
_PAIRS = re.compile(r"^[A-Za-z_][\w.\-]*=\S*(?:\s+[A-Za-z_][\w.\-]*=\S*)*$")
_TRAILING_PUNCTUATION = ":,;"
_NATIVE = (bool, int, float, type(None))


class _Unparsable(Exception):
    """The format string and its arguments do not line up the way we read them."""


def message_fields(msg: object, args: Any) -> dict[str, Any]:
    """Return the ``key=value`` fields of ``msg % args`` (module doc), possibly empty."""
    if not isinstance(msg, str) or "=" not in msg:
        return {}
    try:
        return _fields(msg, args)
    except (_Unparsable, TypeError, ValueError, KeyError, IndexError):
        return {}


def _fields(fmt: str, args: Any) -> dict[str, Any]:
    named = isinstance(args, Mapping)
    positional: tuple[Any, ...] = () if named or args is None else tuple(args)
    if len(positional) == 1 and isinstance(positional[0], Mapping) and "%(" in fmt:
        args, named, positional = positional[0], True, ()  # logging's single-dict form
    fields: dict[str, Any] = {}
    index = 0
    for piece in fmt.split():
        specs = [m for m in _SPEC.finditer(piece) if m.group("conv") != "%"]
        if any(m.group("width") == "*" or m.group("precision") == "*" for m in specs):
            raise _Unparsable(piece)
        if named:
            piece_args: Any = args
            values = [args[m.group("name")] for m in specs]
        else:
            values = list(positional[index : index + len(specs)])
            if len(values) != len(specs):
                raise _Unparsable(piece)
            piece_args = tuple(values)
            index += len(specs)
        match = _FIELD.match(piece)
        if match is None:
            _add_bare_pairs(fields, piece, piece_args, specs)
            continue
        key, value_fmt = match.group("key"), match.group("value")
        stripped = value_fmt.rstrip(_TRAILING_PUNCTUATION) or value_fmt
        if len(specs) == 1 and stripped == specs[0].group(0) and _native(specs[0], values[0]):
            fields.setdefault(key, values[0])  # a number, boolean or None stays typed
        else:
            fields.setdefault(key, stripped % piece_args if specs else stripped)
    if not named and index != len(positional):
        raise _Unparsable(fmt)  # more arguments than specs: the line is not what we read
    return fields


def _native(spec: re.Match[str], value: Any) -> bool:
    """Whether the JSON value may be the argument itself (it renders as itself)."""
    if spec.group("flags") or spec.group("width") or spec.group("precision"):
        return False
    conv = spec.group("conv")
    if conv == "s":
        return isinstance(value, _NATIVE)
    return conv in "di" and isinstance(value, int)


def _add_bare_pairs(fields: dict[str, Any], piece: str, args: Any, specs: list[Any]) -> None:
    """A bare ``%s`` whose text is only ``k=v`` pairs (a request context) adds them."""
    if len(specs) != 1 or piece != specs[0].group(0):
        return
    text = piece % args
    if not _PAIRS.match(text):
        return
    for pair in text.split():
        key, _, value = pair.partition("=")
        fields.setdefault(key, value)
