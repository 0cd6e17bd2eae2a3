"""The sFlow wire format: ``decode(bytes) -> Datagram``, with no I/O inside."""

from bridge.sflow.datagram import Datagram, decode
from bridge.sflow.reader import DecodeError, Sample

__all__ = ["Datagram", "DecodeError", "Sample", "decode"]
