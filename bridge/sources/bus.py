"""Reading the sFlow bus: the datagrams a JetStream stream retained, in order, then (with follow) what comes.

An ordered consumer of nats-py (the server remembers nothing of it; a gap makes the
client start again where it was) on the agents' subjects: one subject filter when the
agents asked for are one prefix on byte boundaries (the server sends only those), the
whole prefix otherwise, filtered here. ``since`` starts the consumer at that time of
the stream and drops the datagrams received before it; ``until`` ends the read there;
without ``follow`` the read ends when the consumer has caught up with the stream.

:class:`Consumer` runs in a process of its own (bridge/sources/bus_worker.py), which
writes the datagrams to a pipe as it receives them; :class:`BusReader` is the bridge's
side of that pipe. The client's parsing so runs beside the conversion, not in its
interpreter; a slow output blocks the pipe, which stops the client reading, and the
server holds the rest: the memory never fills.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from bridge.sflow.bus_frame import FRAME, BusError, agent_filter, records_within, unframe

CONNECT_SECONDS: Final = 5.0
WAKE_SECONDS: Final = 0.25  # a reader waiting for live datagrams looks this often whether it was told to stop
READY: Final = b"ready\n"  # the reading process's first words: the bus answered, the stream is there
READ_SIZE: Final = 1 << 20


def subject_filter(prefix: str, agents: list[str] | None) -> str:
    """What the server is asked for: the agents' subjects when they are one prefix, the whole stream otherwise."""
    filters = [f for cidr in agents or [] for f in agent_filter(prefix, cidr)]
    return filters[0] if len(filters) == 1 else f"{prefix}.>"


class BusEnded(Exception):
    """The read ended early: a one-line reason."""


class Consumer:
    """Reads the stream and hands each message's datagrams, in the pipe's framing, to ``sink``."""

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
        self.subject = subject_filter(prefix, agents)
        self.wants = wants  # the agents' own test, where the subject cannot say it all
        self.since = since
        self.since_us = int(since * 1_000_000) if since is not None else None
        self.until_us = int(until * 1_000_000) if until is not None else None
        self.follow = follow
        self.connect_options = connect_options or {}
        self.malformed = 0  # messages that are not the bridge's framing
        self.finished = False  # a datagram past ``until`` was seen: the read is over

    def run(self, sink: Callable[[bytes | memoryview], None], ready: Callable[[], None]) -> None:
        """Calls ``ready`` once the bus answered and the stream is there, then ``sink`` per message, until the
        replay caught up (without follow) or ``until`` passed; BusEnded with a one-line reason if it cannot."""
        import asyncio

        try:
            asyncio.run(self._main(sink, ready))
        except BusEnded:
            raise
        except Exception as exc:  # one line for the user, whatever nats-py raised
            raise BusEnded(f"the bus: {type(exc).__name__}: {exc}") from None

    def framed(self, payload: bytes) -> bytes | memoryview:
        """A message's datagrams from ``since`` to ``until`` of the agents asked for, in the pipe's framing."""
        if self.wants is None and records_within(payload, self.since_us, self.until_us):
            return memoryview(payload)[4:]  # wholly within: its records are the pipe's framing already
        try:
            records = unframe(payload)
        except BusError:
            self.malformed += 1
            return b""
        out = []
        since_us, until_us, wants = self.since_us, self.until_us, self.wants
        for ts, data in records:
            if since_us is not None and ts < since_us:
                continue
            if until_us is not None and ts > until_us:
                self.finished = True
                break
            if wants is None or wants(data):
                out.append(FRAME.pack(ts, len(data)))
                out.append(data)
        return b"".join(out)

    async def _main(self, sink: Callable[[bytes | memoryview], None], ready: Callable[[], None]) -> None:
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
            ready()
            if self.since is not None:
                start = datetime.datetime.fromtimestamp(self.since, datetime.UTC)
                config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start)
            else:
                config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
            done = asyncio.Event()

            async def received(msg: Any) -> None:
                # called one message at a time; a full pipe blocks the whole loop, so the client reads no more
                # from the server until the bridge took what it had
                if done.is_set():
                    return
                data = self.framed(msg.data)
                if data:
                    try:
                        sink(data)
                    except OSError:  # the bridge went away: nothing more to read for
                        self.finished = True
                if self.finished or (not self.follow and msg.metadata.num_pending == 0):
                    done.set()  # past ``until``, or caught up with what the stream retained

            sub = await js.subscribe(self.subject, stream=self.stream, ordered_consumer=True, config=config,
                                     cb=received)  # fmt: skip
            info = await sub.consumer_info()
            # nothing retained from then on: none waiting and none already on its way to us (the server may
            # have pushed them all before this question: its pending count leaves those out)
            if not self.follow and not info.num_pending and not (info.delivered and info.delivered.consumer_seq):
                return
            await done.wait()
            await sub.unsubscribe()
        finally:
            await nc.close()


