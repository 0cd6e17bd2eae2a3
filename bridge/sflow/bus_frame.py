"""The sFlow bus's framing: how datagrams travel in NATS messages, and the subjects that name their agents.

Subjects: ``PREFIX.192.0.2.1`` (IPv4, one token per byte), ``PREFIX.ip6.2001.0db8.0000.0000.0000.0000.0000.0001``
(IPv6, one token per 16-bit group, in full), ``PREFIX.unparsed`` where the agent address
cannot be read. A prefix on byte (or group) boundaries is a subject with ``>``.

A message: ``SFB1``, then per datagram its receive time (microseconds since the epoch,
8 bytes) and length (4 bytes), big-endian, and the datagram as received. Shared by the
publisher (bridge/transport/bus.py) and the consumer (bridge/sources/bus.py).
"""

from __future__ import annotations

import datetime
import ipaddress
import struct
import time
from typing import Final

MAGIC: Final = b"SFB1"
FRAME: Final = struct.Struct(">QI")  # receive time in microseconds, datagram length


class BusError(ValueError):
    pass


def agent_subject(prefix: str, data: bytes) -> str:
    """The subject of a datagram, from the agent address in its header (sFlow v2, v4 and v5 alike)."""
    if len(data) >= 12 and data[4:8] == b"\0\0\0\x01":
        return prefix + "." + ".".join(str(b) for b in data[8:12])
    if len(data) >= 24 and data[4:8] == b"\0\0\0\x02":
        return prefix + ".ip6." + ".".join(data[i : i + 2].hex() for i in range(8, 24, 2))
    return prefix + ".unparsed"


def agent_of(data: bytes) -> bytes:
    """The agent address in a datagram's header, packed (4 or 16 bytes); empty if it cannot be read."""
    if len(data) >= 12 and data[4:8] == b"\0\0\0\x01":
        return data[8:12]
    if len(data) >= 24 and data[4:8] == b"\0\0\0\x02":
        return data[8:24]
    return b""


def agent_filter(prefix: str, cidr: str) -> list[str]:
    """Subjects that select an agent prefix on the server; finer prefixes round out to whole bytes (or groups)."""
    net = ipaddress.ip_network(cidr, strict=False)
    if net.version == 4:
        whole = net.prefixlen // 8
        parts = [str(b) for b in net.network_address.packed[:whole]]
        head = f"{prefix}." + ".".join(parts) if parts else prefix
        return [head + (".>" if whole < 4 else "")]
    whole = net.prefixlen // 16
    groups = [net.network_address.packed[i : i + 2].hex() for i in range(0, whole * 2, 2)]
    head = f"{prefix}.ip6" + ("." + ".".join(groups) if groups else "")
    return [head + (".>" if whole < 8 else "")]


def frame(records: list[tuple[int, bytes]]) -> bytes:
    """A message of (receive time in microseconds, datagram) records."""
    out = [MAGIC]
    for ts, data in records:
        out.append(FRAME.pack(ts, len(data)))
        out.append(data)
    return b"".join(out)


def unframe(payload: bytes) -> list[tuple[int, bytes]]:
    """(receive time in microseconds, datagram) of a message; BusError if it is not one of ours or is cut short."""
    if payload[:4] != MAGIC:
        raise BusError("not an sflow-bridge bus message (no SFB1 mark)")
    out = []
    at = 4
    while at < len(payload):
        if at + FRAME.size > len(payload):
            raise BusError(f"a frame header cut short at byte {at}")
        ts, n = FRAME.unpack_from(payload, at)
        at += FRAME.size
        if at + n > len(payload):
            raise BusError(f"a datagram of {n} bytes cut short at byte {at}")
        out.append((ts, payload[at : at + n]))
        at += n
    return out


def records_within(payload: bytes, since_us: int | None, until_us: int | None) -> bool | None:
    """Is every record of a message within [since, until]? None if the message is not whole framing.

    Reads the frame headers only: a message that is wholly within can be handed on as it is.
    """
    if payload[:4] != MAGIC:
        return None
    size = FRAME.size
    end = len(payload)
    at = 4
    within = True
    while at < end:
        if at + size > end:
            return None
        ts, n = FRAME.unpack_from(payload, at)
        at += size + n
        if (since_us is not None and ts < since_us) or (until_us is not None and ts > until_us):
            within = False
    return within if at == end else None


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '7d' (or plain seconds) -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    t = text.strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise BusError(f"{text!r} is not a duration (like 90s, 15m, 1h, 7d)") from None
    if not 0 < value < 10 * 365 * 86400:
        raise BusError(f"{text!r}: a duration from 1 s to 10 years")
    return value


def parse_size(text: str) -> int:
    """'500M', '2G', '1024' (bytes) -> bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().removesuffix("b")
    try:
        value = int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except (ValueError, KeyError):
        raise BusError(f"{text!r} is not a size (like 500M, 2G)") from None
    if value < 1 << 20:
        raise BusError(f"{text!r}: at least 1M")
    return value


def parse_time(text: str, now: float | None = None) -> float:
    """'15m' (that long ago) or an ISO 8601 time ('2026-12-03T03:00Z'; UTC when no zone is given) -> epoch seconds."""
    now = time.time() if now is None else now
    t = text.strip()
    if t and t[0].isdigit() and ("-" in t or "T" in t):
        try:
            when = datetime.datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise BusError(f"{text!r} is not a time (like 15m, or 2026-12-03T03:00Z)") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        return when.timestamp()
    try:
        return now - parse_duration(t)
    except BusError:
        raise BusError(f"{text!r} is not a time (like 15m, or 2026-12-03T03:00Z)") from None
