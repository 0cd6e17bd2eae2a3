"""Reading the sFlow bus: the datagrams a JetStream stream retained, in order, then (with follow) what comes.

An ordered consumer of nats-py (the server remembers nothing of it; a gap makes the
client start again where it was) on the agents' subjects: one subject filter when the
agents asked for are one prefix on byte boundaries (the server sends only those), the
whole prefix otherwise, filtered here. ``since`` starts the consumer at that time of
the stream and drops the datagrams received before it; ``until`` ends the read there;
without ``follow`` the read ends when the consumer has caught up with the stream.

A thread of its own runs the client and hands the datagrams over through a bounded
queue: a slow output slows the consumer (the server holds the rest), it never fills
the memory.
"""

from __future__ import annotations

import datetime
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from bridge.sflow.bus_frame import BusError, agent_filter, unframe

QUEUED: Final = 256  # messages handed over at once (each up to 256 KB of datagrams)
CONNECT_SECONDS: Final = 5.0
WAKE_SECONDS: Final = 0.25  # a reader waiting for live datagrams looks this often whether it was told to stop
_END: Final = object()


class BusEnded(Exception):
    """The read ended early: a one-line reason."""


class Consumer:
    def __init__(
        self,
        servers: list[str],
        stream: str = "SFLOW",
        prefix: str = "sflow",
        agents: list[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        follow: bool = False,
        connect_options: dict[str, Any] | None = None,
        wants: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.servers = servers
        self.stream = stream
        self.prefix = prefix
        filters = [f for cidr in agents or [] for f in agent_filter(prefix, cidr)]
        self.subject = filters[0] if len(filters) == 1 else f"{prefix}.>"
        self.wants = wants  # the agents' own test, where the subject cannot say it all
        self.since = since
        self.until = until
        self.follow = follow
        self.connect_options = connect_options or {}
        self.messages = 0
        self.malformed = 0  # messages that are not the bridge's framing
        self._queue: queue.Queue[object] = queue.Queue(QUEUED)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()  # connected and the stream found, or given up
        self._ready = False
        self.error = ""
        self.should_stop: Callable[[], bool] = lambda: False  # a signal's flag: a quiet stream must not hold a stop

    def start(self) -> None:
        """Connects and finds the stream, or raises BusEnded with the reason: before any output is written."""
        self._thread = threading.Thread(target=self._run, name="bus-consumer", daemon=True)
        self._thread.start()
        self._started.wait(CONNECT_SECONDS + 10)  # connecting gives up after CONNECT_SECONDS
        if not self._ready:
            self.close()
            raise BusEnded(self.error or f"no answer from {', '.join(self.servers)}")

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        """(receive time in microseconds, datagram), in the stream's order; BusEnded if it cannot be read."""
        if self._thread is None:
            self.start()
        since_us = int(self.since * 1_000_000) if self.since is not None else None
        until_us = int(self.until * 1_000_000) if self.until is not None else None
        wants = self.wants
        while True:
            try:
                item = self._queue.get(timeout=WAKE_SECONDS)
            except queue.Empty:
                if self.should_stop():
                    return
                continue
            if item is _END:
                if self.error:
                    raise BusEnded(self.error)
                return
            assert isinstance(item, bytes)
            try:
                records = unframe(item)
            except BusError:
                self.malformed += 1
                continue
            for ts, data in records:
                if since_us is not None and ts < since_us:
                    continue
                if until_us is not None and ts > until_us:
                    self.close()
                    return
                if wants is None or wants(data):
                    yield ts, data

    def close(self) -> None:
        self._stop.set()

    def idle(self) -> bool:
        """Nothing handed over waits: the reader is at the stream's pace (flush what it wrote)."""
        return self._queue.empty()

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        import asyncio

        try:
            asyncio.run(self._main())
        except BusEnded as exc:
            self.error = str(exc)
        except Exception as exc:  # one line for the user, whatever nats-py raised
            self.error = f"the bus: {type(exc).__name__}: {exc}"
        self._started.set()
        self._stop.set()
        try:
            self._queue.put_nowait(_END)
        except queue.Full:
            self._queue.get_nowait()
            self._queue.put_nowait(_END)

    async def _main(self) -> None:
        import asyncio

        import nats
        from nats.js.api import ConsumerConfig, DeliverPolicy

        problems: list[str] = []

        async def error(exc: Exception) -> None:  # instead of nats-py's traceback on stderr
            problems.append(f"{type(exc).__name__}: {exc}")

        try:
            # nats-py keeps trying a first connection that fails: the read gives up after CONNECT_SECONDS
            nc = await asyncio.wait_for(nats.connect(
                servers=self.servers, connect_timeout=2, allow_reconnect=self.follow, max_reconnect_attempts=-1,
                reconnect_time_wait=1, error_cb=error, **self.connect_options), CONNECT_SECONDS)  # fmt: skip
        except Exception as exc:
            why = problems[-1] if problems else f"{type(exc).__name__}: {exc}"
            raise BusEnded(f"cannot reach {', '.join(self.servers)}: {why}") from None
        try:
            js = nc.jetstream()
            try:
                await js.stream_info(self.stream)
            except Exception as exc:
                raise BusEnded(f"no stream {self.stream} on the bus ({type(exc).__name__}: {exc})") from None
            self._ready = True
            self._started.set()
            if self.since is not None:
                start = datetime.datetime.fromtimestamp(self.since, datetime.UTC)
                config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start)
            else:
                config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
            sub = await js.subscribe(self.subject, stream=self.stream, ordered_consumer=True, config=config)
            info = await sub.consumer_info()
            # nothing retained from then on: none waiting and none already on its way to us (the server may
            # have pushed them all before this question: its pending count leaves those out)
            if not self.follow and not info.num_pending and not (info.delivered and info.delivered.consumer_seq):
                return
            while not self._stop.is_set():
                try:
                    msg = await sub.next_msg(timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                self.messages += 1
                try:
                    self._queue.put_nowait(msg.data)
                except queue.Full:  # the output is slower: wait for it without holding up the event loop
                    await asyncio.to_thread(self._put, msg.data)
                if not self.follow and msg.metadata.num_pending == 0:
                    return  # caught up with what the stream retained
        finally:
            await nc.close()
