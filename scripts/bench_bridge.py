#!/usr/bin/env python3
"""Speed of the pcap bridge: file conversion, live UDP loss-free rate, latency at light load.

1. Conversion: ``sflow-bridge -r FILE -w /dev/null`` on a realistic capture (the
   workload of scripts/bench.py), against a baseline run in the same command
   (reading the file's records without decoding them); the best of --repeat runs of each.
   As pcap, pcap with the dropped packets, pcapng, and filtered; sflowtool -t beside
   them with --sflowtool BINARY; and the pcapng rate as a share of the pcap rate.
2. Live: a sender on loopback (its datagrams precomputed, so that it is not the
   limit) sends at increasing rates for --seconds each to a fresh ``sflow-bridge``;
   loss is what the sender sent minus what the bridge counted, and the kernel's own
   drop count for the socket is shown beside it. The highest rate with < 0.1 % loss
   is reported.
3. Latency: one datagram every 100 ms; time from send to the pcap record on the
   bridge's stdout.

    .venv/bin/python scripts/bench_bridge.py [--datagrams N] [--seconds S] [--rates 10000,20000,...]
    .venv/bin/python scripts/bench_bridge.py --only-conversion [--sflowtool PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import select
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

from bench import run, write_capture  # noqa: E402

from bridge.sources.demo import Population  # noqa: E402

BRIDGE = [sys.executable, "-m", "bridge.cli.bridge"]
# counts the datagrams arriving on two UDP sockets until SIGTERM: prints their ports, then the counts
COUNTER = """
import select, signal, socket, sys
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.2", 0))
    s.setblocking(False)
    socks.append(s)
print(*(s.getsockname()[1] for s in socks), flush=True)
counts = [0, 0]
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
buf = bytearray(65536)
while not stop:
    try:
        ready, _, _ = select.select(socks, [], [], 0.2)
    except InterruptedError:
        continue
    for s in ready:
        i = socks.index(s)
        try:
            while True:
                s.recv_into(buf)
                counts[i] += 1
        except BlockingIOError:
            pass
