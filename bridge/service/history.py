"""What the status page draws: the bridge's totals second by second, and each agent's rate.

A thread of the API reads the counters once a second (never the receive path) into
rings of fixed size: 15 minutes of totals, and per agent 60 points of 5 seconds for
its sparkline. Agents are at most ``Accounting.max_agents``, so the rings are bounded.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import deque
from typing import Any, Final

from bridge.pipeline.accounting import Accounting

SECONDS: Final = 900  # totals kept: 15 minutes at one point a second
SPARK_POINTS: Final = 60  # per agent: 5 minutes at one point every SPARK_STEP seconds
SPARK_STEP: Final = 5

# the series of /history/json, each a rate per second, and what counter it is the rate of
SERIES: Final = {
    "datagrams": "datagrams received",
    "samples": "samples received (every kind)",
    "packetsWritten": "sampled packets written",
    "datagramsLost": "datagrams missing from the agents' sequence numbers",
    "samplesLost": "samples missing from the data sources' sequence numbers",
    "socketDrops": "datagrams the kernel dropped (socket buffer full)",
    "malformed": "datagrams that did not decode",
}


def _counters(acct: Accounting) -> tuple[int, ...]:
    return (acct.datagrams, acct.samples, acct.written, acct.datagrams_lost, acct.samples_lost,
            acct.socket_drops or 0, acct.malformed)  # fmt: skip


class History:
    def __init__(self, acct: Accounting, socket_drops: Any = None) -> None:
        self.acct = acct
        self.socket_drops = socket_drops  # called each second for the kernel's count, where the bridge can read it
        self.lock = threading.Lock()
        self.times: deque[float] = deque(maxlen=SECONDS)
        self.rates: dict[str, deque[float]] = {name: deque(maxlen=SECONDS) for name in SERIES}
        self.spark: dict[tuple[bytes | str, int], array[float]] = {}  # agent -> datagrams/s, oldest first
        self._spark_last: dict[tuple[bytes | str, int], int] = {}
        self._last = _counters(acct)
        self._last_time = time.monotonic()
        self._spark_time = self._last_time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="history", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.tick()

    def tick(self, now: float | None = None) -> None:
        """One point: the rates since the last one (the thread calls it every second)."""
        now = time.monotonic() if now is None else now
        if self.socket_drops is not None:
            self.socket_drops()
        counters = _counters(self.acct)
        span = now - self._last_time
        if span <= 0:
            return
        with self.lock:
            self.times.append(time.time())
            for name, new, old in zip(SERIES, counters, self._last, strict=True):
                self.rates[name].append(round(max(new - old, 0) / span, 3))
        self._last = counters
        self._last_time = now
        if now - self._spark_time >= SPARK_STEP:
            self._agents(now - self._spark_time)
            self._spark_time = now

    def _agents(self, span: float) -> None:
        last = self._spark_last
        seen: dict[tuple[bytes | str, int], int] = {}
        spark = self.spark
        for key, st in list(self.acct.agents.items()):  # a copy: the receive loop adds agents
            if key[1] < 0:
                continue  # senders of malformed datagrams
            seen[key] = st.datagrams
            before = last.get(key)
            ring = spark.get(key)
            if ring is None:
                ring = spark[key] = array("d")
            ring.append(round((st.datagrams - before) / span, 2) if before is not None else 0.0)
            if len(ring) > SPARK_POINTS:
                del ring[0]
        self._spark_last = seen

    def rate(self, key: tuple[bytes | str, int]) -> float | None:
        """The agent's last datagrams/s point (None until one exists)."""
        ring = self.spark.get(key)
        return ring[-1] if ring else None

    def document(self) -> dict[str, Any]:
        with self.lock:
            times = list(self.times)
            series: dict[str, list[float | None]] = {name: list(values) for name, values in self.rates.items()}
        if self.acct.socket_drops is None and self.socket_drops is None:
            series["socketDrops"] = [None] * len(times)  # not measured (reading a file, or not Linux)
        return {
            "interval": 1,
            "points": len(times),
            "start": times[0] if times else None,
            "end": times[-1] if times else None,
            "series": series,
            "descriptions": SERIES,
        }
