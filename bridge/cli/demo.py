"""``sflow-bridge demo``: a software sFlow agent population sending real datagrams over UDP.

For trying the tools without a switch: by default it sends to 127.0.0.1:6343. It
stops by itself after ``--count`` datagrams.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

from bridge.sources.demo import Population


def parse_target(text: str) -> tuple[str, int]:
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return host, port


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="sflow-bridge demo", description=__doc__)
    p.add_argument("--to", default="127.0.0.1:6343", help="HOST:PORT to send to (default 127.0.0.1:6343)")
    p.add_argument("--count", type=int, default=60, help="datagrams to send, then stop (default 60)")
    p.add_argument("--rate", type=float, default=2.0, help="datagrams per second (default 2)")
    p.add_argument("--agents", type=int, default=5, help="agents (default 5); each sends once, in turn, first")
    p.add_argument(
        "--first-agent",
        type=int,
        default=1,
        metavar="N",
        help="number the agents from N (default 1: 192.0.2.1): demos with different N are different agents",
    )
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if not 1 <= args.agents <= 100_000:
        p.error(f"--agents {args.agents}: from 1 to 100000")
    if not 1 <= args.first_agent <= 100_000:
        p.error(f"--first-agent {args.first_agent}: from 1 to 100000")
    try:
        host, port = parse_target(args.to)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
    except ValueError:
        p.error(f"--to wants HOST:PORT, not {args.to!r}")
    pop = Population(agents=args.agents, flows=500, seed=args.seed, first_agent=args.first_agent - 1)
    gap = 1.0 / args.rate if args.rate > 0 else 0.0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        for i in range(args.count):
            try:
                sock.sendto(pop.datagram(), (host, port))
            except OSError as exc:
                sys.stderr.write(f"sflow-bridge demo: send to {host}:{port} failed: {exc.strerror}\n")
                return 1
            if gap and i + 1 < args.count:
                time.sleep(gap)
    return 0