print(*counts)
"""
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


# the conversions compared: the tcpdump path, the Wireshark path, drops written into pcap, a filtered stream
VARIANTS = {
    "pcap": [],
    "pcap --discards": ["--discards"],
    "pcapng": ["--pcapng"],
    "pcap -f 'tcp port 443'": ["-f", "tcp port 443"],
    "pcapng -f 'tcp port 443'": ["--pcapng", "-f", "tcp port 443"],
    # the API on (a free port): the same conversion with and without the top-talkers sketch on the receive path
    "pcap, API, talkers off": ["--api", "127.0.0.1:0", "--top-talkers", "0"],
    "pcap, API, talkers on": ["--api", "127.0.0.1:0"],
}


def conversion(n: int, repeat: int, sflowtool: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="sflow-bench-") as tmp:
        path = Path(tmp) / "bench.pcap"
        samples = write_capture(path, n)
        from bench import BASELINE, REPORT_HWM

        import bridge

        base, base_rss = run([sys.executable, "-c", BASELINE, str(path)], repeat=repeat)
        conv = REPORT_HWM + "sys.argv[0] = 'sflow-bridge'\nrunpy.run_module('bridge.cli.bridge', run_name='__main__')\n"
        jobs: dict[str, tuple[list[str], bool]] = {}
        for pure in (False, True) if bridge.compiled() else (True,):
            kind = "plain Python" if pure else "compiled"
            for name, flags in VARIANTS.items():
                cmd = [sys.executable, "-c", conv, "-r", str(path), "-w", os.devnull, *flags]
                jobs[f"{name} ({kind})"] = (cmd, pure)
        if sflowtool:
            jobs["sflowtool -t (the C program)"] = ([sflowtool, "-r", str(path), "-t"], False)
        # in rounds, each variant once per round: a machine's load drifting over minutes weighs on all alike
        best: dict[str, tuple[float, int]] = {}
        for _ in range(repeat):
            for label, (cmd, pure) in jobs.items():
                secs, rss = run(cmd, pure)
                if label not in best or secs < best[label][0]:
                    best[label] = (secs, rss)
        rows = [(label, secs, rss) for label, (secs, rss) in best.items()]
    print(f"\nconversion of {n} datagrams ({samples} samples), best of {repeat} runs:")
    print(f"  {'read only (baseline)':40} {n / base:10,.0f} datagrams/s   1.00 x time   peak {base_rss / 1024:.1f} MiB")
    by_name = {label: secs for label, secs, _ in rows}
    for label, secs, rss in rows:
        peak = f"peak {rss / 1024:.1f} MiB" if "sflowtool" not in label else ""  # only Python children report it
        print(f"  {label:40} {n / secs:10,.0f} datagrams/s {samples / secs:10,.0f} samples/s "
              f"{secs / base:6.2f} x time   {peak}")  # fmt: skip
    for kind in ("compiled", "plain Python"):
        if f"pcap ({kind})" in by_name:
            ratio = by_name[f"pcap ({kind})"] / by_name[f"pcapng ({kind})"]
            print(f"  pcapng / pcap rate ({kind}): {ratio * 100:.0f} %")
        if f"pcap, API, talkers on ({kind})" in by_name:
            cost = by_name[f"pcap, API, talkers on ({kind})"] / by_name[f"pcap, API, talkers off ({kind})"] - 1
            print(f"  top talkers' cost ({kind}): {cost * 100:.1f} % more time")


def start_bridge(port: int, stdout: int | None = subprocess.DEVNULL, api: str = "none",
                 extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:  # fmt: skip
    p = subprocess.Popen(
        [
            *BRIDGE,
            "-4",
            "-p",
            str(port),
            "--api",
            api,
            "-w",
            "-" if stdout is not subprocess.DEVNULL else os.devnull,
            *extra,
        ],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert p.stderr is not None
    while True:
        line = p.stderr.readline()
        if not line or b"listening" in line:
            return p


def stop_bridge(p: subprocess.Popen[bytes]) -> str:
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    return err.decode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def machine_ticks() -> tuple[int, int, int]:
    """(busy, idle, stolen by the hypervisor) clock ticks of all CPUs so far, from /proc/stat."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return user + nice + system + irq + softirq, idle + iowait, steal


