"""The forwarding process of sflow-bridge's live mode: sends the copies the bridge hands it.

Reads the frames of bridge/net/forwarding.py on stdin (the session table, then
datagrams with the slots of the sessions they go to) and sends each datagram,
unchanged, to each of its sessions; reports send errors on stdout. Ends when
stdin does. The work itself is forwarding.send_copies(), compiled with the rest.

    python -m bridge.net.forward_worker     (started by the bridge itself)
"""

from __future__ import annotations

import signal
import sys

from bridge.net.forwarding import send_copies

if __name__ == "__main__":
    # a terminal's ^C reaches the whole process group: the bridge decides when this process ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    send_copies(sys.stdin.fileno(), sys.stdout)
