"""Serving an explorer page over a visualizer that lives in the caller's process.

Streamlit's ASGI application (``st.App``, Streamlit 1.59 and later) runs the page script in
this process, under a uvicorn server on a background thread, so the page reads the user's
visualizer (their models, defined in a notebook or ``__main__`` included) from memory:
nothing is pickled or sent to another process. One server per process (Streamlit's
limit); serving another visualizer makes the page show that one.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent / "page.py"

_state: dict[str, Any] = {"visualizer": None, "server": None, "address": None}
_lock = threading.Lock()


def current_visualizer() -> Any:
    """The visualizer the page shows (the one most recently served)."""
    return _state["visualizer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(visualizer: Any, port: int | None = None, address: str = "127.0.0.1") -> str:
    """Show ``visualizer`` at ``http://address:port`` (a free port by default) and return
    the address; the server runs on a daemon thread until the process ends."""
    import streamlit as st
    import uvicorn

    with _lock:
        _state["visualizer"] = visualizer
        if _state["server"] is not None:
            return _state["address"]
        port = port or _free_port()
        app = st.App(str(PAGE))
        config = uvicorn.Config(app, host=address, port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="perspicio-insights", daemon=True)
        thread.start()
        deadline = time.time() + 60
        while not server.started:
            if not thread.is_alive() or time.time() > deadline:
                raise RuntimeError(f"the explorer could not start on {address}:{port}")
            time.sleep(0.05)
        _state["server"], _state["address"] = server, f"http://{address}:{port}"
        return _state["address"]