class CpuMeter:
    """Cores each process kept busy over a window, and the machine's idle share: where the CPU went."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.start = {name: cpu_seconds(pid) for name, pid in processes.items()}
        self.machine = machine_ticks()
        self.t0 = time.perf_counter()

    def report(self) -> str:
        wall = time.perf_counter() - self.t0
        used = {name: (cpu_seconds(pid) - self.start[name]) / wall for name, pid in self.processes.items()}
        busy, idle, steal = (b - a for a, b in zip(self.machine, machine_ticks(), strict=True))
        total = busy + idle + steal or 1
        parts = ", ".join(f"{name} {cores:.2f}" for name, cores in used.items())
        return (f"cores busy: {parts}; machine {busy / total * 100:.0f} % busy, {idle / total * 100:.0f} % idle, "
                f"{steal / total * 100:.0f} % stolen by the hypervisor ({os.cpu_count()} cores)")  # fmt: skip


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send_at(rate: int, seconds: float, port: int, datagrams: list[bytes]) -> int:
    """Sends at `rate` datagrams/s for `seconds`, paced in 1 ms slots; returns how many were sent."""
    sent = 0
    total = int(rate * seconds)
    n = len(datagrams)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        dest = ("127.0.0.1", port)
        start = time.perf_counter()
        deadline = start + seconds * 2 + 5  # bounded even if the machine is too slow to keep up
        while sent < total and time.perf_counter() < deadline:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                try:
                    s.sendto(datagrams[sent % n], dest)
                except BlockingIOError:
                    break
                sent += 1
            time.sleep(0.0005)
    return sent


def live(rates: list[int], seconds: float) -> None:
    pop = Population(agents=50, flows=20_000, seed=11)
    datagrams = [pop.datagram() for _ in range(20_000)]
    print(f"\nlive UDP on loopback, {seconds:g} s per rate (loss-free: < 0.1 %):")
    best = 0
    for rate in rates:
        port = free_port()
        p = start_bridge(port)
        meter = CpuMeter({"sender": os.getpid(), "bridge": p.pid})
        sent = send_at(rate, seconds, port, datagrams)
        cpu = meter.report()
        time.sleep(0.5)
        summary = stop_bridge(p)
        m = re.search(r"sflow-bridge: (\d+) datagrams", summary)
        got = int(m.group(1)) if m else 0
        k = re.search(r"(\d+) dropped by the kernel", summary)
        loss = (sent - got) / sent if sent else 1.0
        kernel = k.group(1) if k else "?"
        granted = re.search(r"requested \d+, but only got (\d+)", summary)
        note = f" (receive buffer {granted.group(1)} bytes)" if granted else ""
        print(f"  {rate:7,d}/s offered: sent {sent:8,d}, bridge counted {got:8,d}, loss {loss * 100:6.3f} %, "
              f"kernel drops {kernel}{note}")  # fmt: skip
        print(f"    {cpu}")
        if loss < 0.001:
            best = max(best, rate)
        else:
            break
    print(f"  highest loss-free rate: {best:,d} datagrams/s")


def fixed_rate_run(rate: int, seconds: float, datagrams: list[bytes], api: str = "none",
                   extra: tuple[str, ...] = ()) -> tuple[int, int, float, str]:  # fmt: skip
    """A bridge fed live at ``rate`` for ``seconds``: (sent, counted by the bridge, its CPU seconds, its summary)."""
    port = free_port()
    p = start_bridge(port, api=api, extra=extra)
    before = cpu_seconds(p.pid)
    sent = send_at(rate, seconds, port, datagrams)
    time.sleep(0.5)  # what is in the socket buffer is read before the CPU is counted
    used = cpu_seconds(p.pid) - before
    summary = stop_bridge(p)
    m = re.search(r"sflow-bridge: (\d+) datagrams", summary)
    return sent, int(m.group(1)) if m else 0, used, summary


def talkers_live(rate: int, seconds: float, rounds: int) -> None:
    """The bridge's CPU per datagram at a fixed live rate, API on, the top-talkers sketch off and on, in rounds."""
    pop = Population(agents=50, flows=20_000, seed=11)
    datagrams = [pop.datagram() for _ in range(20_000)]
    print(f"\nlive UDP at {rate:,d} datagrams/s for {seconds:g} s, API on, top talkers off and on, {rounds} rounds:")
    cost: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):
        for mode, extra in (("off", ("--top-talkers", "0")), ("on", ())):
            sent, got, used, _ = fixed_rate_run(rate, seconds, datagrams, "127.0.0.1:0", extra)
            cost[mode].append(used / max(got, 1) * 1e6)
            print(f"  talkers {mode:3}: sent {sent:8,d}, bridge counted {got:8,d} "
                  f"({(sent - got) / max(sent, 1) * 100:.3f} % lost), {used:.2f} CPU s, "
                  f"{used / max(got, 1) * 1e6:.2f} us a datagram")  # fmt: skip
    off, on = min(cost["off"]), min(cost["on"])
    print(f"  best of each: {off:.2f} vs {on:.2f} us a datagram: the sketch costs {(on / off - 1) * 100:.1f} % of the "
          "bridge's CPU at this rate")  # fmt: skip


