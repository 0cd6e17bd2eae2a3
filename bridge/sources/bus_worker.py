"""The reading process of sflow-bridge --from: reads the bus and hands the datagrams to the bridge.

Runs :class:`bridge.sources.bus.Consumer` (nats-py) and writes on stdout ``ready`` once
the bus answered and the stream was found, then each datagram as the bus's own framing
without its mark (receive time in microseconds, length, the datagram), in the stream's
order. Its own process, so that the client's parsing runs beside the conversion instead
of sharing its interpreter. A read that cannot go on ends it with one line on stderr
and status 1; the end of a replay closes stdout.

    python -m bridge.sources.bus_worker CONFIG_JSON     (started by the bridge itself)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any

from bridge.sflow.agent_match import AgentMatch
from bridge.sflow.bus_frame import agent_of
from bridge.sources.bus import READY, BusEnded, Consumer

BUS_TOKEN_ENV = "SFLOW_BRIDGE_BUS_TOKEN"
PIPE_SIZE = 1 << 20  # fewer, larger hand-overs (Linux allows 1 MB unprivileged)


def main() -> int:
    config = json.loads(sys.argv[1])
    options: dict[str, Any] = {}
    if config.get("creds"):
        options["user_credentials"] = config["creds"]
    if os.environ.get(BUS_TOKEN_ENV):  # from the environment, never the command line (ps shows that)
        options["token"] = os.environ[BUS_TOKEN_ENV]
    match = AgentMatch(config["agents"])
    wants = (lambda data: match(agent_of(data))) if match else None
    consumer = Consumer(config["servers"], config["stream"], config["prefix"], config["agents"], config["since"],
                        config["until"], config["follow"], options, wants)  # fmt: skip
    fd = sys.stdout.fileno()
    with contextlib.suppress(OSError, ImportError):
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)

    def write(data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    try:
        consumer.run(write, lambda: write(READY))
    except BusEnded as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except BrokenPipeError:  # the bridge stopped
        return 0
    if consumer.malformed:
        sys.stderr.write(f"skipped {consumer.malformed} messages on the bus that are not sflow-bridge's framing\n")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C: the bridge decides when this process ends
    sys.exit(main())
