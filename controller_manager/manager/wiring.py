"""Wiring: how a :class:`~controller_manager.config.Config` becomes runtime arguments.

Pure functions of the config, no I/O and no threads, split out of
:mod:`~controller_manager.manager` (which owns start/stop order and
signals) so the sizing rules can be read and tested on their own:

* :func:`informer_keys`: the shared informers the controllers will create,
  one per distinct (kind, namespace, selector).
* :func:`client_pool_size`: the HTTP connections the shared client needs
  so no worker or watch waits for one.
* :func:`cache_transforms`: the ``caches`` section's transform per kind.
* :func:`controller_options` and :func:`client_cert`: config sections
  translated into :class:`~controller_manager.controller.ControllerOptions`
  and requests' ``cert`` argument.
"""

from __future__ import annotations

from typing import Any, cast

from controller_manager.cache.factory import InformerKey, selector_key
from controller_manager.cache.informer import Transform
from controller_manager.config import ApiConfig, Config, ControllerConfig
from controller_manager.controller import ControllerOptions, WatchSpec

__all__ = [
    "cache_transforms",
    "client_cert",
    "client_pool_size",
    "controller_options",
    "informer_keys",
]


def cache_transforms(config: Config, objects: dict[str, object]) -> dict[str, Transform]:
    """Each ``caches`` kind's transform, from the imported ``objects`` (checked callable)."""
    return {c.kind: cast(Transform, objects[c.transform]) for c in config.caches if c.transform}


def informer_keys(config: Config) -> set[InformerKey]:
    """The shared informers the controllers of ``config`` will ask the factory for.

    One per distinct (kind, namespace, selector): a controller's primary
    kind with its namespace and selector, and every secondary watch
    (cluster-wide, unfiltered), as :class:`~controller_manager.controller.Controller`
    requests them.
    """
    keys: set[InformerKey] = set()
    for ctl in config.controllers:
        keys.add(InformerKey(ctl.kind, ctl.namespace or None, selector_key(ctl.selector)))
        keys.update(InformerKey(w.kind, None, None) for w in ctl.watches)
    return keys


def client_pool_size(config: Config) -> int:
    """HTTP connections the shared client needs so nobody waits for one.

    Every worker may hold one (a status write); every informer holds one
    for its watch stream and may need a second for a re-list while the old
    stream is being torn down; plus a few for probes of the API.
    """
    workers = sum(c.workers for c in config.controllers)
    return workers + 2 * len(informer_keys(config)) + 4


def controller_options(
    ctl: ControllerConfig,
    objects: dict[str, Any],
    cluster_kinds: frozenset[str] = frozenset(),
) -> ControllerOptions:
    """Translate one controller's config.

    ``objects`` maps import paths to map functions; ``cluster_kinds`` names
    the kinds the API serves without namespaces (owner references to them
    map to cluster-scoped requests).
    """
    watches = [
        WatchSpec(
            w.kind,
            map_func=objects[w.map] if w.map else None,
            owner=w.owner,
            owner_cluster_scoped=ctl.kind in cluster_kinds,
        )
        for w in ctl.watches
    ]
    rl = ctl.rate_limit
    return ControllerOptions(
        name=ctl.name,
        kind=ctl.kind,
        namespace=ctl.namespace,
        selector=ctl.selector,
        workers=ctl.workers,
        rate_limit_base=rl.base,
        rate_limit_max=rl.max,
        rate_limit_qps=rl.qps,
        rate_limit_burst=rl.burst,
        max_retries=ctl.max_retries,
        predicate=ctl.predicate,
        resync_period=ctl.resync_period,
        reconcile_timeout=ctl.reconcile_timeout,
        stall_threshold=ctl.stall_threshold,
        watches=watches,
    )


def client_cert(api: ApiConfig) -> str | tuple[str, str] | None:
    """Return requests' ``cert`` argument: one PEM file, or (certificate, key)."""
    if api.client_cert is None:
        return None
    if api.client_key is None:
        return str(api.client_cert)
    return (str(api.client_cert), str(api.client_key))
