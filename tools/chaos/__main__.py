"""``python -m tools.chaos``: run once, print one JSON object, exit 0 only if every check holds.

Exit codes: 0 every check held; 1 a check failed or a fault could not be
injected; 2 a ``CHAOS_*`` setting is invalid.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .report import report
from .run import ChaosRun, checkpoints_supported
from .settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    if settings.checkpoints == "off":
        checkpoints, mode = False, "off (CHAOS_CHECKPOINTS=off)"
    elif checkpoints_supported():
        checkpoints, mode = True, "on"
    else:
        checkpoints, mode = False, "unsupported by this build"
    keep = bool(settings.workdir)
    workdir = Path(settings.workdir) if keep else Path(tempfile.mkdtemp(prefix="chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # The in-process API's own log lines (dropped streams, injected faults)
    # go to a file: stdout is the JSON and stderr stays readable.
    logging.basicConfig(
        filename=workdir / "api.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    started = time.monotonic()
    run = ChaosRun(settings, workdir, checkpoints)
    try:
        run.setup()
        if run.warm_up():
            run.inject()
            run.settle()
    finally:
        run.teardown()
    result = report(run, checkpoints_mode=mode, duration=time.monotonic() - started)
    result["workdir"] = str(workdir) if keep else "removed (set CHAOS_WORKDIR to keep it)"
    print(json.dumps(result, indent=2, default=str))
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
