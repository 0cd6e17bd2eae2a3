"""sflowtool -c/-d/-N/-e/-s/-S: NetFlow sent over loopback, compared with sflowtool's recordings
and decoded by tshark's NetFlow (cflow) dissector."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.sflow import encode as enc
from tests.conftest import CORPUS, needs_corpus
from tests.helpers import capture_payloads, receive_all, sflowtool

NAMES = ["loadme-sflow", "overflowd-sflow-first25", "hsflowd-s1-v4", "sflowtool-R1-lo", "crafted-mixed-realistic",
         "crafted-v2v4"]  # fmt: skip
MODES = {"netflow5": [], "netflow9": ["-N", "9"], "netflow5-noscale": ["-s"]}


def clock_bytes(pkt: bytes) -> range | set[int]:
    """The bytes the corpus README names as clock fields (sysUpTime, unix_secs, first/last switched)."""
    if pkt[:2] == b"\x00\x05":
        return set(range(4, 12)) | set(range(48, 56))
    first = 136 if len(pkt) == 165 else 176  # IPv4 or IPv6 template
    return set(range(4, 12)) | set(range(first, first + 8))


def recorded(name: str, mode: str) -> list[bytes]:
    assert CORPUS is not None
    return capture_payloads(CORPUS / "golden" / f"{name}.{mode}.pcap")


def export(args: list[str], family: int = socket.AF_INET) -> tuple[list[bytes], bytes, bytes, int]:
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family, socket.SOCK_DGRAM) as rx:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        rx.bind((host, 0))
        out, err, rc = sflowtool([*args, "-c", host, "-d", str(rx.getsockname()[1])])
        return receive_all(rx), out, err, rc


@needs_corpus
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", NAMES)
def test_netflow_matches_the_recording_outside_the_clock(name: str, mode: str) -> None:
    assert CORPUS is not None
    started = time.time()
    got, out, err, rc = export(["-r", str(CORPUS / "captures" / f"{name}.pcap"), *MODES[mode]])
    want = recorded(name, mode)
    assert rc == 0 and out == b""
    assert err.startswith(b"pcap version=2.4")
    assert len(got) == len(want) > 0
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        skip = clock_bytes(b)
        assert len(a) == len(b), f"datagram {i}"
        assert [j for j in range(len(a)) if j not in skip and a[j] != b[j]] == [], f"datagram {i}"
        uptime, secs = struct.unpack_from(">II", a, 4)
        assert started - 1 <= secs <= time.time() + 1
        # sysUpTime is milliseconds since the exporter started, and each flow's first/last is that moment
        assert uptime < 60_000
        first, last = struct.unpack_from(">II", a, min(skip - set(range(12))))
        assert first == last == uptime


@needs_corpus
def test_the_flow_sequence_counts_datagrams_from_zero() -> None:
    assert CORPUS is not None
    got, _, _, _ = export(["-r", str(CORPUS / "captures" / "hsflowd-s1-v4.pcap"), "-N", "9"])
    assert [struct.unpack_from(">I", p, 12)[0] for p in got] == list(range(len(got)))


def gateway_datagram() -> bytes:
    frame = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, enc.ipv4("10.1.1.1", "10.2.2.2", 17, enc.l4(17, 1, 2, b"x")))
    records = [enc.sampled_header(frame), enc.extended_gateway("10.0.0.254", 64512, 64500, 64501, [64501, 65000])]
    return enc.datagram("192.0.2.9", 0, 1, 1000, [enc.flow_sample(1, 3, 100, 100, records, 3, 4)])


def pcap_of(datagrams: list[bytes], sport: int = 6343) -> bytes:
    from bridge.pcap.writer import file_header, record

    out = bytearray(file_header(1))
    for i, d in enumerate(datagrams):
        udp = enc.l4(17, sport, 6343, d)
        frame = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, enc.ipv4("192.0.2.9", "127.0.0.1", 17, udp))
        out += record(1_700_000_000 + i, 0, frame, len(frame))
    return bytes(out)


def test_peer_as_replaces_the_origin_as(tmp_path: Path) -> None:
    capture = tmp_path / "gw.pcap"
    capture.write_bytes(pcap_of([gateway_datagram()]))
    (origin,), _, _, _ = export(["-r", str(capture)])
    (peer,), _, _, _ = export(["-r", str(capture), "-e"])
    # v5 src_as/dst_as at 24+40: the origin AS is the last of the AS path, the peer AS its first
    assert struct.unpack_from(">HH", origin, 64) == (64500, 65000)
    assert struct.unpack_from(">HH", peer, 64) == (64501, 64501)
    (v9,), _, _, _ = export(["-r", str(capture), "-e", "-N", "9"])
    assert struct.unpack_from(">II", v9, 104 + 4 + 43) == (64501, 64501)


def test_an_ipv6_collector_receives_netflow(tmp_path: Path) -> None:
    capture = tmp_path / "gw.pcap"
    capture.write_bytes(pcap_of([gateway_datagram()]))
    got, _, err, rc = export(["-r", str(capture), "-N", "9"], family=socket.AF_INET6)
    # sflowtool 6.11 cannot send to one: it never copies the address into the socket it connects
    assert rc == 0 and len(got) == 1 and got[0][:2] == b"\x00\x09", err


def test_the_vlan_filter_applies_to_netflow(tmp_path: Path) -> None:
    frame = enc.ethernet(b"\x02" * 6, b"\x04" * 6, 0x0800, enc.ipv4("10.1.1.1", "10.2.2.2", 6, enc.l4(6, 1, 2, b"")))
    samples = [enc.flow_sample(i + 1, 3, 100, 100, [enc.sampled_header(frame), enc.extended_switch(v, v)], 3, 4)
               for i, v in enumerate((10, 20, 30))]  # fmt: skip
    capture = tmp_path / "vlans.pcap"
    capture.write_bytes(pcap_of([enc.datagram("192.0.2.9", 0, 1, 1000, samples)]))
    got, _, _, _ = export(["-r", str(capture), "-V", "20"])
    assert len(got) == 1


def tshark_cflow(datagrams: list[bytes], tmp_path: Path) -> list[dict[str, object]]:
    capture = tmp_path / "netflow.pcap"
    capture.write_bytes(pcap_of(datagrams, sport=2055))
    proc = subprocess.run(
        ["tshark", "-n", "-r", str(capture), "-d", "udp.port==6343,cflow", "-T", "json", "-O", "cflow"],
        capture_output=True, timeout=120, check=True, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    return [p["_source"]["layers"]["cflow"] for p in json.loads(proc.stdout)]


def flows(layer: object) -> list[dict[str, object]]:
    """The flow records of a decoded cflow layer, whatever nesting this tshark version uses."""
    if isinstance(layer, dict):
        if "cflow.srcaddr" in layer or "cflow.srcaddrv6" in layer:
            return [layer]
        return [f for v in layer.values() for f in flows(v)]
    if isinstance(layer, list):
        return [f for v in layer for f in flows(v)]
    return []


def canonical(address: str) -> str:
    return ipaddress.ip_address(address).compressed


@needs_corpus
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (apt install tshark)")
@pytest.mark.parametrize("version", ["5", "9"])
def test_tshark_decodes_the_netflow_with_the_sampled_values(version: str, tmp_path: Path) -> None:
    assert CORPUS is not None
    capture = str(CORPUS / "captures" / "hsflowd-s1-v4.pcap")
    got, _, _, _ = export(["-r", capture, "-N", version])
    layers = tshark_cflow(got, tmp_path)
    assert len(layers) == len(got)
    records = [f for layer in layers for f in flows(layer)]
    assert len(records) == len(got)
    # every exported flow is one that sflowtool -l prints: same addresses, protocol and ports
    lines, _, _ = sflowtool(["-r", capture, "-l"])
    samples = set()
    for line in lines.decode().splitlines():
        f = line.split(",")
        if f[0] == "FLOW" and f[9] != "-":
            samples.add((canonical(f[9]), canonical(f[10]), f[11], f[14], f[15]))
        elif f[0] == "FLOW":  # an IP layer too short to decode: NetFlow carries zeros
            samples.add(("::", "::", f[11], f[14], f[15]))
    seen = set()
    for r in records:
        src = r.get("cflow.srcaddr") or r.get("cflow.srcaddrv6")
        dst = r.get("cflow.dstaddr") or r.get("cflow.dstaddrv6")
        seen.add((canonical(str(src)), canonical(str(dst)), r["cflow.protocol"], r["cflow.srcport"],
                  r["cflow.dstport"]))  # fmt: skip
    assert seen and seen <= samples
    if version == "9":
        assert any(":" in s[0] for s in seen)  # IPv6 flows too, with template 257


def test_spoofing_without_privilege_is_refused_clearly(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is missing to drop CAP_NET_RAW")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    else:
        prefix = []
    capture = tmp_path / "gw.pcap"
    capture.write_bytes(pcap_of([gateway_datagram()]))
    capture.chmod(0o644)
    tmp_path.chmod(0o755)
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "bridge.cli.sflowtool", "-r", str(capture), "-c", "127.0.0.1", "-d", "2055",
         "-S"],
        capture_output=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert proc.returncode == 245
    assert b"netflow output raw socket open failed: Operation not permitted" in proc.stderr
    assert b"CAP_NET_RAW" in proc.stderr and b"Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="spoofing the source address needs root or CAP_NET_RAW")
def test_spoofing_sends_from_the_agent_address(tmp_path: Path) -> None:
    capture = tmp_path / "gw.pcap"
    capture.write_bytes(pcap_of([gateway_datagram()]))
    # a packet socket on lo sees the spoofed datagram whatever the kernel then does with its source
    with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800)) as sniff:
        sniff.bind(("lo", 0x0800))
        sniff.settimeout(0.5)
        out, err, rc = sflowtool(["-r", str(capture), "-c", "127.0.0.1", "-d", "2999", "-S"])
        assert rc == 0, err
        ours = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not ours:
            try:
                pkt = sniff.recv(65536)
            except TimeoutError:
                continue
            if pkt[9] == 17 and struct.unpack_from(">H", pkt, 22)[0] == 2999:
                ours.append(pkt)
    assert ours, "no spoofed datagram seen on lo"
    ip = ours[0]
    assert socket.inet_ntoa(ip[12:16]) == "192.0.2.9"  # the agent, not 127.0.0.1
    assert struct.unpack_from(">HH", ip, 20) == (2999, 2999)  # source port = destination port, as sflowtool
    assert ip[8] == 64 and ip[28:30] == b"\x00\x05"
