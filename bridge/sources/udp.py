"""Receiving sFlow over UDP, IPv4 and IPv6, with sflowtool's socket choices.

By default one IPv6 socket, which on Linux also receives IPv4 (as mapped
addresses); ``-4`` an IPv4 socket only, ``-6`` IPv6 only, ``-A`` both, ``-b ADDRESS``
a chosen address. The receive buffer is raised to 2 MB, with a warning when the
kernel grants less, because bursts of sFlow are lost in the socket otherwise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

RCVBUF = 2_000_000
MAX_DATAGRAM = 65536


@dataclass(slots=True)
class Arrival:
    data: bytes
    source: str  # sender address, IPv4-mapped IPv6 shown as IPv4
    sec: int
    usec: int


def _request_buffer(sock: socket.socket, descr: str, warn: Callable[[str], None], size: int, force: bool) -> int:
    """Asks for a receive buffer of ``size`` bytes (sflowtool's messages); returns what the kernel granted."""
    current = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if current > size:
        warn(f"requestSocketBuffer({descr}): already have {current}\n")
        return current
    try:
        # with CAP_NET_ADMIN the limit net.core.rmem_max does not apply
        sock.setsockopt(socket.SOL_SOCKET, 33 if force else socket.SO_RCVBUF, size)  # 33: SO_RCVBUFFORCE
    except OSError as exc:
        if not force:
            warn(f"requestSocketBuffer({descr}): setsockopt(req={size}) failed: {exc.strerror}\n")
        else:
            return _request_buffer(sock, descr, warn, size, False)
    got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if got < size:
        warn(f"requestSocketBuffer({descr}): requested {size}, but only got {got}\n")
    return got


def open_socket(
    family: int, address: str | None, port: int, warn: Callable[[str], None], rcvbuf: int = RCVBUF, force: bool = False
) -> socket.socket | None:
    """openInputUDPSocket / openInputUDP6Socket: None (after a message) when it fails."""
    v6 = family == socket.AF_INET6
    if address is not None:
        try:
            packed = socket.inet_pton(family, address)
        except OSError:
            warn(f"could not parse '{address}' as an IPv{6 if v6 else 4} address\n")
            return None
        host = socket.inet_ntop(family, packed)
    else:
        host = "::" if v6 else "0.0.0.0"
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    except OSError as exc:  # a kernel without IPv6 (EAFNOSUPPORT): the caller falls back to IPv4
        warn(f"v{6 if v6 else 4} socket() failed : {exc.strerror}\n")
        return None
    sock.setblocking(False)
    _request_buffer(sock, "sflow/v6 in" if v6 else "sflow/v4 in", warn, rcvbuf, force)
    try:
        sock.bind((host, port))
    except OSError as exc:
        warn(f"v{6 if v6 else 4} bind() failed, port = {port} : {exc.strerror}\n")
        sock.close()
        return None
    return sock


def open_listeners(
    port: int,
    listen4: bool,
    listen6: bool,
    controlled: bool,
    address: str | None,
    warn: Callable[[str], None],
    rcvbuf: int = RCVBUF,
    force: bool = False,
) -> list[socket.socket]:
    socks = []
    s6 = open_socket(socket.AF_INET6, address, port, warn, rcvbuf, force) if listen6 else None
    if s6 is not None:
        socks.append(s6)
    if listen4 or (s6 is None and not controlled):
        s4 = open_socket(socket.AF_INET, address, port, warn, rcvbuf, force)
        if s4 is not None:
            socks.append(s4)
    return socks


def close_door(sock: socket.socket) -> None:
    """Stops new datagrams reaching ``sock`` while those already queued stay readable.

    A connected UDP socket only takes datagrams from its peer; connected to itself, from nobody.
    What arrived before stays in the queue, so a stopping bridge writes exactly that and no more.
    """
    host, port = sock.getsockname()[:2]
    if host in ("::", "0.0.0.0"):
        host = "::1" if sock.family == socket.AF_INET6 else "127.0.0.1"
    with contextlib.suppress(OSError):  # then the time bound of the last drain still applies
        sock.connect((host, port))


def source_text(addr: str) -> str:
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    if ip.version == 6:
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        if ip.packed[:12] == bytes(12):  # IPv4-compatible, as sflowtool also unwraps
            return str(ipaddress.IPv4Address(ip.packed[12:]))
        h = ip.packed.hex()
        return ":".join(h[i : i + 4] for i in range(0, 32, 4))
    return str(ip)


def receive(socks: list[socket.socket], stop: Callable[[], bool] | None = None) -> Iterator[Arrival]:
    """Yields datagrams as they arrive, draining each socket before waiting again."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    try:
        while stop is None or not stop():
            for key, _ in sel.select(timeout=0.1):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                while True:
                    try:
                        data, peer = sock.recvfrom(MAX_DATAGRAM)
                    except BlockingIOError:
                        break
                    now = time.time_ns() // 1000
                    yield Arrival(data, source_text(peer[0]), now // 1_000_000, now % 1_000_000)
    finally:
        sel.close()


def kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for this socket (Linux /proc/net/udp*), or None where unknown."""
    try:
        inode = os.fstat(sock.fileno()).st_ino
        name = "/proc/net/udp6" if sock.family == socket.AF_INET6 else "/proc/net/udp"
        with open(name) as f:
            next(f)
            for line in f:
                parts = line.split()
                if int(parts[9]) == inode:
                    return int(parts[-1])
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return None