class NatsServer:
    """Debian's nats-server with JetStream on a free loopback port, its store in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")
        if binary is None:
            raise SystemExit("bench_bridge: nats-server is not installed (apt-get install nats-server)")
        log = folder / "nats.log"
        cmd = [binary, "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", str(folder / "store"), "-l", str(log)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while "Server is ready" not in (log.read_text() if log.exists() else ""):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("bench_bridge: nats-server did not start")
            time.sleep(0.02)  # its log says when it is ready
        m = re.search(r"client connections on 127\.0\.0\.1:(\d+)", log.read_text())
        assert m is not None
        self.url = f"nats://127.0.0.1:{m.group(1)}"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def publishing_process(url: str, datagrams: list[bytes], rate: int, total: int) -> None:
    """The publishing process alone (bridge/transport/bus_worker.py): fed records at a fixed rate, as the bridge
    hands them over; its CPU time per datagram, and what it published."""
    import json

    from bridge.sflow.bus_frame import FRAME

    now = int(time.time() * 1e6)
    records = [FRAME.pack(now + i, len(d)) + d for i, d in enumerate(datagrams)]
    config = {"servers": [url], "stream": "SFLOW", "prefix": "sflow", "retain": 3600, "retain_bytes": None,
              "creds": None}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "bridge.transport.bus_worker", json.dumps(config)], env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise SystemExit("bench_bridge: the publishing process did not start")
    start = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(int((time.perf_counter() - start) * rate), total)
        if due > sent:
            proc.stdin.write(b"".join(records[i % len(records)] for i in range(sent, due)))
            proc.stdin.flush()
            sent = due
        else:
            time.sleep(0.002)  # pacing the feed
    proc.stdin.close()
    report = json.loads(proc.stdout.read().decode().strip().splitlines()[-1])
    _, _, usage = os.wait4(proc.pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    lost = sum(report["unpublished"].values())
    print(f"  the publishing process alone, fed {total:,d} at {rate:,d}/s: {report['published']:,d} published in "
          f"{report['messages']:,d} messages, {lost:,d} not, {cpu / total * 1e6:.2f} us of CPU a datagram")  # fmt: skip


def bus(rate: int, seconds: float, rounds: int, replay: int) -> None:
    """Publishing's cost at a fixed live rate (the bridge's CPU per datagram, --publish off and on, and what
    was lost), then the consumer's replay rate into pcap beside the conversion of the same datagrams from a file."""
    pop = Population(agents=50, flows=20_000, seed=11)
    datagrams = [pop.datagram() for _ in range(20_000)]
    with tempfile.TemporaryDirectory(prefix="sflow-bus-bench-") as tmp:
        server = NatsServer(Path(tmp))
        try:
            print(f"\nlive UDP at {rate:,d} datagrams/s for {seconds:g} s, publishing off and on, {rounds} rounds:")
            cost: dict[str, list[float]] = {"off": [], "on": []}
            for _ in range(rounds):
                for mode, extra in (("off", ()), ("on", ("--publish", server.url))):
                    sent, got, used, summary = fixed_rate_run(rate, seconds, datagrams, extra=extra)
                    pub = re.search(r"(\d+) datagrams published in (\d+) messages(?:, (\d+) not published)?", summary)
                    published = f", {pub.group(1)} published in {pub.group(2)} messages" if pub else ""
                    unpublished = f", {pub.group(3)} not published" if pub and pub.group(3) else ""
                    cost[mode].append(used / max(got, 1) * 1e6)
                    print(f"  publishing {mode:3}: sent {sent:8,d}, bridge counted {got:8,d} "
                          f"({(sent - got) / max(sent, 1) * 100:.3f} % lost){published}{unpublished}, "
                          f"{used / max(got, 1) * 1e6:.2f} us a datagram")  # fmt: skip
            off, on = min(cost["off"]), min(cost["on"])
            print(f"  best of each: {off:.2f} vs {on:.2f} us a datagram: publishing costs {(on / off - 1) * 100:.1f} %"
                  " of the bridge's CPU at this rate")  # fmt: skip
            publishing_process(server.url, datagrams, rate, int(rate * seconds))
            # the replay: the stream now holds rounds x rate x seconds datagrams; a file of the same count beside it
            info = subprocess.run([*BRIDGE, "--from", server.url, "--since", "1h", "--api", "none", "-w", os.devnull],
                                  capture_output=True, env=ENV, timeout=600)  # fmt: skip
            m = re.search(r"sflow-bridge: (\d+) datagrams", info.stderr.decode())
            held = int(m.group(1)) if m else 0
            path = Path(tmp) / "same.pcap"
            write_capture(path, held)
            best_bus = best_file = float("inf")
            for _ in range(replay):
                start = time.perf_counter()
                subprocess.run([*BRIDGE, "--from", server.url, "--since", "1h", "--api", "none", "-w", os.devnull],
                               capture_output=True, env=ENV, timeout=600, check=True)  # fmt: skip
                best_bus = min(best_bus, time.perf_counter() - start)
                start = time.perf_counter()
                subprocess.run([*BRIDGE, "-r", str(path), "-w", os.devnull], capture_output=True, env=ENV,
                               timeout=600, check=True)  # fmt: skip
                best_file = min(best_file, time.perf_counter() - start)
            print(
                f"\nreplay of the {held:,d} datagrams the stream holds into pcap, best of {replay} (start-up included):"
            )
            print(f"  sflow-bridge --from --since 1h   {held / best_bus:10,.0f} datagrams/s   {best_bus:.2f} s")
            print(f"  sflow-bridge -r (a file of as many) {held / best_file:7,.0f} datagrams/s   {best_file:.2f} s")
        finally:
            server.stop()


