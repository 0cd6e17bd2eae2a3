"""The publishing process of sflow-bridge --publish: publishes the datagrams the bridge hands it.

Reads frames on stdin (receive time in microseconds, length, the datagram: the bus's
own framing, bridge/sflow/bus_frame.py, without its mark), publishes them with
:class:`bridge.transport.bus.Publisher`, and writes its counters on stdout as a JSON
line every half second and once more at the end. Ends when stdin does, after
publishing what it was given (for at most two seconds). Its own process, so that
nats-py's event loop never takes the capture's interpreter lock.

    python -m bridge.transport.bus_worker CONFIG_JSON     (started by the bridge itself)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from bridge.sflow.bus_frame import FRAME
from bridge.transport.bus import REPORT_SECONDS, Publisher

BUS_TOKEN_ENV = "SFLOW_BRIDGE_BUS_TOKEN"


def _report(publisher: Publisher) -> None:
    sys.stdout.write(json.dumps(publisher.status()) + "\n")
    sys.stdout.flush()


def main() -> int:
    config = json.loads(sys.argv[1])
    options = {}
    if config.get("creds"):
        options["user_credentials"] = config["creds"]
    if os.environ.get(BUS_TOKEN_ENV):
        options["token"] = os.environ[BUS_TOKEN_ENV]
    publisher = Publisher(config["servers"], config["stream"], config["prefix"], config["retain"],
                          config["retain_bytes"], options)  # fmt: skip
    publisher.start()
    done = threading.Event()

    def reports() -> None:
        while not done.wait(REPORT_SECONDS):
            _report(publisher)

    threading.Thread(target=reports, name="reports", daemon=True).start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    fd = sys.stdin.fileno()
    buf = b""
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            break
        buf += data
        at = 0
        while len(buf) - at >= FRAME.size:
            _ts, n = FRAME.unpack_from(buf, at)
            if len(buf) - at - FRAME.size < n:
                break
            publisher.offer_record(buf[at : at + FRAME.size + n])  # the record as framed: no copy but this one
            at += FRAME.size + n
        buf = buf[at:]
    publisher.close(2.0)
    done.set()
    _report(publisher)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C: the bridge decides when this process ends
    sys.exit(main())
