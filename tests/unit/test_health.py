"""The images' health check: a UDP socket on the sFlow port, or, for a bridge reading the bus, a TCP connection
to the bus's port (real sockets on loopback, read back from /proc/net as the check reads them)."""

from __future__ import annotations

import socket

from bridge.cli.health import bus_port, connected, listening


def test_the_bus_port_comes_from_the_first_from() -> None:
    assert bus_port(["-p", "7343"]) is None
    assert bus_port(["--from", "nats://bus:4222", "--since", "15m"]) == 4222
    assert bus_port(["--from", "tls://bus.example:7422"]) == 7422
    assert bus_port(["--from", "nats://bus"]) == 4222  # NATS's own port when none is given
    assert bus_port(["--from"]) is None  # nothing after it: the bridge refuses that anyway


def test_a_connection_and_a_listener_are_seen() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert not connected(port)
        with socket.create_connection(("127.0.0.1", port)):
            peer, _ = server.accept()
            with peer:
                assert connected(port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        assert listening(udp.getsockname()[1])
