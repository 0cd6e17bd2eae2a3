"""The images' HEALTHCHECK: is a socket bound to the sFlow UDP port in this container?"""

from __future__ import annotations

import os
import sys


def listening(port: int) -> bool:
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    local = line.split()[1]
                    if int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return False


def main() -> int:
    args = os.environ.get("SFLOW_BRIDGE_ARGS", "").split()
    port = int(args[args.index("-p") + 1]) if "-p" in args[:-1] else 6343
    if listening(port):
        return 0
    sys.stderr.write(f"nothing listens on UDP port {port}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
