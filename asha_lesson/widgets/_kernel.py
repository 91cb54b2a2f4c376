"""The widgets' threading rule, in code: tuner and worker threads never touch a widget.

A tuner run with ``tuner.start()`` calls its callbacks on the tuner's thread; those callbacks only
append to an :class:`EventBuffer`. The kernel's main thread drains the buffer from an asyncio task
on the kernel's running event loop (ipywidgets' docs, "Asynchronous Widgets") and re-renders.

Which kernel threads may draw: the main thread (cells, the asyncio task) and the threads on which
the kernel hands widget messages to their handlers. With ipykernel 7 and JupyterLab 4 the latter
is a *subshell* thread, not the main thread: a slider's observer, a Play tick or a button's
``on_click`` runs there. So the guard below refuses only this package's own background threads
(all named ``asha-...``: the tuner's, the thread backend's workers, the Dask report reader).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from ..events import Event

__all__ = ["EventBuffer", "on_main_thread", "require_drawing_thread", "kernel_loop"]

_NO_DRAWING = "asha-"  # the prefix of every background thread the package starts


def on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def require_drawing_thread(what: str) -> None:
    """Raise if called on a tuner or worker thread (see the module docstring)."""
    name = threading.current_thread().name
    if name.startswith(_NO_DRAWING):
        raise RuntimeError(f"{what} touches widgets and must not run on {name!r}, a tuner or "
                           "worker thread: hand events over through an EventBuffer and draw "
                           "from the kernel's main thread")


def kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop of the kernel, when called from a notebook cell; else None
    (a plain script or a test, where nothing would run a scheduled task)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class EventBuffer:
    """Where the tuner's thread leaves events for the kernel's thread.

    ``buffer(event)`` may be called from any thread (it is a tuner callback);
    :meth:`drain` hands back everything appended so far, oldest first. ``deque.append`` and
    ``popleft`` are atomic, so no lock is needed and no event is lost or duplicated.
    """

    def __init__(self) -> None:
        self._events: deque[Event] = deque()
        self.appended = 0  # how many events arrived, ever (read it from any thread)

    def __call__(self, event: Event) -> None:
        self._events.append(event)
        self.appended += 1

    def __len__(self) -> int:
        return len(self._events)

    def drain(self) -> list[Event]:
        out = []
        pop = self._events.popleft
        while True:
            try:
                out.append(pop())
            except IndexError:
                return out
