"""Capture filters (tcpdump's BPF syntax), compiled and run by libpcap itself.

libpcap is loaded with ctypes (Debian's libpcap0.8, which tcpdump and tshark
bring). A filter is applied to each sampled header as it will be written, so
``port 53`` means what it means to tcpdump.

Compiling is where a filter can hurt: libpcap's optimiser takes time and memory
that grow with the square of the expression (a 20 KB filter took 1.5 GB), and a
filter may come from anyone who reaches the API. So an expression is at most
MAX_FILTER_LENGTH characters and is compiled in a child process with its memory
and CPU limited (``python -m bridge.pcap.bpf``), once for every link type the
bridge writes; the parent keeps only the BPF instructions, in memory of its own,
and runs them with pcap_offline_filter. Nothing libpcap allocates stays behind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys
from functools import lru_cache

from bridge.pcap.writer import LINKTYPES

MAX_FILTER_LENGTH = 2048  # characters; tcpdump expressions people type are a few dozen
COMPILE_SECONDS = 5.0  # wall-clock limit of the compiling process
COMPILE_MEMORY = 512 << 20  # its address space


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
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
    return lib


def compile_here(expression: str, linktype: int) -> bytes:
    """The BPF instructions (8 bytes each) of ``expression`` for ``linktype``, compiled in this process."""
    lib = _libpcap()
    handle = lib.pcap_open_dead(linktype, 262144)
    prog = _BpfProgram()
    try:
        if lib.pcap_compile(handle, ctypes.byref(prog), expression.encode(), 1, 0xFFFFFFFF) != 0:
            raise FilterError(lib.pcap_geterr(handle).decode(errors="replace"))
        try:
            return ctypes.string_at(prog.bf_insns, prog.bf_len * 8)
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)


def compile_bounded(expression: str) -> dict[int, bytes | str]:
    """Per link type, the instructions or libpcap's error: compiled in a child process with limits."""
    if len(expression) > MAX_FILTER_LENGTH:
        raise FilterError(f"the capture filter may be at most {MAX_FILTER_LENGTH} characters")
    _libpcap()  # says so here when libpcap is missing
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bridge.pcap.bpf"],
            input=expression.encode(),
            capture_output=True,
            timeout=COMPILE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise FilterError(f"the capture filter took more than {COMPILE_SECONDS:g} s to compile") from None
    except OSError as exc:
        raise FilterError(f"cannot compile the capture filter: {exc.strerror}") from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if done.returncode != 0 or not isinstance(answer, dict):
        raise FilterError("the capture filter is too costly to compile (its compiler ran out of memory or time)")
    return {int(k): bytes.fromhex(v[1]) if v[0] == "ok" else str(v[1]) for k, v in answer.items()}


class CaptureFilter:
    """``matches(linktype, data, orig_len)``: does the packet pass the filter?"""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._programs: dict[int, _BpfProgram] = {}
        self._code: list[ctypes.Array[ctypes.c_char]] = []  # the instructions the programs point at
        self._unusable: dict[int, str] = {}
        for linktype, result in compile_bounded(expression).items():
            if isinstance(result, str):
                self._unusable[linktype] = result
                continue
            code = ctypes.create_string_buffer(result, len(result))
            self._code.append(code)
            self._programs[linktype] = _BpfProgram(len(result) // 8, ctypes.addressof(code))
        if 1 not in self._programs:  # judged on Ethernet, what tcpdump sees
            raise FilterError(f"bad capture filter {expression!r}: {self._unusable.get(1, 'no program')}")
        self._hdr = _PktHdr()

    def program(self, linktype: int) -> _BpfProgram:
        prog = self._programs.get(linktype)
        if prog is None:
            raise FilterError(f"the filter does not apply to link type {linktype}")
        return prog

    def matches(self, linktype: int, data: bytes, orig_len: int) -> bool:
        hdr = self._hdr
        hdr.caplen = len(data)
        hdr.len = orig_len
        return _libpcap().pcap_offline_filter(ctypes.byref(self.program(linktype)), ctypes.byref(hdr), data) != 0


def _child() -> int:
    """The compiling process: the expression on stdin, {linktype: ["ok", hex] or ["error", text]} on stdout."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (COMPILE_MEMORY, COMPILE_MEMORY))
    cpu = int(COMPILE_SECONDS)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    expression = sys.stdin.buffer.read(MAX_FILTER_LENGTH * 4 + 1).decode(errors="replace")
    out: dict[int, list[str]] = {}
    for linktype in LINKTYPES:
        try:
            out[linktype] = ["ok", compile_here(expression, linktype).hex()]
        except FilterError as exc:
            out[linktype] = ["error", str(exc)]
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_child())
