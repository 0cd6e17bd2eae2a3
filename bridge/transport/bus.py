"""Publishing every datagram received, unchanged, to a NATS JetStream stream (the shared sFlow bus).

Subjects name the agent, so that a consumer can ask the server for some agents only:
``PREFIX.192.0.2.1`` (IPv4, one token per byte) and ``PREFIX.ip6.2001.0db8.0000.0000.0000.0000.0000.0001``
(IPv6, one token per 16-bit group, written in full), ``PREFIX.unparsed`` for datagrams
whose agent address cannot be read. A prefix on octet (or group) boundaries is then a
subject with ``>``: 10.0.0.0/8 is ``sflow.10.>``.

A message holds several datagrams of one agent (what makes publishing fast), framed as
docs/bus.md says: ``SFB1``, then per datagram its receive time (microseconds since the
epoch, 8 bytes) and length (4 bytes), big-endian, and the datagram as received.

The capture never waits for the bus: the receive loop appends to a queue and returns;
a thread of its own publishes, batching what has queued every few milliseconds. What
cannot be published (the queue full because the bus is slow or down, no stream, an
error or no acknowledgement in time) is counted by reason, and publishing goes on by
itself once the bus answers again.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter, deque
from typing import TYPE_CHECKING, Any, Final

from bridge.sflow.bus_frame import FRAME, MAGIC, agent_subject

if TYPE_CHECKING:
    import asyncio

MAX_MESSAGE: Final = 256 * 1024  # bytes of datagrams in one message (NATS's default limit is 1 MB)
TAKE_BYTES: Final = 16 * MAX_MESSAGE  # taken from the queue at once at most
SUBJECTS_KEPT: Final = 65536  # agents whose subject is remembered; forgotten all at once past that
MAX_QUEUED: Final = 64 << 20  # bytes waiting for the bus before datagrams are counted as unpublished
BATCH_SECONDS: Final = 0.05  # what queues in this long goes out together: fewer, larger messages
IN_FLIGHT: Final = 64  # messages awaiting their acknowledgement at once
ACK_SECONDS: Final = 5.0


class Publisher:
    def __init__(
        self,
        servers: list[str],
        stream: str = "SFLOW",
        prefix: str = "sflow",
        retain_seconds: float | None = 3600.0,
        retain_bytes: int | None = None,
        connect_options: dict[str, Any] | None = None,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.servers = servers
        self.stream = stream
        self.prefix = prefix
        self.retain_seconds = retain_seconds
        self.retain_bytes = retain_bytes
        self.connect_options = connect_options or {}
        self.max_queued = max_queued
        self.queue: deque[bytes] = deque()  # records: receive time in microseconds, length, datagram (FRAME)
        self.queued_in = 0  # bytes queued, written by the receive loop only
        self.queued_out = 0  # bytes taken from the queue, written by the publishing thread only
        self.published = 0  # datagrams acknowledged by the stream
        self.messages = 0
        self.unpublished: Counter[str] = Counter()  # datagrams, by reason
        self.overflow = 0  # datagrams refused by a full queue: the receive loop's own count
        self.connected = False
        self.stream_ready = False  # the stream exists with this bridge's settings
        self.problem = ""  # the last thing that went wrong, for the summary
        self._subjects: dict[bytes, str] = {}  # agent address -> subject
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the receive loop's side: never waits
    def offer(self, data: bytes, now_us: int) -> None:
        self.offer_record(FRAME.pack(now_us, len(data)) + data)

    def offer_record(self, record: bytes) -> None:
        """A record as the bus frames it (receive time, length, datagram), as the bridge hands them over."""
        if self.queued_in - self.queued_out + len(record) > self.max_queued:
            self.overflow += 1
            return
        self.queued_in += len(record)
        self.queue.append(record)

    # ---- the publishing thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bus-publisher", daemon=True)
        self._thread.start()

    def close(self, seconds: float = 2.0) -> None:
        """Publishes what is queued within ``seconds``; what is left is counted as unpublished."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(seconds + 1.0)
        left = len(self.queue)
        if left:
            self.unpublished["the bridge stopped before the bus took them"] += left
            self.queue.clear()

    def _run(self) -> None:
        import asyncio  # here, as nats-py: the bridge starts faster without them when it does not publish

        asyncio.run(self._main())

    async def _main(self) -> None:
        import asyncio

        import nats

        async def disconnected() -> None:
            self.connected = False

        async def reconnected() -> None:
            self.connected = True

        async def error(exc: Exception) -> None:
            self.problem = f"{type(exc).__name__}: {exc}"
            if not self.connected:
                self.problem = "cannot reach the bus: " + self.problem

        nc = None
        while nc is None and not self._stop.is_set():
            # nats-py keeps trying a server that does not answer: meanwhile what arrives is counted, not kept
            connecting = asyncio.create_task(nats.connect(
                servers=self.servers, connect_timeout=2, max_reconnect_attempts=-1, reconnect_time_wait=1,
                pending_size=1, disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error,
                **self.connect_options))  # fmt: skip
            while not connecting.done() and not self._stop.is_set():
                if self.problem:  # an attempt failed: what waits is counted, not kept (the queue holds the first)
                    self._drop_queued("the bus could not be reached")
                await asyncio.wait({connecting}, timeout=BATCH_SECONDS)
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
                break
            try:
                nc = connecting.result()
            except Exception as exc:  # refused for good, bad credentials: count and try again
                self.problem = f"cannot reach the bus: {type(exc).__name__}: {exc}"
                self._drop_queued("the bus could not be reached")
                await asyncio.sleep(1.0)
        if nc is None:
            return
        self.connected = True
        js = nc.jetstream(timeout=ACK_SECONDS)
        stream_ready = self.stream_ready = await self._ensure_stream(js)
        limit = asyncio.Semaphore(IN_FLIGHT)
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not self._stop.is_set() or (self.queue and self.connected):
                if not stream_ready:
                    stream_ready = self.stream_ready = await self._ensure_stream(js)
                took = loop.time()
                batch = self._take()
                if not batch:
                    await asyncio.sleep(BATCH_SECONDS)
                    continue
                if not self.connected:
                    self._count(len(batch), "the bus was disconnected")
                    continue
                for subject, records in self._messages(batch):
                    await limit.acquire()
                    task = asyncio.create_task(self._publish(js, subject, records, limit))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                # what comes in the rest of the window goes together: a message per agent per window, not per
                # datagram that happened to be there (each message costs an acknowledgement)
                wait = BATCH_SECONDS - (loop.time() - took)
                if wait > 0 and self.queued_in - self.queued_out < TAKE_BYTES and not self._stop.is_set():
                    await asyncio.sleep(wait)
            if tasks:
                await asyncio.wait(tasks, timeout=ACK_SECONDS)
        finally:
            with contextlib.suppress(Exception):  # closing a connection that is already gone
                await nc.close()

    async def _ensure_stream(self, js: Any) -> bool:
        from nats.js.api import DiscardPolicy, StorageType, StreamConfig

        config = StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"], max_age=self.retain_seconds,
                              max_bytes=self.retain_bytes or -1, storage=StorageType.FILE,
                              discard=DiscardPolicy.OLD)  # fmt: skip
        try:
            try:
                await js.stream_info(self.stream)
                await js.update_stream(config)
            except Exception as exc:
                if "not found" not in str(exc).lower():
                    raise
                await js.add_stream(config)
        except Exception as exc:
            self.problem = f"cannot create or update stream {self.stream}: {type(exc).__name__}: {exc}"
            return False
        return True

    def _take(self) -> list[bytes]:
        batch = []
        size = 0
        queue = self.queue
        while queue and size < TAKE_BYTES:
            item = queue.popleft()
            batch.append(item)
            size += len(item)
        self.queued_out += size
        return batch

    def _drop_queued(self, reason: str) -> None:
        batch = self._take()
        if batch:
            self._count(len(batch), reason)

    def _count(self, n: int, reason: str) -> None:
        self.unpublished[reason] += n

    def _subject(self, record: bytes) -> str:
        """The agent's subject of a record; remembered by the agent's address (bounded)."""
        kind = record[16:20]  # the datagram's agent address type
        key = record[16:24] if kind == b"\0\0\0\x01" else record[16:36] if kind == b"\0\0\0\x02" else b""
        subject = self._subjects.get(key)
        if subject is None:
            subject = agent_subject(self.prefix, record[FRAME.size :])
            if len(self._subjects) >= SUBJECTS_KEPT:
                self._subjects.clear()
            self._subjects[key] = subject
        return subject

    def _messages(self, batch: list[bytes]) -> list[tuple[str, list[bytes]]]:
        """The batch grouped by agent, in arrival order within each, cut to messages of at most MAX_MESSAGE."""
        by_subject: dict[str, list[list[bytes]]] = {}
        sizes: dict[str, int] = {}
        subject_of = self._subject
        for item in batch:
            subject = subject_of(item)
            chunks = by_subject.get(subject)
            if chunks is None:
                chunks = by_subject[subject] = [[]]
                sizes[subject] = 0
            size = sizes[subject] + len(item)
            if size > MAX_MESSAGE and chunks[-1]:
                chunks.append([])
                size = len(item)
            chunks[-1].append(item)
            sizes[subject] = size
        return [(s, chunk) for s, chunks in by_subject.items() for chunk in chunks]

    async def _publish(self, js: Any, subject: str, records: list[bytes],
                       limit: asyncio.Semaphore) -> None:  # fmt: skip

        import nats.errors
        import nats.js.errors

        try:
            await js.publish(subject, MAGIC + b"".join(records), stream=self.stream)
            self.published += len(records)
            self.messages += 1
        except nats.js.errors.NoStreamResponseError:
            self._count(len(records), "no stream answered (is JetStream on?)")
        except (TimeoutError, nats.errors.TimeoutError):
            self._count(len(records), "no acknowledgement in time")
        except (nats.errors.OutboundBufferLimitError, nats.errors.ConnectionClosedError,
                nats.errors.ConnectionReconnectingError):  # fmt: skip
            self._count(len(records), "the bus was disconnected")
        except Exception as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            self._count(len(records), "refused by the bus")
        finally:
            limit.release()

    def status(self) -> dict[str, Any]:
        unpublished = dict(self.unpublished)
        if self.overflow:
            unpublished["the queue was full (the bus slow or down)"] = self.overflow
        return {
            "servers": self.servers,
            "stream": self.stream,
            "connected": self.connected,
            "ready": self.connected and self.stream_ready,
            "published": self.published,
            "messages": self.messages,
            "queued": len(self.queue),
            "unpublished": unpublished,
            "problem": self.problem,
        }


