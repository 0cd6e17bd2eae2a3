"""Forwarding sessions: copies of the incoming sFlow, unchanged, to other collectors.

A session is named and has a destination (IPv4 or IPv6 address, UDP port, 6343
by default) and an optional list of agents (addresses or CIDR prefixes) whose
datagrams it carries; an empty list means every agent. This is sFlow-RT's
forwarding model, so the same JSON works against both.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import tempfile
import threading
from dataclasses import dataclass, field

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


class Forwarder:
    """The session table, shared by the receive loop (send) and the API (change)."""

    def __init__(self, listen_port: int, max_sessions: int = 32, state_file: str | None = None) -> None:
        self.listen_port = listen_port
        self.max_sessions = max_sessions
        self.state_file = state_file
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._sock4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock6: socket.socket | None = None
        self._local = _local_addresses()
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
                session.forwarded, session.errors = old.forwarded, old.errors
            table = dict(self.sessions)
            table[session.name] = session
            self.sessions = table  # replaced whole: the receive loop iterates a snapshot without locking
            self._save()
        return new

    def delete(self, name: str) -> bool:
        with self._lock:
            if name not in self.sessions:
                return False
            table = dict(self.sessions)
            del table[name]
            self.sessions = table
            self._save()
        return True

    def forward(self, data: bytes) -> None:
        sessions = self.sessions
        if not sessions:
            return
        # the agent address is parsed only when some session picks agents
        agent = agent_of(data) if any(s.networks for s in sessions.values()) else None
        for s in sessions.values():
            if not s.networks or s.wants(agent):
                try:
                    self._socket(s.address).sendto(data, (s.address, s.port))
                    s.forwarded += 1
                except OSError:
                    s.errors += 1

    def _socket(self, address: str) -> socket.socket:
        if ":" not in address:
            return self._sock4
        if self._sock6 is None:
            self._sock6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        return self._sock6

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
            self.sessions[name] = s


def _local_addresses() -> set[str]:
    found = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(ipaddress.ip_address(str(info[4][0]).split("%")[0])))
    except (OSError, ValueError):
        pass
    return found
