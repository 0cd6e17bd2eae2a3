"""The images' HEALTHCHECK: is a socket bound to the sFlow UDP port in this container?

A bridge that reads the bus (``--from nats://HOST:PORT``) has no UDP socket: it is
healthy while it holds a TCP connection to the bus's port.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

ESTABLISHED = "01"  # the st column of /proc/net/tcp


def _port(hexport: str) -> int:
    return int(hexport.rsplit(":", 1)[1], 16)


def _any_socket(names: tuple[str, str], test: Callable[[list[str]], bool]) -> bool:
    """Does a socket of these /proc/net tables (IPv4 and IPv6) pass ``test`` on its row's fields?"""
    for name in names:
        try:
            with open(name) as f:
                next(f)
                if any(test(line.split()) for line in f):
                    return True
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return False


def listening(port: int) -> bool:
    return _any_socket(("/proc/net/udp", "/proc/net/udp6"), lambda fields: _port(fields[1]) == port)


def connected(port: int) -> bool:
    return _any_socket(("/proc/net/tcp", "/proc/net/tcp6"),
                       lambda fields: fields[3] == ESTABLISHED and _port(fields[2]) == port)  # fmt: skip


def bus_port(args: list[str]) -> int | None:
    """The port of the first ``--from`` server, or None when the bridge reads UDP."""
    for i, a in enumerate(args[:-1]):
        if a == "--from":
            try:
                return urlsplit(args[i + 1]).port or 4222
            except ValueError:
                return 4222
    return None


def main() -> int:
    args = os.environ.get("SFLOW_BRIDGE_ARGS", "").split()
    bus = bus_port(args)
    if bus is not None:
        if connected(bus):
            return 0
        sys.stderr.write(f"no connection to the bus (TCP port {bus})\n")
        return 1
    port = int(args[args.index("-p") + 1]) if "-p" in args[:-1] else 6343
    if listening(port):
        return 0
    sys.stderr.write(f"nothing listens on UDP port {port}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