PIPE_SIZE: Final = 1 << 20  # what the pipe to the publishing process holds (Linux allows 1 MB unprivileged)
FLUSH_BYTES: Final = 256 * 1024  # handed over at least this often, even before the receive loop's flush
REPORT_SECONDS: Final = 0.5


class BusLink:
    """The bridge's side of publishing: hands datagrams to a process of their own, which publishes them.

    The receive loop only appends; :meth:`flush` writes what gathered to a non-blocking pipe.
    The publishing process (``python -m bridge.transport.bus_worker``) runs :class:`Publisher`,
    so nats-py's event loop never takes the receive loop's interpreter lock; it reports its
    counters every half second. When it falls behind and the pipe is full, the datagrams
    are counted as not published ("the publishing process was behind"), never waited for.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.stream = str(config["stream"])
        self._pending: list[bytes] = []
        self._size = 0
        self._rest = b""
        self._rest_count = 0
        self.behind = 0  # datagrams the pipe did not take
        self.report: dict[str, Any] = {"servers": config["servers"], "stream": self.stream, "connected": False,
                                       "ready": False, "published": 0, "messages": 0, "queued": 0, "unpublished": {},
                                       "problem": ""}  # fmt: skip
        self._proc: Any = None
        self._fd = -1
        self._reader: threading.Thread | None = None
        self._closing = False

    def start(self) -> None:
        import json
        import os
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "bridge.transport.bus_worker", json.dumps(self.config)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            proc.kill()
            proc.wait()
            raise OSError("the publishing process did not start")
        self._proc = proc
        self._fd = proc.stdin.fileno()
        with contextlib.suppress(OSError, ImportError):
            import fcntl

            fcntl.fcntl(self._fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
        os.set_blocking(self._fd, False)
        self._reader = threading.Thread(target=self._read_reports, name="bus-reports", daemon=True)
        self._reader.start()

    def _read_reports(self) -> None:
        import json
        import sys

        assert self._proc is not None and self._proc.stdout is not None
        said: bool | None = None  # what the log said last: publishing, or not
        for line in self._proc.stdout:
            with contextlib.suppress(ValueError):
                self.report = json.loads(line)
            if self._closing:
                continue
            # one line each time the bus comes or goes (not while it is still being reached): the log says when
            ready = bool(self.report.get("ready"))
            if ready != said and (ready or self.report.get("problem")):
                said = ready
                sys.stderr.write(self._readiness(ready))

    def _readiness(self, ready: bool) -> str:
        servers = ", ".join(self.config["servers"])
        if ready:
            return f"sflow-bridge: publishing to {servers}, stream {self.stream}\n"
        problem = self.report.get("problem") or "disconnected"
        return f"sflow-bridge: not publishing to {servers} ({problem}): counting what is not published\n"

    # ---- the receive loop's side
    def offer(self, data: bytes, now_us: int) -> None:
        self._pending.append(FRAME.pack(now_us, len(data)))
        self._pending.append(data)
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        import os

        if not self._pending and not self._rest:
            return
        count = len(self._pending) // 2
        chunk = b"".join(self._pending)
        self._pending = []
        self._size = 0
        if self._rest:
            try:
                n = os.write(self._fd, self._rest)
            except BlockingIOError:
                n = 0
            except BrokenPipeError:
                n = len(self._rest)
            self._rest = self._rest[n:]
            if self._rest:
                self.behind += count  # the process is behind: these are not handed over
                return
            self._rest_count = 0
        try:
            n = os.write(self._fd, chunk)
        except BlockingIOError:
            n = 0
        except BrokenPipeError:
            self.behind += count
            return
        if n < len(chunk):
            # a datagram cut by the pipe goes on whole; the ones after it are not handed over
            at = 0
            taken = 0
            while at < n:
                size = FRAME.unpack_from(chunk, at)[1]
                at += FRAME.size + size
                taken += 1
            self._rest = chunk[n:at]
            self.behind += count - taken

    def close(self, seconds: float = 2.0) -> None:
        """Lets the publishing process publish what it has, for at most ``seconds``; reads its last report."""
        import os
        import time

        if self._proc is None:
            return
        self._closing = True
        self.flush()
        deadline = time.monotonic() + seconds
        while self._rest and time.monotonic() < deadline:
            try:
                n = os.write(self._fd, self._rest)
            except BlockingIOError:
                n = 0
                time.sleep(0.005)  # the pipe is full: the process reads it
            except BrokenPipeError:
                break
            self._rest = self._rest[n:]
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        try:
            self._proc.wait(max(deadline - time.monotonic(), 0.0) + 1.0)
        except Exception:
            self._proc.kill()
            self._proc.wait()
        if self._reader is not None:
            self._reader.join(1.0)

    def status(self) -> dict[str, Any]:
        s = dict(self.report)
        unpublished = dict(s.get("unpublished") or {})
        if self.behind:
            unpublished["the publishing process was behind"] = self.behind
        s["unpublished"] = unpublished
        return s

    def summary(self) -> str:
        s = self.status()
        lost = sum(s["unpublished"].values())
        line = f"sflow-bridge: bus {self.stream}: {s['published']} datagrams published in {s['messages']} messages"
        lines = [line + (f", {lost} not published" if lost else "")]
        for reason, n in sorted(s["unpublished"].items()):
            lines.append(f"  not published: {n} {reason}")
        if lost and s.get("problem"):
            lines.append(f"  last problem: {s['problem']}")
        return "\n".join(lines) + "\n"
