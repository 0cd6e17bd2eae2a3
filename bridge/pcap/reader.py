"""Classic pcap files of sFlow datagrams, read the way sflowtool reads them.

Either byte order, microsecond timestamps, link types EN10MB, LINUX_SLL and
LINUX_SLL2 (anything else is taken as Ethernet). The file is streamed record by
record, never loaded whole. Like sflowtool, the UDP payload is found by skipping
the link header, VLAN tags, the IP header (IPv4 options included, IPv6 assumed to
have no extension headers) and 8 bytes of UDP; ports are not checked.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

MAGIC: Final = 0xA1B2C3D4
MAX_RECORD: Final = 65536  # sflowtool's read buffer
DLT_LINUX_SLL: Final = 113
DLT_LINUX_SLL2: Final = 276

_FILE_HDR: Final = struct.Struct("<IHHIIII")
_VLAN_TPIDS: Final = frozenset((0x8100, 0x88A8, 0x9100, 0x9200, 0x9300))


class PcapError(Exception):
    """The file cannot be read on: ``message`` is sflowtool's text, ``exit_code`` its status."""

    def __init__(self, message: str, exit_code: int, errno_text: str | None = None) -> None:
        super().__init__(message.strip())
        self.message = message
        self.exit_code = exit_code
        # sflowtool appends strerror(errno) to some messages; the caller knows what errno holds
        self.errno_text = errno_text

    def text(self, errno_text: str = "Success") -> str:
        return self.message.replace("{errno}", errno_text) if self.errno_text is not None else self.message


@dataclass(slots=True)
class Record:
    """One sFlow datagram found in a capture."""

    data: bytes
    ts_sec: int
    ts_usec: int


@dataclass(slots=True)
class Packet:
    """One frame of a capture of plain packets (the input of ``-R``)."""

    frame: bytes
    wire_length: int
    ts_sec: int
    ts_usec: int


@dataclass(slots=True)
class Notice:
    """Something sflowtool reports on stderr while reading on."""

    message: str


def sflow_offset(frame: bytes, linktype: int) -> int:
    """sflowtool's pcapOffsetToSFlow(): where the UDP payload starts, or -1."""
    end = len(frame)
    b = frame + bytes(64)  # sflowtool peeks a little past short frames
    if linktype == DLT_LINUX_SLL:
        ptr = 14
        type_len = (b[ptr] << 8) | b[ptr + 1]
        ptr += 2
    elif linktype == DLT_LINUX_SLL2:
        type_len = (b[0] << 8) | b[1]
        ptr = 20
    else:
        if end < 14:
            return -1
        ptr = 12
        type_len = (b[ptr] << 8) | b[ptr + 1]
        ptr += 2
    while type_len in _VLAN_TPIDS:
        ptr += 2
        type_len = (b[ptr] << 8) | b[ptr + 1]
        ptr += 2
        if ptr >= end:
            return -1
    if end - ptr < 34:
        return -1
    if type_len in (0x0200, 0x0201, 0x0600):
        ipx_len = (b[ptr + 2] << 8) | b[ptr + 3]
        if b[ptr] == 0xFF and b[ptr + 1] == 0xFF and 30 <= ipx_len <= 576:
            return -1
    if type_len <= 1500:
        if b[ptr] == 0xAA and b[ptr + 1] == 0xAA and b[ptr + 2] == 0x03:
            ptr += 3
            if b[ptr] or b[ptr + 1] or b[ptr + 2]:
                return -1
            ptr += 3
            type_len = (b[ptr] << 8) | b[ptr + 1]
            ptr += 2
        elif b[ptr] == 0x06 and b[ptr + 1] == 0x06 and (b[ptr + 2] & 0x01):
            ptr += 3
            type_len = 0x0800
        else:
            return -1
    if ptr >= end:
        return -1
    if type_len == 0x0800:
        if end - ptr < 20:
            return -1
        if (b[ptr] >> 4) != 4 or (b[ptr] & 15) < 5:
            return -1
        ptr += (b[ptr] & 15) << 2
    if type_len == 0x86DD:
        if (b[ptr] >> 4) != 6:
            return -1
        ptr += 40
    ptr += 8
    if ptr >= end:
        return -1
    return ptr


class PcapReader:
    """Iterates a capture of sFlow datagrams, yielding :class:`Record` and :class:`Notice`."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.stream = stream
        self.name = name
        head = stream.read(24)
        if len(head) < 24:
            raise PcapError(f"unable to read pcap header from {name} : Success\n", 226)
        magic = struct.unpack("<I", head[:4])[0]
        order = "<"
        if magic != MAGIC:
            if magic == 0xD4C3B2A1:
                order = ">"
            else:
                raise PcapError(
                    f"{name} not recognized as a tcpdump file\n(magic number = {magic:08x} instead of {MAGIC:08x})\n",
                    225,
                )
        _, self.version_major, self.version_minor, _, _, self.snaplen, self.linktype = struct.unpack(
            order + "IHHIIII", head
        )
        self._rec = struct.Struct(order + "IIII")
        self.banner = (
            f"pcap version={self.version_major}.{self.version_minor} snaplen={self.snaplen} linktype={self.linktype} \n"
        )

    def _frames(self) -> Iterator[tuple[int, int, int, bytes] | Notice]:
        """(seconds, microseconds, wire length, captured bytes) of each record; a Notice ends the file early."""
        read = self.stream.read
        rec = self._rec
        while True:
            head = read(16)
            if len(head) < 16:
                return
            ts_sec, ts_usec, caplen, length = rec.unpack(head)
            if caplen > MAX_RECORD:
                yield Notice(f"pcap {self.name} : capture-len ({caplen}) too long for read buffer\n")
                return
            frame = read(caplen)
            if len(frame) < caplen:
                raise PcapError(f"unable to read pcap packet from {self.name} : {{errno}}\n", 222, "read")
            yield ts_sec, ts_usec, length, frame

    def packets(self) -> Iterator[Packet | Notice]:
        """The frames of a capture of plain packets, as ``sflowtool -R`` reads them."""
        for item in self._frames():
            if isinstance(item, Notice):
                yield item
            else:
                ts_sec, ts_usec, length, frame = item
                yield Packet(frame, max(length, len(frame)), ts_sec, ts_usec)

    def __iter__(self) -> Iterator[Record | Notice]:
        """The sFlow datagrams of a capture, with sflowtool's notices for records it cannot use."""
        for item in self._frames():
            if isinstance(item, Notice):
                yield item
                continue
            ts_sec, ts_usec, length, frame = item
            if not frame:
                raise PcapError(f"unable to read pcap packet from {self.name} : {{errno}}\n", 222, "read")
            if len(frame) < length:
                yield Notice("incomplete datagram (pcap snaplen too short)\n")
                continue
            off = sflow_offset(frame, self.linktype)
            # with no IP header found sflowtool starts one byte before the frame, which reads as 0
            data = frame[off:] if off >= 0 else b"\x00" + frame
            yield Record(data, ts_sec, ts_usec)
