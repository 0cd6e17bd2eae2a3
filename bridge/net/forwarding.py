"""Forwarding sessions: copies of the incoming sFlow, unchanged, to other collectors.

A session is named and has a destination (IPv4 or IPv6 address, UDP port, 6343
by default) and an optional list of agents (addresses or CIDR prefixes) whose
datagrams it carries; an empty list means every agent. This is sFlow-RT's
forwarding model, so the same JSON works against both.

In sflow-bridge's live mode the copies are sent by a forwarding process
(bridge/net/forward_worker.py), so that sending them never costs the capture its
packets: the receive loop hands it each burst of datagrams with one pipe write,
and when it falls behind, the copies it cannot take are dropped and counted per
session (``dropped``) while the pcap stream goes on whole.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# the pipe to the forwarding process: a datagram is [u16 length][u8 sessions][their slots][datagram];
# a length of 0 announces the session table, [u32 length][JSON {slot: [address, port]}]
FRAME_HEAD = struct.Struct(">HB")
TABLE_HEAD = struct.Struct(">HI")
PIPE_SIZE = 1 << 20  # what the process may fall behind by before copies are dropped


class SessionError(ValueError):
    """A session description that cannot be accepted (the API answers 400)."""


@dataclass
class Session:
    name: str
    address: str
    port: int = 6343
    agents: list[str] = field(default_factory=list)
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list, repr=False)
    forwarded: int = 0
    errors: int = 0
    dropped: int = 0  # copies the forwarding process could not take in time
    slot: int = field(default=-1, repr=False)  # the session's number in the forwarding process

    def to_json(self) -> dict[str, object]:
        return {"address": self.address, "port": self.port, "agents": list(self.agents)}

    def wants(self, agent: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        if not self.networks:
            return True
        return agent is not None and any(agent in n for n in self.networks)


def parse_session(name: str, body: object) -> Session:
    if not NAME.match(name):
        raise SessionError("the session name may hold only letters, digits, '.', '_' and '-' (at most 64)")
    if not isinstance(body, dict):
        raise SessionError('the body must be a JSON object such as {"address":"10.0.0.30"}')
    unknown = set(body) - {"address", "port", "agents"}
    if unknown:
        raise SessionError(f"unknown field(s): {', '.join(sorted(unknown))}")
    addr = body.get("address")
    if not isinstance(addr, str):
        raise SessionError("address is required: an IPv4 or IPv6 address")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise SessionError(f"address {addr!r} is not an IPv4 or IPv6 address") from None
    port = body.get("port", 6343)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise SessionError("port must be a number from 1 to 65535")
    agents = body.get("agents", [])
    if not isinstance(agents, list) or not all(isinstance(a, str) for a in agents):
        raise SessionError("agents must be a list of addresses or CIDR prefixes")
    try:
        nets = [ipaddress.ip_network(a, strict=False) for a in agents]
    except ValueError as exc:
        raise SessionError(f"bad agent: {exc}") from None
    return Session(name, str(ip), port, list(agents), nets)


def agent_of(data: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The agent address of an sFlow datagram (any version), or None."""
    if len(data) >= 12 and data[4:8] == b"\0\0\0\x01":
        return ipaddress.IPv4Address(data[8:12])
    if len(data) >= 24 and data[4:8] == b"\0\0\0\x02":
        return ipaddress.IPv6Address(data[8:24])
    return None


class Senders:
    """The UDP sockets copies leave from: one for IPv4, one for IPv6 made when first needed."""

    def __init__(self) -> None:
        self._sock4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock6: socket.socket | None = None

    def send(self, data: bytes, address: str, port: int) -> None:
        if ":" not in address:
            self._sock4.sendto(data, (address, port))
            return
        if self._sock6 is None:
            self._sock6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self._sock6.sendto(data, (address, port))


