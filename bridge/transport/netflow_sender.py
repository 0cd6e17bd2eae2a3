"""Sending NetFlow datagrams to collectors: ordinary UDP, or with the agent's source address (``-S``).

Spoofing builds the IP and UDP headers itself on a raw socket, as sflowtool does
(source port = destination port, TTL 64, IP ids counting from 12000), so it needs
root or CAP_NET_RAW; without it the socket cannot be opened and the caller says so.
"""

from __future__ import annotations

import os
import socket
import struct

from bridge.sflow.encode import checksum

IPV6_HDRINCL = getattr(socket, "IPV6_HDRINCL", 36)  # Linux's value; older Pythons lack the name


class NetflowError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NetflowSender:
    """Sends each NetFlow datagram to the IPv4 and the IPv6 collector, whichever are set."""

    def __init__(self, collectors: list[str], port: int, spoof: bool = False) -> None:
        self.port = port
        self.spoof = spoof
        self.targets: list[tuple[int, socket.socket, str]] = []
        self.ip_id = 12000
        for address in collectors:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            try:
                if spoof:
                    s = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_UDP)
                    if family == socket.AF_INET:
                        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
                    else:
                        s.setsockopt(socket.IPPROTO_IPV6, IPV6_HDRINCL, 1)
                else:
                    s = socket.socket(family, socket.SOCK_DGRAM)
                    s.connect((address, port))
            except PermissionError as exc:
                raise NetflowError(
                    f"netflow output raw socket open failed: {exc.strerror} "
                    "(-S sends with the agent's source address, which needs root or CAP_NET_RAW)\n",
                    245,
                ) from None
            except OSError as exc:
                what = "raw socket open" if spoof else f"socket to {address} port {port}"
                raise NetflowError(f"netflow output {what} failed: {exc.strerror}\n", 251) from None
            s.setblocking(False)
            self.targets.append((family, s, address))

    def send(self, pkt: bytes, agent: str) -> None:
        for family, s, dest in self.targets:
            try:
                if not self.spoof:
                    s.send(pkt)
                    continue
                # spoofing: only the collector of the agent's own address family can be reached
                agent_family = socket.AF_INET6 if ":" in agent else socket.AF_INET
                if family != agent_family or agent in ("", "-"):
                    continue
                s.sendto(self._spoofed(family, pkt, agent, dest), (dest, 0))
            except (BlockingIOError, ConnectionRefusedError):
                pass  # no collector listening yet, or its buffer full: NetFlow is best effort, as UDP is

    def _spoofed(self, family: int, pkt: bytes, agent: str, dest: str) -> bytes:
        src = socket.inet_pton(family, agent)
        dst = socket.inet_pton(family, dest)
        udp_len = 8 + len(pkt)
        if family == socket.AF_INET:
            self.ip_id = (self.ip_id + 1) & 0xFFFF
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, self.ip_id, 0, 64, 17, 0, src, dst)
            ip = ip[:10] + struct.pack("!H", checksum(ip) or 0xFFFF) + ip[12:]
            pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
        else:
            label = int.from_bytes(os.urandom(3)) & 0xFFFFF
            ip = struct.pack("!IHBB16s16s", (6 << 28) | label, udp_len, 17, 64, src, dst)
            pseudo = src + dst + struct.pack("!II", udp_len, 17)
        udp = struct.pack("!HHHH", self.port, self.port, udp_len, 0)
        udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp + pkt) or 0xFFFF)
        return ip + udp + pkt
