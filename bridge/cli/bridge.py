"""``sflow-bridge``: the bridge's own command (subcommands grow with the project)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from bridge.cli import demo

    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "demo":
        return demo.main(args[1:])
    sys.stderr.write("usage: sflow-bridge demo [--to HOST:PORT] [--count N] [--rate N]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
