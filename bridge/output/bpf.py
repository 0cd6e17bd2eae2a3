"""Capture filters (tcpdump's BPF syntax), compiled and run by libpcap itself.

libpcap is loaded with ctypes (Debian's libpcap0.8, which tcpdump and tshark
bring). A filter is compiled once per link type and applied to each sampled
header as it will be written, so ``port 53`` means what it means to tcpdump.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


class FilterError(Exception):
    """The filter does not compile, or libpcap is not there."""


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _PktHdr(ctypes.Structure):
    _fields_ = [("ts", _Timeval), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


@lru_cache(maxsize=1)
def _libpcap() -> ctypes.CDLL:
    name = ctypes.util.find_library("pcap")
    if name is None:
        raise FilterError("capture filters need libpcap (Debian: apt-get install libpcap0.8)")
    lib = ctypes.CDLL(name)
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(_BpfProgram),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint32,
    ]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_offline_filter.argtypes = [ctypes.POINTER(_BpfProgram), ctypes.POINTER(_PktHdr), ctypes.c_char_p]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    return lib


class CaptureFilter:
    """``matches(linktype, data, orig_len)``: does the packet pass the filter?"""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._programs: dict[int, _BpfProgram] = {}
        self._hdr = _PktHdr()
        self.program(1)  # fail early, on Ethernet, if the expression is wrong

    def program(self, linktype: int) -> _BpfProgram:
        prog = self._programs.get(linktype)
        if prog is None:
            lib = _libpcap()
            handle = lib.pcap_open_dead(linktype, 262144)
            prog = _BpfProgram()
            try:
                if lib.pcap_compile(handle, ctypes.byref(prog), self.expression.encode(), 1, 0xFFFFFFFF) != 0:
                    msg = lib.pcap_geterr(handle).decode(errors="replace")
                    raise FilterError(f"bad capture filter {self.expression!r}: {msg}")
            finally:
                lib.pcap_close(handle)
            self._programs[linktype] = prog
        return prog

    def matches(self, linktype: int, data: bytes, orig_len: int) -> bool:
        hdr = self._hdr
        hdr.caplen = len(data)
        hdr.len = orig_len
        return _libpcap().pcap_offline_filter(ctypes.byref(self.program(linktype)), ctypes.byref(hdr), data) != 0
