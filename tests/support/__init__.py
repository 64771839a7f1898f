"""Helpers shared by every test room, defined once.

Test modules and conftests import them as ``tests.support.<module>``: the
repository root is on ``sys.path`` (``pythonpath = .`` in ``setup.cfg``'s
``[tool:pytest]``), so this works under ``--import-mode=importlib`` too,
where test modules cannot import one another or a conftest.

* :mod:`~tests.support.waits` -- bounded waits on a condition (never a bare sleep)
* :mod:`~tests.support.clocks` -- clocks that record what the code asked of time
* :mod:`~tests.support.objects` -- resource and manifest builders
* :mod:`~tests.support.recorders` -- event-handler and reconciler recorders
* :mod:`~tests.support.threads` -- the thread-leak guard and thread instruments
* :mod:`~tests.support.paths` -- where the repository is
"""
