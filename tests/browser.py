"""Debian's Chromium for the real-browser tests (never a browser downloaded by a tool)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"

#: skips a test where Debian's Chromium is not installed (``make browser`` installs it),
#: except in CI (``CI`` set), where a missing browser fails the browser tests instead
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make browser)",
)


def launch(playwright: Any) -> Any:
    """Headless Chromium with the flags this machine's closed network needs."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
