"""Where experiments live on disk: one folder each, an append-only ``events.jsonl`` and a
``metadata.json``. No pickles: both files are plain JSON anyone can read.

The root folder is ``$ASHA_LESSON_HOME`` when set, else ``~/asha-lesson/experiments``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from .events import Event, dumps_event

__all__ = ["experiment_root", "new_experiment_dir", "EventWriter", "write_metadata"]

EVENTS_FILE = "events.jsonl"
METADATA_FILE = "metadata.json"


def experiment_root() -> Path:
    home = os.environ.get("ASHA_LESSON_HOME")
    return Path(home) if home else Path.home() / "asha-lesson" / "experiments"


def new_experiment_dir(prefix: str, root: str | os.PathLike | None = None) -> Path:
    """A fresh folder named ``prefix-YYYY-MM-DD-HH-MM-SS-mmm`` (a suffix keeps it unique)."""
    base = Path(root) if root is not None else experiment_root()
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H-%M-%S-%f")[:-3]
    for attempt in range(1000):
        path = base / (f"{prefix}-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not make a new experiment folder under {base}")


def write_metadata(path: Path, metadata: dict) -> None:
    tmp = path / (METADATA_FILE + ".tmp")
    tmp.write_text(json.dumps(metadata, indent=2, default=str, sort_keys=True))
    tmp.replace(path / METADATA_FILE)  # atomic: a reader never sees half a file


class EventWriter:
    """Appends each event as one JSON line. ``flush_each`` makes every line reach the OS as it
    happens (real runs); the simulator flushes in blocks, since its runs take seconds."""

    def __init__(self, path: Path, flush_each: bool = True) -> None:
        self._file = open(path / EVENTS_FILE, "a", encoding="utf-8")
        self._flush_each = flush_each

    def __call__(self, event: Event) -> None:
        self._file.write(dumps_event(event) + "\n")
        if self._flush_each:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
