"""Where demo models and data are cached: ``$PERSPICIO_CACHE`` or ``~/.cache/perspicio``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$PERSPICIO_CACHE``, or ``~/.cache/perspicio`` (created when missing)."""
    path = Path(os.environ.get("PERSPICIO_CACHE", Path.home() / ".cache" / "perspicio"))
    path.mkdir(parents=True, exist_ok=True)
    return path
