"""sflow-bridge feeding the real tcpdump and tshark over a pipe, fed by a test agent on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bridge.sflow.headers import walk
from tests.agent import datagram, packets, send
from tests.conftest import CORPUS, needs_corpus
from tests.corpus import corpus_datagrams

needs_tools = pytest.mark.skipif(
    not (shutil.which("tcpdump") and shutil.which("tshark")),
    reason="tcpdump and tshark are not installed (apt-get install tcpdump tshark)",
)

FRAMES = dict(packets())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bridge_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bridge.cli.bridge", *args]


@contextmanager
def pipeline(
    tool: list[str], *bridge_args: str
) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], int]]:
    """sflow-bridge -p PORT ... | TOOL, ready to receive on the returned port."""
    port = free_port()
    env = dict(os.environ, TZ="UTC")
    cmd = bridge_cmd("-p", str(port), "--api", "none", *bridge_args)
    br = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    assert br.stdout is not None and br.stderr is not None
    tl = subprocess.Popen(tool, stdin=br.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    br.stdout.close()  # the tool holds the read end now: its exit must reach the bridge
    seen = b""
    while b"listening for sFlow" not in seen:
        line = br.stderr.readline()
        assert line, seen
        seen += line
    try:
        yield br, tl, port
    finally:
        for p in (br, tl):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)


def finish(br: subprocess.Popen[bytes], tl: subprocess.Popen[bytes]) -> tuple[str, str, str]:
    """SIGTERM the bridge; it flushes and exits, the tool sees the end of the stream."""
    time.sleep(0.3)
    br.send_signal(signal.SIGTERM)
    tool_out, tool_err = tl.communicate(timeout=30)
    assert br.wait(timeout=10) == 0
    assert br.stderr is not None
    return tool_out.decode(), tool_err.decode(), br.stderr.read().decode()


def mixed(count: int = 1, protocol: int = 1) -> list[bytes]:
    return [datagram(i + 1, list(FRAMES.values()), protocol=protocol) for i in range(count)]


@needs_tools
def test_tcpdump_port_53() -> None:
    with pipeline(["tcpdump", "-l", "-n", "-r", "-", "port 53"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(2))
        out, err, summary = finish(br, tl)
    lines = out.splitlines()
    assert len(lines) == 4, out
    assert sum("10.1.1.1.40000 > 10.2.2.2.53: 4660+ A? example.com." in line for line in lines) == 2
    assert sum("2001:db8::1.40001 > 2001:db8::53.53: 4660+ A? example.org." in line for line in lines) == 2
    assert "10 packets written" in summary


@needs_tools
def test_tcpdump_verbose_dns() -> None:
    with pipeline(["tcpdump", "-l", "-n", "-vv", "-r", "-", "port", "53"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(1))
        out, _, _ = finish(br, tl)
    assert "proto UDP (17)" in out and "[1au]" not in out
    assert "A? example.com." in out and "A? example.org." in out


@needs_tools
def test_tcpdump_syn_filter() -> None:
    with pipeline(["tcpdump", "-l", "-n", "-r", "-", "tcp[tcpflags] == tcp-syn"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(3))
        out, _, _ = finish(br, tl)
    lines = out.splitlines()
    assert len(lines) == 3
    assert all("10.1.1.1.50000 > 10.3.3.3.443: Flags [S]" in line for line in lines)


@needs_tools
def test_tcpdump_write_file_count_10(tmp_path: Path) -> None:
    target = tmp_path / "packets.pcap"
    with pipeline(["tcpdump", "-r", "-", "-w", str(target), "-c", "10"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(3))  # 15 packets
        assert tl.wait(timeout=20) == 0
        # the bridge notices its reader has gone and exits by itself, with status 0
        assert br.wait(timeout=5) == 0
    check = subprocess.run(["tcpdump", "-n", "-r", str(target)], capture_output=True, timeout=30)
    assert check.returncode == 0
    assert len(check.stdout.splitlines()) == 10


@needs_tools
def test_tshark_display_filter_dns() -> None:
    with pipeline(["tshark", "-l", "-n", "-r", "-", "-Y", "dns"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(1))
        out, _, _ = finish(br, tl)
    lines = out.splitlines()
    assert len(lines) == 2
    assert "10.1.1.1 → 10.2.2.2     DNS" in lines[0].replace("  ", " ") or "DNS" in lines[0]
    assert all(
        "Standard query 0x1234 A example.o" in line or "Standard query 0x1234 A example.c" in line for line in lines
    )


@needs_tools
def test_tshark_fields() -> None:
    tool = [
        "tshark",
        "-l",
        "-n",
        "-r",
        "-",
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "ip.proto",
        "-e",
        "ip.len",
    ]
    with pipeline(tool, "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(1))
        out, _, _ = finish(br, tl)
    rows = [line.split("\t") for line in out.splitlines()]
    assert ["10.1.1.1", "10.2.2.2", "17", str(len(FRAMES["dns4"]) - 14)] in rows
    assert ["10.1.1.1", "10.3.3.3", "6", "40"] in rows
    assert ["10.1.1.1", "10.4.4.4", "1", str(20 + 8 + 56)] in rows
    assert ["", "", "", ""] in rows  # the IPv6 packet has no ip.* fields


@needs_tools
def test_tshark_statistics_phs_and_endpoints() -> None:
    with pipeline(["tshark", "-n", "-r", "-", "-q", "-z", "io,phs", "-c", "100"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(20))  # exactly 100 packets
        out, _, _ = tl.communicate(timeout=30)[0].decode(), None, None
        assert br.wait(timeout=5) == 0
    assert "Protocol Hierarchy Statistics" in out
    assert "frames:100" in out.replace(" ", "")
    assert "dns" in out and "tcp" in out and "icmp" in out
    with pipeline(["tshark", "-n", "-r", "-", "-q", "-z", "endpoints,ip", "-c", "100"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(20))
        out = tl.communicate(timeout=30)[0].decode()
        assert br.wait(timeout=5) == 0
    assert "IPv4 Endpoints" in out
    assert "10.1.1.1" in out and "10.4.4.4" in out


@needs_tools
def test_tshark_ek_is_json_lines() -> None:
    with pipeline(["tshark", "-l", "-n", "-r", "-", "-T", "ek"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(1))
        out, _, _ = finish(br, tl)
    docs = [json.loads(line) for line in out.splitlines() if line.strip()]
    packets_ = [d for d in docs if "layers" in d]
    assert len(packets_) == 5
    assert {p["layers"]["frame"]["frame_frame_protocols"] for p in packets_} == {
        "eth:ethertype:ip:udp:dns",
        "eth:ethertype:ipv6:udp:dns",
        "eth:ethertype:ip:tcp",
        "eth:ethertype:vlan:ethertype:ip:tcp:data",
        "eth:ethertype:ip:icmp:data",
    }


@needs_tools
@pytest.mark.parametrize("protocol", [11, 12])
def test_ip_header_protocols_decode_as_ip(protocol: int) -> None:
    frames = [FRAMES["dns4"], FRAMES["syn"]] if protocol == 11 else [FRAMES["dns6"]]
    with pipeline(["tcpdump", "-l", "-n", "-r", "-"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), [datagram(1, frames, protocol=protocol)])
        out, _, _ = finish(br, tl)
    if protocol == 11:
        assert "IP 10.1.1.1.40000 > 10.2.2.2.53: 4660+ A? example.com." in out
        assert "IP 10.1.1.1.50000 > 10.3.3.3.443: Flags [S]" in out
    else:
        assert "IP6 2001:db8::1.40001 > 2001:db8::53.53: 4660+ A? example.org." in out


@needs_tools
def test_ipv6_agent_and_collector() -> None:
    with pipeline(["tshark", "-l", "-n", "-r", "-", "-T", "fields", "-e", "dns.qry.name"], "-6") as (br, tl, port):
        send(("::1", port), [datagram(1, [FRAMES["dns4"], FRAMES["dns6"]], agent="2001:db8::7")])
        out, _, summary = finish(br, tl)
    assert out.split() == ["example.com", "example.org"]
    assert "agent 2001:db8::7" in summary


@needs_tools
def test_capture_filter_applies_to_each_header() -> None:
    with pipeline(["tcpdump", "-l", "-n", "-r", "-"], "-4", "-f", "icmp or ip6") as (br, tl, port):
        send(("127.0.0.1", port), mixed(2))
        out, _, summary = finish(br, tl)
    lines = out.splitlines()
    assert len(lines) == 4
    assert sum("ICMP echo request" in line for line in lines) == 2
    assert sum("IP6 2001:db8::1" in line for line in lines) == 2
    assert "6 filtered out" in summary


@needs_tools
@needs_corpus
def test_hsflowd_ip_headers_from_the_corpus_decode_as_ip() -> None:
    """hsflowd on lo sends header protocols 11/12 (IP, no MAC header): each must read as IP."""
    assert CORPUS is not None
    for name in ("hsflowd-s1-v4", "hsflowd-s2-v6"):
        # the header protocol of each packet the bridge writes, in order
        protocols = [pkt[2] for n, d in corpus_datagrams() if n == name for pkt in walk(d).packets]
        expected = [p for p in protocols if p in (1, 11, 12)]
        assert expected.count(11) > 50 and expected.count(12) > 50
        br = subprocess.run(
            bridge_cmd("-r", str(CORPUS / "captures" / f"{name}.pcap")), capture_output=True, timeout=60
        )
        assert br.returncode == 0
        td = subprocess.run(["tcpdump", "-n", "-r", "-"], input=br.stdout, capture_output=True, timeout=60)
        ts = subprocess.run(["tshark", "-n", "-r", "-", "-T", "fields", "-e", "frame.protocols"], input=br.stdout,
                            capture_output=True, timeout=60)  # fmt: skip
        lines = td.stdout.decode().splitlines()
        protos = ts.stdout.decode().split()
        assert len(lines) == len(protos) == len(expected)
        for proto, line, layers in zip(expected, lines, protos, strict=True):
            if proto == 11:
                assert " IP " in line and layers.startswith("eth:ethertype:ip:"), line
            elif proto == 12:
                # one hsflowd sample labelled IPv6 holds 39 bytes of something else: tcpdump shows it truncated
                assert (" IP6 " in line or "[|ip6]" in line) and layers.startswith("eth:ethertype:ipv6"), line


def test_tools_present_in_ci() -> None:
    """In CI the real tools must be there: skipped integration tests must not pass as green."""
    missing = [tool for tool in ("tcpdump", "tshark", "curl") if shutil.which(tool) is None]
    if os.environ.get("CI") and missing:
        pytest.fail(f"CI=true but {', '.join(missing)} missing: .ci/run installs them with apt-get")


@needs_tools
def test_pcapng_comments_interfaces_and_direction() -> None:
    tool = ["tshark", "-l", "-n", "-r", "-", "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment",
            "-e", "frame.packet_flags_direction", "-Y", 'frame.comment contains "in=5"']  # fmt: skip
    with pipeline(tool, "-4", "--pcapng") as (br, tl, port):
        send(("127.0.0.1", port), mixed(1))
        out, _, _ = finish(br, tl)
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 5
    for name, comment, direction in rows:
        assert name == "192.0.2.7-0-5"
        assert comment.startswith("agent=192.0.2.7 sub_agent=0 in=5 out=7 rate=1000 ")
        assert int(direction, 16) == 1  # inbound: the data source is the input port


@needs_tools
def test_pcapng_interface_name_filter_and_tcpdump_reads_it() -> None:
    with pipeline(["tshark", "-l", "-n", "-r", "-", "-Y", 'frame.interface_name == "192.0.2.7-0-5" && dns'], "-4",
                  "--pcapng") as (br, tl, port):  # fmt: skip
        send(("127.0.0.1", port), mixed(1))
        out, _, _ = finish(br, tl)
    assert len(out.splitlines()) == 2
    with pipeline(["tcpdump", "-l", "-n", "-r", "-", "port 53"], "-4", "--pcapng") as (br, tl, port):
        send(("127.0.0.1", port), mixed(1))
        out, err, _ = finish(br, tl)
    assert "A? example.com." in out and "A? example.org." in out


@needs_tools
@needs_corpus
def test_pcapng_writes_other_header_protocols_with_their_link_types() -> None:
    assert CORPUS is not None
    br = subprocess.run(bridge_cmd("-r", str(CORPUS / "captures" / "crafted-header-protocols.pcap"), "--pcapng"),
                        capture_output=True, timeout=60)  # fmt: skip
    assert br.returncode == 0
    ts = subprocess.run(["tshark", "-n", "-r", "-", "-T", "fields", "-e", "frame.protocols"], input=br.stdout,
                        capture_output=True, timeout=60)  # fmt: skip
    first = {line.split(":")[0] for line in ts.stdout.decode().split()}
    assert {"eth", "wlan", "ppp", "fddi", "tr", "fr"} <= first
    classic = subprocess.run(bridge_cmd("-r", str(CORPUS / "captures" / "crafted-header-protocols.pcap")),
                             capture_output=True, timeout=60)  # fmt: skip
    assert b"with header protocol 15 (802.11)" in classic.stderr  # counted, not written, in classic pcap


@needs_tools
def test_sigterm_writes_everything_received_before_it() -> None:
    with pipeline(["tcpdump", "-l", "-n", "-r", "-"], "-4") as (br, tl, port):
        send(("127.0.0.1", port), mixed(3000))  # 15,000 packets, then at once:
        br.send_signal(signal.SIGTERM)
        out, _ = tl.communicate(timeout=30)
        assert br.wait(timeout=10) == 0
    assert len(out.decode().splitlines()) == 15000


@needs_tools
def test_tcpdump_rotates_the_stream_into_files(tmp_path: Path) -> None:
    # docs/pcap.md's rotation: tcpdump -C (in millions of bytes) -W (files); -Z root as tcpdump drops to its own user
    target = tmp_path / "sampled.pcap"
    tool = ["tcpdump", "-r", "-", "-w", str(target), "-C", "1", "-W", "3", "-Z", "root"]
    with pipeline(tool, "-4") as (br, tl, port):
        for i in range(4):  # about 2.4 MB of records, sent in bursts the socket buffer holds
            send(("127.0.0.1", port), [datagram(1000 * i + j + 1, list(FRAMES.values())) for j in range(1000)])
            time.sleep(0.2)
        _, err, summary = finish(br, tl)
    assert "20000 packets written" in summary, summary
    files = sorted(tmp_path.glob("sampled.pcap*"))
    assert [f.name for f in files] == ["sampled.pcap0", "sampled.pcap1", "sampled.pcap2"], err
    counts = []
    for f in files:
        assert f.stat().st_size <= 1_100_000
        check = subprocess.run(["tcpdump", "-n", "-r", str(f)], capture_output=True, timeout=60)
        assert check.returncode == 0, check.stderr
        counts.append(len(check.stdout.splitlines()))
    assert sum(counts) == 20000 and min(counts) > 0, counts
