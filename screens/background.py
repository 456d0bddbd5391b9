"""Background threads for slow work (renders that clone and build, cluster calls).

Daemon threads rather than Textual thread workers: a worker runs in asyncio's default
executor, which the interpreter joins at exit, so quitting during a first KVC render (git
clone, make) or a cluster call would freeze the closed app until that finished.  The
context is copied so Textual's ``active_app`` is set in the thread, as in a worker.
"""
from __future__ import annotations

import contextvars
import threading
from typing import Any, Callable


def start_daemon(fn: Callable[..., Any], *args: Any, name: str = "kmwizard-background") -> threading.Thread:
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(fn, *args), name=name, daemon=True)
    thread.start()
    return thread
