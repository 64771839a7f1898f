"""A Python controller manager for GitStore.

A port of client-go's controller machinery (reflector, FIFO, indexer,
shared informers, rate-limiting workqueue) and controller-runtime's
reconcile contract, synchronous and threaded. `.spec` belongs to Git and
`.status` to controllers: the only write this package makes is a
resourceVersion-preconditioned status write.

The public surface is deliberately short, as in controller-runtime:
:class:`Request`, :class:`Result`, :class:`TerminalError`,
:class:`Context` and :class:`Reconciler` for writing a reconciler;
:func:`set_condition` and :class:`StatusWriteResult` for its status;
:class:`Manager` to run controllers from Python rather than the CLI.
Everything else is reachable through its subpackage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controller_manager._version import __version__
from controller_manager.client.status import StatusWriteResult, set_condition
from controller_manager.reconcile import Context, Reconciler, Request, Result, TerminalError

if TYPE_CHECKING:
    from controller_manager.manager import Manager

__all__ = [
    "Context",
    "Manager",
    "Reconciler",
    "Request",
    "Result",
    "StatusWriteResult",
    "TerminalError",
    "__version__",
    "set_condition",
]


def __getattr__(name: str) -> Any:
    # The manager pulls in the HTTP servers and (for embedded mode) the
    # reference API; load it only for those who ask for it.
    if name == "Manager":
        from controller_manager.manager import Manager

        return Manager
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