def under_api_load(rate: int, seconds: float) -> float:
    """The same measure with two forwarding sessions and a client polling /agents/json ten times a second."""
    import json
    import threading
    import urllib.request

    pop = Population(agents=50, flows=20_000, seed=11)
    datagrams = [pop.datagram() for _ in range(20_000)]
    port = free_port()
    with socket.socket() as t:
        t.bind(("127.0.0.1", 0))
        api_port = t.getsockname()[1]
    p = start_bridge(port, api=f"127.0.0.1:{api_port}")
    base = f"http://127.0.0.1:{api_port}"
    stop = threading.Event()
    polls = [0]
    # the forwarded streams are counted by another process, so that this one (the sender) keeps its core
    counter = subprocess.Popen([sys.executable, "-c", COUNTER], stdout=subprocess.PIPE, text=True)
    assert counter.stdout is not None
    rx_ports = [int(x) for x in counter.stdout.readline().split()]
    for i, rx_port in enumerate(rx_ports):
        body = json.dumps({"address": "127.0.0.2", "port": rx_port}).encode()
        req = urllib.request.Request(f"{base}/forwarding/bench{i}/json", data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        urllib.request.urlopen(req, timeout=5).read()

    def poll() -> None:
        while not stop.is_set():
            urllib.request.urlopen(f"{base}/agents/json", timeout=5).read()
            polls[0] += 1
            stop.wait(0.1)

    poller = threading.Thread(target=poll)
    poller.start()
    workers = children(p.pid)
    meter = CpuMeter({"sender and poller": os.getpid(), "bridge": p.pid,
                      "forwarding process": workers[0] if workers else -1, "receivers": counter.pid})  # fmt: skip
    sent = send_at(rate, seconds, port, datagrams)
    cpu = meter.report()
    time.sleep(0.5)
    stop.set()
    poller.join()
    totals = json.loads(urllib.request.urlopen(f"{base}/analyzer/json", timeout=5).read())
    dropped = [totals["forwardDropped"].get(f"bench{i}", 0) for i in range(2)]
    summary = stop_bridge(p)
    counter.send_signal(signal.SIGTERM)
    out, _ = counter.communicate(timeout=30)
    received = [int(x) for x in out.split()] or [0, 0]
    m = re.search(r"sflow-bridge: (\d+) datagrams", summary)
    got = int(m.group(1)) if m else 0
    loss = (sent - got) / sent if sent else 1.0
    print(f"\nunder API load at {rate:,d}/s for {seconds:g} s")
    print("  (2 forwarding sessions, /agents/json polled 10 times a second)")
    print(f"  sent {sent:,d}, bridge counted {got:,d}, loss {loss * 100:.3f} %, forwarded {received[0]:,d} and "
          f"{received[1]:,d}, {polls[0]} polls")  # fmt: skip
    print(f"  copies dropped because the forwarding process was behind (counted by the bridge): "
          f"{dropped[0]:,d} and {dropped[1]:,d}")  # fmt: skip
    print(f"  {cpu}")
    return loss


def latency(count: int = 20) -> None:
    pop = Population(agents=2, flows=50, seed=3)
    port = free_port()
    p = start_bridge(port, stdout=subprocess.PIPE)
    assert p.stdout is not None
    fd = p.stdout.fileno()
    os.read(fd, 24)  # the pcap file header
    delays = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(count):
            d = pop.datagram()
            t0 = time.perf_counter()
            s.sendto(d, ("127.0.0.1", port))
            r, _, _ = select.select([fd], [], [], 2.0)
            if r:
                delays.append(time.perf_counter() - t0)
                os.read(fd, 1 << 20)
            time.sleep(0.1)
    stop_bridge(p)
    delays.sort()
    if delays:
        print(f"\nlatency at light load ({len(delays)}/{count} datagrams, one per 100 ms): median "
              f"{delays[len(delays) // 2] * 1000:.1f} ms, max {delays[-1] * 1000:.1f} ms")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datagrams", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3, help="conversion runs; the best is shown (default 3)")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rates", default="10000,20000,30000,40000,50000,55000,60000,70000,80000")
    p.add_argument("--api-rate", type=int, default=20000, help="rate of the run under API load (default 20000)")
    p.add_argument("--api-repeat", type=int, default=1, help="runs under API load, each shown (default 1)")
    p.add_argument("--only-api", action="store_true", help="only the runs under API load")
    p.add_argument("--only-conversion", action="store_true", help="only the file conversions")
    p.add_argument("--sflowtool", metavar="BINARY", help="sflowtool (the C program) to convert the same file with -t")
    p.add_argument(
        "--only-talkers",
        action="store_true",
        help="only the top talkers' live cost: CPU per datagram at --talkers-rate, sketch off and on",
    )
    p.add_argument("--talkers-rate", type=int, default=40_000)
    p.add_argument(
        "--only-bus",
        action="store_true",
        help="only the bus: publishing's cost at --bus-rate, and the consumer's replay rate into pcap",
    )
    p.add_argument("--bus-rate", type=int, default=40_000)
    args = p.parse_args()
    if args.only_bus:
        bus(args.bus_rate, args.seconds, args.repeat, args.repeat)
        return 0
    if args.only_talkers:
        talkers_live(args.talkers_rate, args.seconds, args.repeat)
        return 0
    if not args.only_api:
        conversion(args.datagrams, args.repeat, args.sflowtool)
        if args.only_conversion:
            return 0
        live([int(r) for r in args.rates.split(",")], args.seconds)
    losses = [under_api_load(args.api_rate, args.seconds) for _ in range(args.api_repeat)]
    if args.api_repeat > 1:
        print(f"\nunder API load at {args.api_rate:,d}/s, {len(losses)} runs: loss-free (< 0.1 %) in "
              f"{sum(loss < 0.001 for loss in losses)}, nothing lost in {sum(loss == 0 for loss in losses)}, "
              f"worst {max(losses) * 100:.3f} %")  # fmt: skip
    if not args.only_api:
        latency()
    return 0


if __name__ == "__main__":
    sys.exit(main())