class Forwarder:
    """The session table, shared by the receive loop (send) and the API (change)."""

    def __init__(self, listen_port: int, max_sessions: int = 32, state_file: str | None = None) -> None:
        self.listen_port = listen_port
        self.max_sessions = max_sessions
        self.state_file = state_file
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._sockets = Senders()
        self._local = _local_addresses()
        self._proc: Any = None  # the forwarding process, once started
        self._fd = -1
        # datagrams with their sessions, and session tables (with no sessions), in the order they came
        self._pending: list[tuple[bytes, tuple[Session, ...]]] = []
        self._rest = b""  # the part of the last write the pipe did not take
        if state_file and os.path.exists(state_file):
            self._load(state_file)

    def put(self, session: Session) -> bool:
        """Creates or replaces a session; True when it is new."""
        ip = ipaddress.ip_address(session.address)
        if session.port == self.listen_port and (ip.is_loopback or ip.is_unspecified or str(ip) in self._local):
            raise SessionError(f"{session.address} port {session.port} is this bridge's own sFlow port: it would loop")
        with self._lock:
            new = session.name not in self.sessions
            if new and len(self.sessions) >= self.max_sessions:
                raise SessionError(f"at most {self.max_sessions} forwarding sessions")
            old = self.sessions.get(session.name)
            if old is not None:
                session.forwarded, session.errors, session.dropped = old.forwarded, old.errors, old.dropped
                session.slot = old.slot
            else:
                used = {s.slot for s in self.sessions.values()}
                session.slot = min(set(range(len(used) + 1)) - used)
            table = dict(self.sessions)
            table[session.name] = session
            self.sessions = table  # replaced whole: the receive loop iterates a snapshot without locking
            self._save()
            self._announce()
        return new

    def delete(self, name: str) -> bool:
        with self._lock:
            if name not in self.sessions:
                return False
            table = dict(self.sessions)
            del table[name]
            self.sessions = table
            self._save()
            self._announce()
        return True

    def forward(self, data: bytes) -> None:
        sessions = self.sessions
        if not sessions:
            return
        # the agent address is parsed only when some session picks agents
        agent = agent_of(data) if any(s.networks for s in sessions.values()) else None
        targets = tuple(s for s in sessions.values() if s.wants(agent))
        if self._proc is not None:
            if targets:
                self._pending.append((data, targets))
            return
        for s in targets:
            try:
                self._sockets.send(data, s.address, s.port)
                s.forwarded += 1
            except OSError:
                s.errors += 1

    # ---- the forwarding process (sflow-bridge's live mode)
    def start_process(self) -> None:
        """Sends the copies from a process of their own from now on; :meth:`flush` hands them over."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.net.forward_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdin is not None
        self._proc = proc
        self._fd = proc.stdin.fileno()
        try:
            import fcntl

            fcntl.fcntl(self._fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
        except OSError:
            pass  # the default pipe (64 KB) holds less of a burst, nothing worse
        os.set_blocking(self._fd, False)
        threading.Thread(target=self._read_reports, name="forwarding-reports", daemon=True).start()
        with self._lock:
            self._announce()

    def _announce(self) -> None:
        """Queues the session table for the forwarding process (the lock is held)."""
        if self._proc is None:
            return
        body = json.dumps({s.slot: [s.address, s.port] for s in self.sessions.values()}).encode()
        self._pending.append((TABLE_HEAD.pack(0, len(body)) + body, ()))

    def flush(self) -> None:
        """Hands the datagrams forwarded since the last call to the forwarding process, without waiting.

        Does nothing when no process was started: the copies went out in forward() then.
        """
        if self._proc is None or not (self._pending or self._rest):
            return
        with self._lock:  # the API's thread adds session tables
            pending = self._pending
            self._pending = []
        if self._rest:
            self._rest = self._rest[self._write(self._rest) :]
            if self._rest:  # the process is behind: these copies are lost, and counted; tables wait
                for _, targets in pending:
                    for s in targets:
                        s.dropped += 1
                with self._lock:
                    self._pending[:0] = [entry for entry in pending if not entry[1]]
                return
        frames = []
        for data, targets in pending:
            if targets:
                frames.append(FRAME_HEAD.pack(len(data), len(targets)) + bytes([s.slot for s in targets]))
                for s in targets:
                    s.forwarded += 1
            frames.append(data)
        chunk = b"".join(frames)
        self._rest = chunk[self._write(chunk) :]

    def _write(self, data: bytes) -> int:
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except BrokenPipeError:
            return len(data)  # the process is gone: nothing more will be sent

    def close(self) -> None:
        """Lets the forwarding process send what it was given, then ends it."""
        if self._proc is None:
            return
        self.flush()
        os.set_blocking(self._fd, True)
        try:
            if self._rest:
                os.write(self._fd, self._rest)
            self._proc.stdin.close()
            self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
        self._proc = None

    def _read_reports(self) -> None:
        """The forwarding process's send errors, per slot, as it reports them."""
        for line in self._proc.stdout:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            by_slot = {s.slot: s for s in self.sessions.values()}
            for slot, n in report.items():
                s = by_slot.get(int(slot))
                if s is not None:
                    s.errors += n

    def _save(self) -> None:
        if not self.state_file:
            return
        data = {name: s.to_json() for name, s in self.sessions.items()}
        folder = os.path.dirname(os.path.abspath(self.state_file))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sessions-")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, self.state_file)  # atomic: a crash leaves the old file or the new one

    def _load(self, path: str) -> None:
        with open(path) as f:
            data = json.load(f)
        for name, body in data.items():
            s = parse_session(name, body)
            s.slot = len(self.sessions)
            self.sessions[name] = s


def send_copies(fd: int, report: TextIO) -> None:
    """The forwarding process's work (bridge/net/forward_worker.py): the frames read from ``fd``, sent.

    Send errors go to ``report``, per slot, as a JSON line at most every half second and at the end.
    """
    table: dict[int, tuple[str, int]] = {}
    errors: dict[int, int] = {}
    senders = Senders()
    reported = time.monotonic()
    buf = b""
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        buf = buf + chunk if buf else chunk
        p, end = 0, len(buf)
        while p + FRAME_HEAD.size <= end:
            length, count = FRAME_HEAD.unpack_from(buf, p)
            if length == 0:  # the session table
                if p + TABLE_HEAD.size > end:
                    break
                size = TABLE_HEAD.unpack_from(buf, p)[1]
                if p + TABLE_HEAD.size + size > end:
                    break
                body = json.loads(buf[p + TABLE_HEAD.size : p + TABLE_HEAD.size + size])
                table = {int(slot): (addr, port) for slot, (addr, port) in body.items()}
                p += TABLE_HEAD.size + size
                continue
            start = p + FRAME_HEAD.size + count
            if start + length > end:
                break
            data = buf[start : start + length]
            for slot in buf[p + FRAME_HEAD.size : start]:
                dest = table.get(slot)
                if dest is None:
                    continue
                try:
                    senders.send(data, dest[0], dest[1])
                except OSError:
                    errors[slot] = errors.get(slot, 0) + 1
            p = start + length
        buf = buf[p:]
        if errors and time.monotonic() - reported >= 0.5:
            reported = _report(errors, report)
    if errors:
        _report(errors, report)


def _report(errors: dict[int, int], report: TextIO) -> float:
    """Writes the errors since the last report, and forgets them."""
    report.write(json.dumps(errors) + "\n")
    report.flush()
    errors.clear()
    return time.monotonic()


def _local_addresses() -> set[str]:
    found = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(ipaddress.ip_address(str(info[4][0]).split("%")[0])))
    except (OSError, ValueError):
        pass
    return found
