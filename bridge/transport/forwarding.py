"""Forwarding sessions: copies of the incoming sFlow, unchanged, to other collectors.

A session is named and has a destination (IPv4 or IPv6 address, UDP port, 6343
by default) and an optional list of agents (addresses or CIDR prefixes) whose
datagrams it carries; an empty list means every agent. This is sFlow-RT's
forwarding model, so the same JSON works against both.

In sflow-bridge's live mode the copies are sent by a forwarding process
(bridge/transport/forward_worker.py), so that sending them never costs the capture its
packets: the receive loop hands it each burst of datagrams with one pipe write,
and when it falls behind, the copies it cannot take are dropped and counted per
session (``dropped``) while the pcap stream goes on whole.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import select
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
KEEP_TABLES = 64  # session tables whose late error reports are still charged


class SessionError(ValueError):
    """A session description that cannot be accepted (the API answers 400)."""


class StateError(Exception):
    """The state file cannot be read or written (the API answers 500, and nothing changed)."""


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


def normalised(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address a datagram really goes to: an IPv4-mapped IPv6 address is its IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        mapped = ip.ipv4_mapped  # type: ignore[union-attr]
        if mapped is not None:
            return mapped
    return ip


def is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Is ``ip`` an address of this host? The kernel's answer: a socket can be bound to it."""
    if ip.is_loopback or ip.is_unspecified:
        return True
    if ip.version == 6 and ip.is_link_local:  # binding needs a scope: the kernel's own list instead
        return ip.packed.hex() in _link_local_addresses()
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    if _nonlocal_bind(ip.version):  # every bind succeeds there: ask the routing table instead
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((str(ip), 9))
                return normalised(str(s.getsockname()[0])) == ip
        except OSError:
            return False
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((str(ip), 0))
            return True
    except OSError:
        return False


def _link_local_addresses() -> set[str]:
    try:
        with open("/proc/net/if_inet6") as f:
            return {line.split()[0] for line in f if line.strip()}
    except OSError:
        return set()


