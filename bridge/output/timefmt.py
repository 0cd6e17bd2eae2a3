"""Local-time formatting as sflowtool does it (the process time zone, TZ)."""

from __future__ import annotations

import time
from functools import lru_cache


@lru_cache(maxsize=4096)
def iso_local(ts: int) -> str:
    """strftime("%Y-%m-%dT%H:%M:%S%z", localtime(ts))."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


@lru_cache(maxsize=256)
def clf_local(ts: int) -> str:
    """The common log format's "%d/%b/%Y:%H:%M:%S %z" in the C locale."""
    t = time.localtime(ts)
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[t.tm_mon - 1]
    return f"{t.tm_mday:02d}/{month}/{t.tm_year}:" + time.strftime("%H:%M:%S %z", t)
