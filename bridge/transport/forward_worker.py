"""The forwarding process of sflow-bridge's live mode: sends the copies the bridge hands it.

Reads the frames of bridge/transport/forwarding.py on stdin (the session table, then
datagrams with the slots of the sessions they go to) and sends each datagram,
unchanged, to each of its sessions; reports send errors on stdout. Ends when
stdin does. It runs at idle priority (SCHED_IDLE), on CPU time the capture leaves.
The work itself is forwarding.send_copies(), compiled with the rest.

    python -m bridge.transport.forward_worker     (started by the bridge itself)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from bridge.transport.forwarding import send_copies

NICENESS = 10  # added to the bridge's: under CFS, about a tenth of its share of a contended core

if __name__ == "__main__":
    # a terminal's ^C reaches the whole process group: the bridge decides when this process ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # when the CPU runs short, the capture comes first: this process falls behind and drops copies
    # (counted per session) instead of taking the core the bridge's receive loop needs
    os.nice(NICENESS)
    with contextlib.suppress(AttributeError, OSError):  # stronger: run only when no normal process wants a core
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    sys.stdout.write("ready\n")  # the bridge waits for this line before it says it is listening
    sys.stdout.flush()
    send_copies(sys.stdin.fileno(), sys.stdout, "--broadcast" in sys.argv[1:])
