"""The status page's documents on a real bridge: agents a page at a time, one agent's data sources, history, flows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from tests.agent import datagram, packets, send
from tests.integration.test_api import Bridge, bridge

FRAMES = [f for _, f in packets()]
AGENTS = ["192.0.2.10", "192.0.2.2", "192.0.2.100", "10.0.0.1", "2001:db8::1"]


def _read_all(b: Bridge, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, totals = b.call("GET", "/analyzer/json")
        assert isinstance(totals, dict)
        if totals["datagramsReceived"] >= count:
            return
        time.sleep(0.02)  # polling the bridge's own count
    raise AssertionError("the bridge did not read every datagram")


def _get(b: Bridge, path: str) -> Any:
    status, doc = b.call("GET", path)
    assert status == 200, (path, doc)
    return doc


def test_agents_page_sorts_numerically_filters_and_pages() -> None:
    with bridge() as b:
        sent = []
        for n, agent in enumerate(AGENTS):
            sent += [datagram(seq, FRAMES[: n + 1], agent=agent) for seq in (1, 2, 4)[: n % 3 + 1]]
        send(("127.0.0.1", b.udp), sent)
        _read_all(b, len(sent))
        page = _get(b, "/agents/page/json")
        assert [r["name"] for r in page["rows"]] == ["10.0.0.1", "192.0.2.2", "192.0.2.10", "192.0.2.100",
                                                     "2001:db8::1"]  # fmt: skip
        assert page["total"] == page["matched"] == 5
        desc = _get(b, "/agents/page/json?sort=agent&order=desc&limit=2&offset=1")
        assert [r["name"] for r in desc["rows"]] == ["192.0.2.100", "192.0.2.10"]
        by_samples = _get(b, "/agents/page/json?sort=samples")
        counts = [r["samples"] for r in by_samples["rows"]]
        assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
        found = _get(b, "/agents/page/json?filter=192.0.2.1")
        assert [r["name"] for r in found["rows"]] == ["192.0.2.10", "192.0.2.100"] and found["matched"] == 2
        lossy = _get(b, "/agents/page/json?sort=datagramsLost&limit=1")["rows"][0]
        assert lossy["datagramsLost"] == 1  # sequence 1, 2, 4: one missing
        detail = _get(b, "/agents/detail/json?agent=192.0.2.100")
        (source,) = detail["dataSources"]
        # three datagrams (sequence 1, 2, 4) of three samples: the third datagram's samples run on from 10
        # tests/agent.py samples on ifIndex 5, packets from port 5 to 7: coming in
        assert source == {"kind": "flow", "dataSource": "5", "samples": 9, "samplesLost": 3, "samplingRate": 1000,
                          "samplePool": 12000, "drops": 0, "direction": "in", "samplesIn": 9,
                          "samplesOut": 0}  # fmt: skip


def test_bad_queries_get_one_line_answers() -> None:
    with bridge("--top-talkers", "0") as b:
        for path, code, words in [
            ("/agents/page/json?sort=color", 400, "sort is one of"),
            ("/agents/page/json?order=sideways", 400, "order is asc or desc"),
            ("/agents/page/json?limit=0", 400, "limit must be from 1 to 500"),
            ("/agents/page/json?offset=-1", 400, "offset must be from 0"),
            ("/agents/page/json?limit=1e9", 400, "limit must be a whole number"),
            ("/agents/page/json?filter=" + "a" * 101, 400, "at most 100 characters"),
            ("/agents/page/json?" + "&".join(f"x{i}=1" for i in range(40)), 400, "Max number of fields exceeded"),
            ("/agents/detail/json?agent=192.0.2.99", 404, "no agent '192.0.2.99'"),
            ("/agents/detail/json?agent=x&subAgent=y", 400, "subAgent must be a whole number"),
            ("/flows/json", 404, "top talkers are off"),
        ]:
            status, doc = b.call("GET", path)
            assert status == code, (path, doc)
            assert isinstance(doc, dict) and words in doc["error"] and "\n" not in doc["error"], (path, doc)
        status, doc = b.call("PUT", "/history/json", {})
        assert status == 405


def test_flows_by_agent_and_bad_groupings() -> None:
    with bridge() as b:
        send(("127.0.0.1", b.udp), [datagram(1, FRAMES, agent="192.0.2.7")])
        _read_all(b, 1)
        doc = _get(b, "/flows/json?by=agent,interface")
        assert doc["top"][0]["interface"] == "192.0.2.7:5" and doc["top"][0]["samples"] == len(FRAMES)
        by_port = _get(b, "/flows/json?by=dport&top=2")
        assert len(by_port["top"]) == 2 and {"dport", "bitsPerSecond", "packetsPerSecond"} <= set(by_port["top"][0])
        for query, words in [("by=src,agent", "by takes fields of one kind"), ("by=src,src", "twice"),
                             ("top=0", "top must be from 1 to 1000"), ("by=colour", "by takes fields")]:  # fmt: skip
            status, err = b.call("GET", "/flows/json?" + query)
            assert status == 400 and isinstance(err, dict) and words in err["error"], (query, err)


def test_history_fills_second_by_second() -> None:
    with bridge() as b:
        send(("127.0.0.1", b.udp), [datagram(1, FRAMES), datagram(3, FRAMES)])
        _read_all(b, 2)
        deadline = time.monotonic() + 10
        doc = _get(b, "/history/json")
        while sum(doc["series"]["datagrams"]) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)  # the history thread takes a point each second
            doc = _get(b, "/history/json")
        assert doc["interval"] == 1 and doc["points"] == len(doc["series"]["datagrams"]) <= 900
        assert sum(doc["series"]["datagrams"]) > 0 and sum(doc["series"]["datagramsLost"]) > 0
        assert set(doc["series"]) == {"datagrams", "samples", "packetsWritten", "datagramsLost", "samplesLost",
                                      "socketDrops", "malformed"}  # fmt: skip


def test_bad_talker_flags_stop_the_bridge_with_one_line() -> None:
    for flags, words in [(["--top-talkers=-1"], "--top-talkers -1: from 0 (off) to 100000"),
                         (["--top-talkers-budget", "0"], "--top-talkers-budget 0: from 8 to 10000000")]:  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "bridge.cli.bridge", "-w", os.devnull, *flags],
                              capture_output=True, timeout=30)  # fmt: skip
        last = done.stderr.decode().strip().splitlines()[-1]
        assert done.returncode == 2 and words in last, done.stderr
