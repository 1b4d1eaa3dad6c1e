"""Time as the GitHub package sees it: a callable returning seconds since the epoch.

Every component that reads the time takes one, so tests move time forward without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]

system_clock: Clock = time.time


def utc_datetime(epoch_seconds: float) -> datetime:
    """The timezone-aware UTC datetime of an epoch timestamp."""
    return datetime.fromtimestamp(epoch_seconds, UTC)
