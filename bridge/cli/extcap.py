"""``sflow-bridge extcap``: an "sFlow" capture interface for Wireshark and tshark.

Two interfaces: ``sflow`` listens for sFlow on a UDP port of the desktop; ``sflow-http``
pulls the live stream of a remote bridge (``/capture.pcap``). Either way the capture
filter typed in Wireshark is applied by the bridge (Wireshark does not apply it to
extcap data), and the stream is pcapng with the agent, ports and sampling rate of
every packet. ``sflow-bridge extcap --install`` puts a launcher in the personal
extcap folder of the Wireshark on this machine.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bridge import __version__


def interfaces() -> str:
    return (
        f"extcap {{version={__version__}}}\n"
        "interface {value=sflow}{display=sFlow: sampled packets received on a UDP port}\n"
        "interface {value=sflow-http}{display=sFlow: sampled packets from a bridge over HTTP}\n"
    )


def dlts() -> str:
    return "dlt {number=1}{name=EN10MB}{display=Ethernet, as sampled by sFlow agents}\n"


def config(interface: str) -> str:
    if interface == "sflow-http":
        return (
            "arg {number=0}{call=--url}{display=Bridge URL}{type=string}{default=http://127.0.0.1:8008}"
            "{tooltip=the HTTP API of a running sflow-bridge}{required=true}\n"
            "arg {number=1}{call=--token}{display=API token}{type=password}"
            "{tooltip=the bridge's --api-token, when it protects reads}\n"
        )
    return (
        "arg {number=0}{call=--port}{display=UDP port}{type=integer}{range=1,65535}{default=6343}"
        "{tooltip=the port the sFlow agents send to}\n"
        "arg {number=1}{call=--bind}{display=Listen address}{type=string}"
        "{tooltip=empty: every address, IPv4 and IPv6}\n"
    )


def capture_udp(args: argparse.Namespace, run_bridge: Callable[[list[str]], int]) -> int:
    argv = ["-p", str(args.port), "-w", args.fifo, "--pcapng", "--api", "none"]
    if args.bind:
        argv += ["-b", args.bind]
    if args.extcap_capture_filter:
        argv += ["-f", args.extcap_capture_filter]
    return run_bridge(argv)


def capture_http(args: argparse.Namespace) -> int:
    query = {"format": "pcapng"}
    if args.extcap_capture_filter:
        query["filter"] = args.extcap_capture_filter
    url = args.url.rstrip("/") + "/capture.pcap?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url)
    if args.token:
        req.add_header("Authorization", f"Bearer {args.token}")
    try:
        resp = urllib.request.urlopen(req, timeout=30)
    except OSError as exc:
        sys.stderr.write(f"sflow-bridge extcap: cannot open {url}: {exc}\n")
        return 1
    try:
        with open(args.fifo, "wb", buffering=0) as out:
            threading.Thread(target=_exit_when_reader_leaves, args=(out.fileno(),), daemon=True).start()
            while chunk := resp.read1(1 << 16):
                out.write(chunk)
    except (BrokenPipeError, KeyboardInterrupt):
        pass  # Wireshark stopped the capture
    finally:
        resp.close()
    return 0


def _exit_when_reader_leaves(fd: int) -> None:
    """Wireshark stopping the capture closes the FIFO: end at once, even while no packet comes."""
    poller = select.poll()
    poller.register(fd, 0)  # only POLLERR / POLLHUP
    while True:
        if poller.poll(1000):
            os._exit(0)


def personal_folder() -> Path:
    """Where this machine's Wireshark looks for a user's extcap programs."""
    try:
        folders = subprocess.run(["tshark", "-G", "folders"], capture_output=True, text=True, timeout=30).stdout
        m = re.search(r"^Personal Extcap path:\s*(.+)$", folders, re.M)
        if m:
            return Path(m.group(1).strip())
        version = subprocess.run(["tshark", "--version"], capture_output=True, text=True, timeout=30).stdout
        v = re.search(r"TShark \(Wireshark\) (\d+)\.(\d+)", version)
        if v and (int(v.group(1)), int(v.group(2))) >= (4, 2):
            return Path.home() / ".local" / "lib" / "wireshark" / "extcap"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return Path.home() / ".config" / "wireshark" / "extcap"  # Wireshark 3.2 to 4.0


def install(folder: Path | None) -> int:
    target_dir = folder or personal_folder()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "sflow-bridge"
    root = Path(__file__).resolve().parents[2]
    # the launcher runs this Python with this package, wherever it was installed from
    script = (
        "#!/bin/sh\n"
        f"PYTHONPATH={_sh(str(root))}${{PYTHONPATH:+:$PYTHONPATH}} exec {_sh(sys.executable)} "
        '-m bridge.cli.bridge extcap "$@"\n'
    )
    target.write_text(script)
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"installed {target}")
    if shutil.which("tshark") is None:
        print("tshark is not installed here: Wireshark will list the interface once it is")
    return 0


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def main(argv: list[str], run_bridge: Callable[[list[str]], int]) -> int:
    p = argparse.ArgumentParser(prog="sflow-bridge extcap", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--extcap-interfaces", action="store_true")
    p.add_argument("--extcap-version")
    p.add_argument("--extcap-interface")
    p.add_argument("--extcap-dlts", action="store_true")
    p.add_argument("--extcap-config", action="store_true")
    p.add_argument("--extcap-capture-filter")
    p.add_argument("--extcap-reload-option")
    p.add_argument("--capture", action="store_true")
    p.add_argument("--fifo")
    p.add_argument("--port", type=int, default=6343)
    p.add_argument("--bind")
    p.add_argument("--url", default="http://127.0.0.1:8008")
    p.add_argument("--token", default=os.environ.get("SFLOW_BRIDGE_API_TOKEN"))
    p.add_argument("--install", action="store_true", help="install the launcher in Wireshark's personal extcap folder")
    p.add_argument("--folder", type=Path, help="with --install: this folder instead")
    args, _unknown = p.parse_known_args(argv)  # Wireshark may pass options newer than this program
    if args.install:
        return install(args.folder)
    if args.extcap_interfaces:
        sys.stdout.write(interfaces())
        return 0
    if args.extcap_interface not in ("sflow", "sflow-http"):
        p.error("--extcap-interface must be sflow or sflow-http")
    if args.extcap_dlts:
        sys.stdout.write(dlts())
        return 0
    if args.extcap_config:
        sys.stdout.write(config(args.extcap_interface))
        return 0
    if args.capture:
        if not args.fifo:
            p.error("--capture needs --fifo")
        return capture_http(args) if args.extcap_interface == "sflow-http" else capture_udp(args, run_bridge)
    p.error("nothing to do: see --help")
    return 2
