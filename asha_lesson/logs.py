"""The package's logger, and a way to hush it for many short runs."""

from __future__ import annotations

import logging
from contextlib import contextmanager

__all__ = ["logger", "quiet_logs"]

logger = logging.getLogger("asha_lesson")


@contextmanager
def quiet_logs(level: int = logging.WARNING):
    """Within the block, the package logs only at ``level`` and above: a loop over dozens of
    simulated runs would otherwise log each run's seed, resource and end."""
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)