def _nonlocal_bind(version: int) -> bool:
    name = f"/proc/sys/net/ipv{version}/ip_nonlocal_bind" if version == 4 else "/proc/sys/net/ipv6/ip_nonlocal_bind"
    try:
        with open(name) as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def destination_problem(address: str, port: int, listen_port: int, allow_groups: bool) -> str | None:
    """Why a copy must not go to ``address`` port ``port`` (None when it may)."""
    ip = normalised(address)
    if port == listen_port and is_local(ip):
        return f"{address} port {port} is this bridge's own sFlow port: it would loop"
    if allow_groups:
        return None
    if ip.is_unspecified:
        return f"{address} is the unspecified address, not a collector"
    if ip.is_multicast or ip == _BROADCAST:
        kind = "multicast" if ip.is_multicast else "broadcast"
        return f"{address} is a {kind} address: start the bridge with --forward-broadcast to allow it"
    return None


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def agent_of(data: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The agent address of an sFlow datagram (any version), or None."""
    if len(data) >= 12 and data[4:8] == b"\0\0\0\x01":
        return ipaddress.IPv4Address(data[8:12])
    if len(data) >= 24 and data[4:8] == b"\0\0\0\x02":
        return ipaddress.IPv6Address(data[8:24])
    return None


class Senders:
    """The UDP sockets copies leave from, one connected socket per destination.

    Connected, so that the kernel reports what the destination answers: an ICMP port
    unreachable makes the next send fail (ECONNREFUSED), and the session counts an error.
    """

    def __init__(self, broadcast: bool = False) -> None:
        self.broadcast = broadcast
        self._socks: dict[tuple[str, int], socket.socket] = {}  # as many as sessions, at most 255

    def send(self, data: bytes, address: str, port: int) -> None:
        sock = self._socks.get((address, port))
        if sock is None:
            sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
            if self.broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            try:
                sock.connect((address, port))
            except OSError:
                sock.close()
                raise
            self._socks[(address, port)] = sock
        sock.send(data)

    def keep(self, destinations: set[tuple[str, int]]) -> None:
        """Closes the sockets of destinations no session has any more."""
        for key in [k for k in self._socks if k not in destinations]:
            self._socks.pop(key).close()


class Forwarder:
    """The session table, shared by the receive loop (send) and the API (change)."""

    def __init__(
        self, listen_port: int, max_sessions: int = 32, state_file: str | None = None, broadcast: bool = False
    ) -> None:
        self.listen_port = listen_port
        self.max_sessions = max_sessions
        self.state_file = state_file
        self.broadcast = broadcast  # broadcast, multicast and unspecified destinations allowed
        self.in_container = os.environ.get("SFLOW_BRIDGE_IMAGE") is not None  # set by the images (images/base)
        self.sessions: dict[str, Session] = {}
        # what the receive loop reads per datagram, replaced whole with the table: every session, whether
        # any picks agents, and their slots as a frame carries them
        self._route: tuple[tuple[Session, ...], bool, bytes] = ((), False, b"")
        self._lock = threading.Lock()
        self._sockets = Senders(broadcast)
        self._proc: Any = None  # the forwarding process, once started
        self._fd = -1
        # datagrams with their sessions, and session tables (with no sessions), in the order they came
        self._pending: list[tuple[bytes, tuple[Session, ...]]] = []
        self._rest = b""  # the part of the last write the pipe did not take
        self._generation = 0  # of the session table, so that a report is charged to the sessions it was about
        self._tables: dict[int, dict[int, Session]] = {}
        if state_file and os.path.exists(state_file):
            self._load(state_file)

    def check(self, session: Session) -> None:
        """Raises SessionError when copies must not go where ``session`` says."""
        problem = destination_problem(session.address, session.port, self.listen_port, self.broadcast)
        if problem is not None:
            raise SessionError(problem)

    def warning(self, session: Session) -> str | None:
        """What a person should know about a session that works, but maybe not as meant."""
        if self.in_container and normalised(session.address).is_loopback:
            return (f"{session.address} is this container's own loopback, not the host's: to reach a collector on "
                    "the host, use the engine's gateway address (host.docker.internal where it resolves)")  # fmt: skip
        return None

    def describe(self, session: Session, counters: bool = True) -> dict[str, object]:
        out = session.to_json()
        if counters:
            out["forwarded"] = session.forwarded
        warning = self.warning(session)
        if warning is not None:
            out["warning"] = warning
        return out

    def put(self, session: Session) -> bool:
        """Creates or replaces a session; True when it is new. Saved before it is live: all or nothing."""
        self.check(session)
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
            self._save(table)  # raises StateError, and nothing has changed
            self._use(table)
            self._announce()
        return new

    def delete(self, name: str) -> bool:
        with self._lock:
            if name not in self.sessions:
                return False
            table = dict(self.sessions)
            del table[name]
            self._save(table)
            self._use(table)
            self._announce()
        return True

    def _use(self, table: dict[str, Session]) -> None:
        """Makes ``table`` the live one; replaced whole, so the receive loop reads a snapshot without locking."""
        everyone = tuple(table.values())
        self.sessions = table
        self._route = (everyone, any(s.networks for s in everyone), bytes([s.slot for s in everyone]))

    def forward(self, data: bytes) -> None:
        everyone, picky, _ = self._route
        if not everyone:
            return
        if picky:  # the agent address is parsed only when some session picks agents
            agent = agent_of(data)
            targets = tuple(s for s in everyone if s.wants(agent))
            if not targets:
                return
        else:
            targets = everyone
        if self._proc is not None:
            if self._rest:  # the forwarding process is behind: this copy is lost now, and counted
                for s in targets:
                    s.dropped += 1
            else:
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
        """Sends the copies from a process of their own from now on; :meth:`flush` hands them over.

        Returns once that process is ready to send (it says so), so that "listening" means ready.
        """
        cmd = [sys.executable, "-m", "bridge.transport.forward_worker", *(["--broadcast"] if self.broadcast else [])]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        ready = proc.stdout.readline()  # the worker's first line; EOF if it died
        if ready.strip() != b"ready":
            proc.kill()
            proc.wait()
            raise OSError("the forwarding process did not start")
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

    @property
    def process_id(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _announce(self) -> None:
        """Queues the session table for the forwarding process (the lock is held)."""
        if self._proc is None:
            return
        self._generation += 1
        self._tables[self._generation] = {s.slot: s for s in self.sessions.values()}
        for old in [g for g in self._tables if g <= self._generation - KEEP_TABLES]:
            del self._tables[old]
        table = {s.slot: [s.address, s.port] for s in self.sessions.values()}
        body = json.dumps({"generation": self._generation, "slots": table}).encode()
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
        everyone, _, slots = self._route
        to_everyone = 0
        for data, targets in pending:
            if not targets:  # a session table
                pass
            elif targets is everyone:  # the usual case, counted once at the end
                frames.append(FRAME_HEAD.pack(len(data), len(targets)) + slots)
                to_everyone += 1
            else:
                frames.append(FRAME_HEAD.pack(len(data), len(targets)) + bytes([s.slot for s in targets]))
                for s in targets:
                    s.forwarded += 1
            frames.append(data)
        if to_everyone:
            for s in everyone:
                s.forwarded += to_everyone
        chunk = b"".join(frames)
        self._rest = chunk[self._write(chunk) :]

    def _write(self, data: bytes) -> int:
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except BrokenPipeError:
            return len(data)  # the process is gone: nothing more will be sent

    def close(self, seconds: float = 0.5) -> None:
        """Lets the forwarding process send what it was given, for at most ``seconds``, then ends it."""
        if self._proc is None:
            return
        self.flush()
        proc = self._proc
        try:
            if self._rest:  # what the pipe did not take: as much as it takes in time
                deadline = time.monotonic() + seconds
                while self._rest and time.monotonic() < deadline:
                    self._rest = self._rest[self._write(self._rest) :]
                    if self._rest:
                        select.select([], [self._fd], [], max(0.0, deadline - time.monotonic()))
            proc.stdin.close()
            proc.wait(timeout=seconds)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        self._proc = None

    def _read_reports(self) -> None:
        """The forwarding process's send errors, per slot of a session table, as it reports them."""
        for line in self._proc.stdout:
            try:
                report = json.loads(line)
                table = self._tables.get(int(report["generation"]), {})
                for slot, n in report["errors"].items():
                    s = table.get(int(slot))
                    if s is not None:
                        s.errors += int(n)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue

    def _save(self, table: dict[str, Session]) -> None:
        """Writes the sessions to the state file: whole or not at all, on disk when it returns."""
        if not self.state_file:
            return
        data = json.dumps({name: s.to_json() for name, s in table.items()}, indent=1).encode()
        folder = os.path.dirname(os.path.abspath(self.state_file))
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sessions-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_file)  # atomic: a crash leaves the old file or the new one
            tmp = None
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the rename itself on disk
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StateError(f"cannot save the forwarding sessions to {self.state_file}: {exc.strerror}; "
                             "nothing changed") from None  # fmt: skip
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _load(self, path: str) -> None:
        """The sessions of a state file, each checked as a PUT would be."""
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read(1 << 24))
        except OSError as exc:
            raise StateError(f"--state {path}: cannot read it: {exc.strerror}") from None
        except (ValueError, RecursionError) as exc:
            raise StateError(f"--state {path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise StateError(f"--state {path}: not a JSON object of sessions by name")
        if len(data) > self.max_sessions:
            raise StateError(f"--state {path}: {len(data)} sessions, more than --max-sessions {self.max_sessions}")
        for name, body in data.items():
            try:
                s = parse_session(name, body)
                self.check(s)
            except SessionError as exc:
                raise StateError(f"--state {path}: session {name!r}: {exc}") from None
            s.slot = len(self.sessions)
            self.sessions[name] = s
        self._use(self.sessions)


def send_copies(fd: int, report: TextIO, broadcast: bool = False) -> None:
    """The forwarding process's work (bridge/transport/forward_worker.py): the frames read from ``fd``, sent.

    Send errors go to ``report``, per slot of the session table they happened under, as a JSON
    line at most every half second, whenever the table changes, and at the end.
    """
    table: dict[int, tuple[str, int]] = {}
    generation = 0
    errors: dict[int, int] = {}
    senders = Senders(broadcast)
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
                if errors:  # charged to the sessions of the table they happened under
                    reported = _report(generation, errors, report)
                body = json.loads(buf[p + TABLE_HEAD.size : p + TABLE_HEAD.size + size])
                generation = int(body["generation"])
                table = {int(slot): (str(dest[0]), int(dest[1])) for slot, dest in body["slots"].items()}
                senders.keep(set(table.values()))
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
            reported = _report(generation, errors, report)
    if errors:
        _report(generation, errors, report)


def _report(generation: int, errors: dict[int, int], report: TextIO) -> float:
    """Writes the errors since the last report, and forgets them."""
    report.write(json.dumps({"generation": generation, "errors": errors}) + "\n")
    report.flush()
    errors.clear()
    return time.monotonic()