class BusReader:
    """The bridge's side of reading the bus: :class:`Consumer` in a process of its own, read through a pipe.

    :meth:`start` (connected, or BusEnded), :meth:`chunks` of records, :meth:`idle`, :meth:`close`.
    """

    def __init__(self, servers: list[str], stream: str, prefix: str, agents: list[str] | None,
                 since: float | None, until: float | None, follow: bool, creds: str | None) -> None:  # fmt: skip
        self.servers = servers
        self.stream = stream
        self.subject = subject_filter(prefix, agents)
        self.config = {"servers": servers, "stream": stream, "prefix": prefix, "agents": agents or [],
                       "since": since, "until": until, "follow": follow, "creds": creds}  # fmt: skip
        self.should_stop: Callable[[], bool] = lambda: False
        self._proc: Any = None
        self._stderr: Any = None
        self._said: list[bytes] = []  # the process's stderr: its reason, when it fails
        self._idle = False

    def start(self) -> None:
        import json
        import os
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "bridge.sources.bus_worker", json.dumps(self.config)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stderr = threading.Thread(target=self._keep_stderr, name="bus-reader-stderr", daemon=True)
        self._stderr.start()
        fd = self._proc.stdout.fileno()
        got = b""
        while len(got) < len(READY):  # the process gives up on the bus after CONNECT_SECONDS
            chunk = os.read(fd, len(READY) - len(got))
            if not chunk:
                break
            got += chunk
        if got != READY:
            raise BusEnded(self._reason())

    def _keep_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self._said = [*self._said[-3:], line]

    def _reason(self) -> str:
        try:
            status = self._proc.wait(10)
        except Exception:
            self._proc.kill()
            status = self._proc.wait()
        self._stderr.join(5)  # its last words, read to the end
        said = [line.decode(errors="replace").strip() for line in self._said if line.strip()]
        return said[-1] if said else f"the reading process stopped with status {status}"

    def chunks(self) -> Iterator[bytes]:
        """What the pipe holds, as it comes: records (receive time, length, datagram), the last maybe cut short
        (its rest comes in the next); BusEnded if the read could not go on."""
        import os
        import select

        if self._proc is None:
            self.start()
        fd = self._proc.stdout.fileno()
        while True:
            if not select.select([fd], [], [], WAKE_SECONDS)[0]:
                if self.should_stop():
                    return
                continue
            chunk = os.read(fd, READ_SIZE)
            if not chunk:
                if self._proc.wait() != 0:
                    raise BusEnded(self._reason())
                return
            self._idle = len(chunk) < READ_SIZE  # the pipe had no more: flush what was written
            yield chunk

    def notes(self) -> list[str]:
        """What the reading process said at a normal end (messages it skipped)."""
        if self._proc is None or self._proc.poll() != 0:
            return []
        self._stderr.join(5)
        return [line.decode(errors="replace").strip() for line in self._said if line.strip()]

    def idle(self) -> bool:
        return self._idle

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except Exception:
                self._proc.kill()
                self._proc.wait()
