"""Checkpoints for one manager: the observers, the resume and the runnable, wired once.

The manager makes one :class:`Checkpoints` when the config has a
``checkpoint.dir``, and calls it at three moments:

1. building the informer factory: :meth:`Checkpoints.observer` is its
   ``key_observer_factory`` (resume verdicts, and a new base after a list);
2. after building the controllers, before the caches start:
   :meth:`Checkpoints.resume`, then it runs :meth:`Checkpoints.runnable`
   in the EVERY_REPLICA group and :meth:`Checkpoints.check` as the
   ``checkpoint`` readiness check;
3. once the controllers started: :meth:`Checkpoints.controllers_started`
   (the informers' seeds are dropped, and a flush records real pending work).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from controller_manager.cache.factory import InformerKey
from controller_manager.cache.informer import SharedIndexInformer
from controller_manager.checkpoint.checkpointer import Checkpointer, CheckpointOptions
from controller_manager.checkpoint.metrics import CheckpointMetrics
from controller_manager.checkpoint.resume import ResumeObserver, Resumer
from controller_manager.checkpoint.store import CheckpointStore
from controller_manager.clock import Clock
from controller_manager.controller import Controller

__all__ = ["Checkpoints"]


class Checkpoints:
    """Checkpointing of one manager (module doc). ``redact`` scrubs saved error texts."""

    def __init__(
        self,
        directory: Path,
        *,
        api_url: str,
        options: CheckpointOptions,
        max_age: float,
        registry: CollectorRegistry,
        clock: Clock,
        redact: Callable[[str], str],
        fsync: bool = True,
    ) -> None:
        self.store = CheckpointStore(directory, fsync=fsync)
        self.metrics = CheckpointMetrics(registry)
        self._api_url = api_url
        self._options = options
        self._max_age = max_age
        self._clock = clock
        self._redact = redact
        self._observers: dict[InformerKey, ResumeObserver] = {}
        self._informers: dict[InformerKey, SharedIndexInformer] = {}
        self._checkpointer: Checkpointer | None = None

    def observer(self, key: InformerKey) -> ResumeObserver:
        """The reflector observer for the informer of ``key`` (factory hook)."""
        observer = ResumeObserver(key, self.metrics, self._after_list)
        self._observers[key] = observer
        return observer

    def _after_list(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.request_base()

    def resume(
        self,
        informers: Callable[[], dict[InformerKey, SharedIndexInformer]],
        controllers: Callable[[], Sequence[Controller]],
    ) -> Checkpointer:
        """Seed informers and controllers from the checkpoint; return the runnable."""
        self._informers = informers()
        loaded = Resumer(
            self.store,
            api_url=self._api_url,
            max_age=self._max_age,
            metrics=self.metrics,
            clock=self._clock,
        ).resume(self._informers, self._observers, controllers())
        self._checkpointer = Checkpointer(
            self.store,
            api_url=self._api_url,
            informers=informers,
            controllers=controllers,
            options=self._options,
            metrics=self.metrics,
            clock=self._clock,
            redact=self._redact,
            loaded=loaded,
        )
        return self._checkpointer

    def controllers_started(self) -> None:
        """Drop the informers' seeds and ask for a flush with the controllers' real work."""
        for informer in self._informers.values():
            informer.drop_seed()
        if self._checkpointer is not None:
            self._checkpointer.request_flush()

    def check(self) -> str | None:
        """The ``checkpoint`` readiness check (see :mod:`.checkpointer` for why readiness)."""
        return None if self._checkpointer is None else self._checkpointer.check()
