"""The manager: one process running every configured controller.

Everything the manager runs is a runnable in one of four ordered groups
(:mod:`.runnables`): HTTP servers, caches, runnables for every replica,
and runnables that need leadership (the controllers). Groups start in
that order and stop in reverse; any runnable can report a fatal error,
which stops the whole process with exit 1.

Modules: :mod:`.manager` (building the client, informers and controllers;
the start/stop walk), :mod:`.runnables` (the protocol, the groups, the
error channel), :mod:`.signals` (the run loop), :mod:`.wiring` (config ->
runtime arguments), :mod:`.health` (probes, debug and poison API),
:mod:`.httpserver` (the stdlib HTTP servers), :mod:`.metrics`
(process-wide watch and status-write series).
"""

from controller_manager.manager.manager import Manager
from controller_manager.manager.wiring import client_pool_size, informer_keys

__all__ = ["Manager", "client_pool_size", "informer_keys"]
