"""Where things are on disk, relative to this checkout."""

from __future__ import annotations

from pathlib import Path

# tests/support/paths.py -> the repository root.
REPO = Path(__file__).resolve().parents[2]
