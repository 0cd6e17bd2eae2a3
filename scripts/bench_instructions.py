#!/usr/bin/env python3
"""What a change costs the receive path, in instructions: this tree against another commit.

Seconds on a shared 2-core machine move by 10-40 % from run to run, more than the
changes worth measuring; valgrind's callgrind counts the instructions a process runs,
which repeat for the same code and input whatever else the machine does. For each
tree (--base, checked out into a temporary git worktree and compiled with this
interpreter, and this working tree as it is) it counts:

1. conversion: ``sflow-bridge -r FILE -w /dev/null`` of the capture of scripts/bench.py;
2. live: a bridge on loopback receiving datagrams paced so that none is lost, with no
   forwarding session and with two (``--forward``, copies sent by its forwarding
   process, which callgrind does not follow).

Each is run for two sizes; the difference divided by the difference in datagrams is
the cost of one datagram, start-up and shutdown cancelled out. Needs valgrind.

    .venv/bin/python scripts/bench_instructions.py --base aac8cce
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import write_capture  # noqa: E402

from bridge.sources.demo import Population  # noqa: E402

# the bridge of the tree on PYTHONPATH, compiled, as sflow-bridge
BRIDGE = (
    "import sys, runpy, bridge; sys.argv[0] = 'sflow-bridge'\n"
    "assert bridge.compiled(), 'not compiled'\n"
    "runpy.run_module('bridge.cli.bridge', run_name='__main__')\n"
)
SIZES = {"conversion": (2000, 10000), "live": (1000, 4000)}


def callgrind(tree: Path, args: list[str], out: Path) -> subprocess.Popen[bytes]:
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", BRIDGE, *args]
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")  # the same dict orders, run after run
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env, cwd=out.parent)


def total(out: Path, err: bytes) -> int:
    if not out.exists():
        sys.exit(f"bench_instructions: callgrind wrote nothing: {err.decode(errors='replace')[-500:]}")
    m = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    assert m is not None, out
    return int(m.group(1))


def conversion(tree: Path, n: int, work: Path) -> int:
    capture = work / f"capture-{n}.pcap"
    if not capture.exists():
        write_capture(capture, n)
    out = work / f"conversion-{tree.name}-{n}.out"
    p = callgrind(tree, ["-r", str(capture), "-w", os.devnull], out)
    _, err = p.communicate(timeout=1800)
    return total(out, err)


def live(tree: Path, n: int, sessions: int, work: Path, datagrams: list[bytes]) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receivers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(sessions)]
    forward: list[str] = []
    for r in receivers:
        r.bind(("127.0.0.2", 0))  # never read: the copies' fate is not what is counted
        forward += ["--forward", f"127.0.0.2/{r.getsockname()[1]}"]
    out = work / f"live-{tree.name}-{sessions}-{n}.out"
    p = callgrind(tree, ["-4", "-p", str(port), "--api", "none", "-w", os.devnull, *forward], out)
    assert p.stderr is not None
    while True:
        line = p.stderr.readline()
        if not line or b"listening" in line:
            break
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(n):  # 500 datagrams/s: a bridge under valgrind keeps up
            s.sendto(datagrams[i % len(datagrams)], ("127.0.0.1", port))
            if i % 50 == 49:
                time.sleep(0.1)
    time.sleep(2)  # the last ones through the bridge (it counts them: checked below)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=300)
    for r in receivers:
        r.close()
    got = re.search(rb"sflow-bridge: (\d+) datagrams", err)
    if got is None or int(got.group(1)) != n:
        sys.exit(f"bench_instructions: the bridge under valgrind counted {got and got.group(1)!r} of {n} datagrams")
    return total(out, err)


def per_datagram(measure: dict[int, int]) -> float:
    (n1, i1), (n2, i2) = sorted(measure.items())
    return (i2 - i1) / (n2 - n1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the commit to compare this working tree against")
    args = p.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions: needs valgrind (apt-get install valgrind)")
    pop = Population(agents=50, flows=20_000, seed=11)
    datagrams = [pop.datagram() for _ in range(2000)]
    with tempfile.TemporaryDirectory(prefix="sflow-instructions-") as tmp:
        work = Path(tmp)
        base = work / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.base], check=True)
        try:
            env = dict(os.environ, PYTHONPATH=str(base))
            build = [sys.executable, str(base / "scripts" / "build_native.py")]
            subprocess.run(build, cwd=base, env=env, check=True, stdout=subprocess.DEVNULL)
            rows: list[tuple[str, float, float]] = []
            for label, kind, sessions in [("conversion (-r)", "conversion", 0),
                                          ("live, no forwarding", "live", 0),
                                          ("live, 2 forwarding sessions", "live", 2)]:  # fmt: skip
                cost = []
                for tree in (base, ROOT):
                    if kind == "conversion":
                        measure = {n: conversion(tree, n, work) for n in SIZES[kind]}
                    else:
                        measure = {n: live(tree, n, sessions, work, datagrams) for n in SIZES[kind]}
                    cost.append(per_datagram(measure))
                rows.append((label, cost[0], cost[1]))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    print(f"instructions per datagram (callgrind), {python}, base {args.base} against this tree "
          f"({head.stdout.strip()}{' + changes' if _dirty() else ''}):")  # fmt: skip
    for label, before, after in rows:
        change = (after / before - 1) * 100
        print(f"  {label:28} {before:10,.0f} -> {after:10,.0f}   {after / before:6.3f} x  ({change:+.2f} %)")
    return 0


def _dirty() -> bool:
    out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "bridge"], capture_output=True, text=True)
    return bool(out.stdout.strip())


if __name__ == "__main__":
    raise SystemExit(main())
