#!/usr/bin/env python3
"""Decoding speed of ``sflowtool -r FILE`` in the default text mode, -g and -j.

Writes a realistic capture (default 100,000 datagrams from 50 agents sampling some
20,000 flows: 4-8 flow samples with 128-byte headers of TCP/UDP/ICMP over IPv4 and
IPv6, some 802.1Q tagged, with extended switch/router/gateway records, and 1-2
counter samples with generic and Ethernet counters each), then times each mode in
a child process and reports datagrams/s, samples/s and peak memory. Every figure
is also given as a ratio to a baseline run in the same command: reading the same
file's records without decoding them. A second, 5x smaller capture shows whether
memory stays flat with the input size.

    .venv/bin/python scripts/bench.py [--datagrams N] [--keep DIR] [--repeat N] [--sflowtool BINARY]

``--sflowtool`` times a build of sflowtool itself on the same captures, in the same
command, so that the figures can be read against it on any machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.pcap.writer import DLT_EN10MB, file_header, record  # noqa: E402
from bridge.sources.demo import Population  # noqa: E402

MODES = {"read only (baseline)": None, "text": [], "-g": ["-g"], "-j": ["-j"]}
# the child reports its own peak RSS (VmHWM) at exit: ru_maxrss would include this parent's, copied at fork
REPORT_HWM = (
    "import atexit, os, runpy, sys\n"
    "def hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM'):\n"
    "            open(os.environ['BENCH_HWM'], 'w').write(line.split()[1])\n"
    "atexit.register(hwm)\n"
)
BASELINE = REPORT_HWM + (
    "from bridge.pcap.reader import PcapReader\nn = sum(1 for _ in PcapReader(open(sys.argv[1], 'rb'), sys.argv[1]))\n"
)
SFLOWTOOL = REPORT_HWM + "sys.argv[0] = 'sflowtool'\nrunpy.run_module('bridge.cli.sflowtool', run_name='__main__')\n"


def write_capture(path: Path, count: int) -> int:
    """Ethernet/IPv4/UDP frames to port 6343 around each datagram; returns the sample count."""
    pop = Population(agents=50, flows=20_000, seed=11)
    samples = 0
    with path.open("wb") as f:
        f.write(file_header(DLT_EN10MB, 65535))
        t = 1_700_000_000
        for i in range(count):
            data = pop.datagram()
            samples += struct.unpack_from(">I", data, 24)[0]
            udp = struct.pack(">HHHH", 50000, 6343, 8 + len(data), 0)
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(data), i & 0xFFFF, 0, 64, 17, 0,
                             bytes((10, 0, 0, 1)), bytes((10, 0, 0, 2)))  # fmt: skip
            frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp + data
            f.write(record(t + i // 1000, (i % 1000) * 1000, frame, len(frame)))
    return samples


def run(args: list[str], pure: bool = False, repeat: int = 1) -> tuple[float, int]:
    """Best wall time of ``repeat`` runs and peak RSS (KiB) of a child process; ``pure`` ignores the compiled modules.

    The best of several runs, as timeit reports: what the code costs, less what the
    machine's other load took from it.
    """
    runs = [_run_once(args, pure) for _ in range(max(repeat, 1))]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def _run_once(args: list[str], pure: bool) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("r") as hwm:
        env = dict(os.environ, PYTHONPATH=str(ROOT), TZ="UTC", BENCH_HWM=hwm.name)
        env.pop("SFLOW_BRIDGE_PURE", None)
        if pure:
            env["SFLOW_BRIDGE_PURE"] = "1"
        started = time.perf_counter()
        rc = subprocess.call(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        elapsed = time.perf_counter() - started
        if rc != 0:
            raise SystemExit(f"benchmark run failed: {' '.join(args)}")
        return elapsed, int(hwm.read() or 0)


def measure(path: Path, compiled: bool, repeat: int, sflowtool: str | None) -> dict[str, tuple[float, int]]:
    """Each mode, compiled (if built) and as plain Python, in the same command; then sflowtool's, if given."""
    results = {}
    for name, flags in MODES.items():
        if flags is None:
            cmd = [sys.executable, "-c", BASELINE, str(path)]
        else:
            cmd = [sys.executable, "-c", SFLOWTOOL, "-r", str(path), *flags]
        for pure in (False, True) if compiled and flags is not None else (not compiled,):
            label = name if flags is None else f"{name} ({'plain Python' if pure else 'compiled'})"
            results[label] = run(cmd, pure, repeat)
    if sflowtool:
        for name, flags in MODES.items():
            if flags is not None:
                results[f"{name} (sflowtool)"] = run([sflowtool, "-r", str(path), *flags], repeat=repeat)
    return results


def interpreter() -> str:
    """Which Python runs the benchmark: its build moves every figure (see docs/performance.md)."""
    # the running process tells: a shared libpython is mapped from its own file
    shared = "libpython" in Path("/proc/self/maps").read_text()
    link = "libpython as a shared library" if shared else "libpython linked into the executable"
    return f"{platform.python_version()} at {os.path.realpath(sys.executable)}, {link}"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}" if kib else "-"  # sflowtool's memory is not measured (the hook is Python's)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datagrams", type=int, default=100_000)
    p.add_argument("--keep", type=Path, help="write the captures here and keep them")
    p.add_argument("--repeat", type=int, default=1, help="runs of each mode; the best is shown (default 1)")
    p.add_argument("--sflowtool", metavar="BINARY", help="also time this sflowtool build on the same captures")
    args = p.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="sflow-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    big, small = work / "bench-large.pcap", work / "bench-small.pcap"
    n_big, n_small = args.datagrams, max(args.datagrams // 5, 1)
    print(f"writing {n_big} + {n_small} datagrams to {work} ...", flush=True)
    samples_big = write_capture(big, n_big)
    write_capture(small, n_small)
    print(f"{n_big} datagrams, {samples_big} samples, {big.stat().st_size / 1e6:.1f} MB")
    import bridge

    compiled = bridge.compiled()
    print("decoder: " + ("compiled with mypyc (scripts/build_native.py)" if compiled else "plain Python only"))
    print(f"python: {interpreter()}")
    res_big = measure(big, compiled, args.repeat, args.sflowtool)
    res_small = measure(small, compiled, 1, None)
    base = res_big["read only (baseline)"][0]
    print(f"\n{'mode':28} {'datagrams/s':>12} {'samples/s':>12} {'x baseline time':>16} {'peak MiB':>9} "
          f"{'peak MiB at 1/5 input':>22}")  # fmt: skip
    for name, (secs, rss) in res_big.items():
        small_rss = res_small[name][1] if name in res_small else 0
        print(
            f"{name:28} {n_big / secs:12,.0f} {samples_big / secs:12,.0f} {secs / base:16.2f} "
            f"{_mib(rss):>9} {_mib(small_rss):>22}"
        )
    if not args.keep:
        for f in (big, small):
            f.unlink()
        work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
