"""The sFlow blog's block-list scripts, reading a local list instead of downloading one.

    docker run -p 6343:6343/udp sflow/tshark -T ek | ./tshark.py LIST
    docker run -p 6343:6343/udp sflow/sflowtool -j | ./emerging.py LIST

LIST holds one address or CIDR prefix per line (# comments allowed), like the
Emerging Threats block list. Every packet or sample whose source or destination
falls in it is printed as "MATCH src -> dst".
"""

from __future__ import annotations

import ipaddress
import json
import sys


def load(path: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                nets.append(ipaddress.ip_network(line, strict=False))
    return nets


def listed(addr: str, nets: list) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def pairs_ek(doc: dict) -> list[tuple[str, str]]:
    layers = doc.get("layers", {})
    ip = layers.get("ip") or layers.get("ipv6") or {}
    src = ip.get("ip_ip_src") or ip.get("ipv6_ipv6_src")
    dst = ip.get("ip_ip_dst") or ip.get("ipv6_ipv6_dst")
    return [(src, dst)] if src and dst else []


def pairs_sflowtool(doc: dict) -> list[tuple[str, str]]:
    out = []
    for sample in doc.get("samples", []):
        for el in sample.get("elements", []):
            src = el.get("srcIP") or el.get("srcIP6")
            dst = el.get("dstIP") or el.get("dstIP6")
            if src and dst:
                out.append((src, dst))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("ek", "sflowtool"):
        sys.stderr.write("usage: blocklist.py ek|sflowtool LIST\n")
        return 2
    kind, path = args
    nets = load(path)
    pick = pairs_ek if kind == "ek" else pairs_sflowtool
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        for src, dst in pick(json.loads(line)):
            if listed(src, nets) or listed(dst, nets):
                print(f"MATCH {src} -> {dst}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
