"""``sflow-bridge extcap``: an "sFlow" capture interface for Wireshark and tshark.

Three interfaces: ``sflow`` listens for sFlow on a UDP port of the desktop; ``sflow-http``
pulls the live stream of a remote bridge (``/capture.pcap``); ``sflow-bus`` reads the
sFlow bus (NATS JetStream), live or from a time in the past. Each way the capture
filter typed in Wireshark is applied by the bridge (Wireshark does not apply it to
extcap data), and the stream is pcapng with the agent, ports and sampling rate of
every packet. ``sflow-bridge extcap --install`` puts a launcher in the personal
extcap folder of the Wireshark on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import re
import select
import shutil
import socket
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from pathlib import Path

from bridge import __version__


def interfaces() -> str:
    return (
        f"extcap {{version={__version__}}}\n"
        "interface {value=sflow}{display=sFlow: sampled packets received on a UDP port}\n"
        "interface {value=sflow-http}{display=sFlow: sampled packets from a bridge over HTTP}\n"
        "interface {value=sflow-bus}{display=sFlow: sampled packets from the sFlow bus (NATS)}\n"
    )


def dlts() -> str:
    return "dlt {number=1}{name=EN10MB}{display=Ethernet, as sampled by sFlow agents}\n"


def config(interface: str) -> str:
    if interface == "sflow-bus":
        return (
            "arg {number=0}{call=--server}{display=Bus}{type=string}{default=nats://127.0.0.1:4222}"
            "{tooltip=a NATS server with the stream the bridges publish to (tls:// for TLS)}{required=true}\n"
            "arg {number=1}{call=--since}{display=Replay from}{type=string}"
            "{tooltip=empty: live; 15m (ago), or a time such as 2026-12-03T03:00Z}\n"
            "arg {number=2}{call=--follow}{display=Go on live after the replay}{type=boolflag}{default=true}\n"
            "arg {number=3}{call=--agent}{display=Agents}{type=string}"
            "{tooltip=empty: every agent; or prefixes such as 10.1.0.0/16 2001:db8::/32}\n"
            "arg {number=4}{call=--stream}{display=Stream}{type=string}{default=SFLOW}\n"
            "arg {number=5}{call=--creds}{display=Credentials file}{type=fileselect}{mustexist=true}"
            "{tooltip=a NATS .creds file; or leave empty (a token: set SFLOW_BRIDGE_BUS_TOKEN)}\n"
        )
    if interface == "sflow-http":
        return (
            "arg {number=0}{call=--url}{display=Bridge URL}{type=string}{default=http://127.0.0.1:8008}"
            "{tooltip=the HTTP API of a running sflow-bridge}{required=true}\n"
            # a string, not a password: Wireshark passes a password argument from its dialog only, never from -o
            "arg {number=1}{call=--token}{display=API token}{type=string}"
            "{tooltip=the bridge's API token; or leave empty and set SFLOW_BRIDGE_API_TOKEN, which Wireshark "
            "never saves in its preferences}\n"
        )
    return (
        "arg {number=0}{call=--port}{display=UDP port}{type=integer}{range=1,65535}{default=6343}"
        "{tooltip=the port the sFlow agents send to}\n"
        "arg {number=1}{call=--bind}{display=Listen address}{type=string}"
        "{tooltip=empty: every address, IPv4 and IPv6}\n"
    )


class CaptureFailed(Exception):
    """A capture that cannot go on: its one-line reason is what Wireshark shows."""

    def __init__(self, reason: str, fifo_closed: bool = False) -> None:
        super().__init__(reason)
        self.fifo_closed = fifo_closed  # packets went to the FIFO, and its closing ended the capture


class _Kept(io.RawIOBase):
    """The bridge's stderr during an extcap capture: kept, not shown (the last lines only).

    Wireshark shows anything an extcap writes to stderr as an error, so the bridge's start-up notice
    and summary must not reach it; on a failure, its last line is the reason.
    """

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=16)
        self._part = b""

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        *lines, part = (self._part + bytes(data)).split(b"\n")
        self.lines.extend(line.decode(errors="replace") for line in lines if line.strip())
        self._part = part[-4096:]
        return len(data)


def capture_udp(args: argparse.Namespace, run_bridge: Callable[[list[str]], int]) -> int:
    argv = ["-p", str(args.port), "-w", args.fifo, "--pcapng", "--api", "none"]
    if args.bind:
        argv += ["-b", args.bind]
    return _run_bridge(argv, args, run_bridge)


def capture_bus(args: argparse.Namespace, run_bridge: Callable[[list[str]], int]) -> int:
    """The bridge reading the bus; a replay without --follow ends by itself, which ends the capture."""
    argv = ["--from", args.server, "--bus-stream", args.stream or "SFLOW", "-w", args.fifo, "--pcapng", "--api", "none"]
    if args.since:
        argv += ["--since", args.since]
        if args.follow:
            argv.append("--follow")
    for prefix in (args.agent or "").replace(",", " ").split():
        argv += ["--agent", prefix]
    if args.creds:
        argv += ["--bus-creds", args.creds]
    return _run_bridge(argv, args, run_bridge)


def _run_bridge(argv: list[str], args: argparse.Namespace, run_bridge: Callable[[list[str]], int]) -> int:
    if args.extcap_capture_filter:
        argv += ["-f", args.extcap_capture_filter]
    kept = _Kept()
    shown, sys.stderr = sys.stderr, io.TextIOWrapper(io.BufferedWriter(kept), errors="replace", write_through=True)
    try:
        status = run_bridge(argv)
    except SystemExit as exc:  # the bridge's option errors
        status = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stderr.flush()
        sys.stderr = shown
    if status == 0:
        return 0  # stopped by Wireshark: nothing to say
    reason = kept.lines[-1] if kept.lines else f"the bridge stopped with status {status}"
    raise CaptureFailed(_HELP_HINT.sub("", reason))


_HELP_HINT = re.compile(r"^sflow-bridge: | \(see sflow-bridge --help\)$")


def capture_http(args: argparse.Namespace) -> int:
    query = {"format": "pcapng"}
    if args.extcap_capture_filter:
        query["filter"] = args.extcap_capture_filter
    base = args.url.rstrip("/")
    req = urllib.request.Request(base + "/capture.pcap?" + urllib.parse.urlencode(query))
    if args.token:
        req.add_header("Authorization", f"Bearer {args.token}")
    resp = _open_stream(req, base, bool(args.token))
    received = 0
    try:
        with open(args.fifo, "wb", buffering=0) as out:
            threading.Thread(target=_exit_when_reader_leaves, args=(out.fileno(),), daemon=True).start()
            while chunk := resp.read1(1 << 16):
                out.write(chunk)
                received += len(chunk)
    except BrokenPipeError:
        return 0  # Wireshark stopped the capture
    except (OSError, http.client.HTTPException) as exc:
        raise CaptureFailed(f"the stream from {base} broke after {received} bytes: {_why(exc)}", True) from None
    finally:
        resp.close()
    raise CaptureFailed(f"the bridge at {base} ended the stream after {received} bytes (stopped or restarted?)", True)


def _open_stream(req: urllib.request.Request, base: str, token_given: bool) -> http.client.HTTPResponse:
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise CaptureFailed(f"the bridge URL must start with http:// or https://, not {base!r}")
    try:
        return urllib.request.urlopen(req, timeout=CONNECT_SECONDS)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        said = _error_text(exc)
        hint = ""
        if exc.code == 401 and token_given:
            hint = " (the token given is not the bridge's)"
        elif exc.code == 401:
            hint = " (give the bridge's token in the interface's options, or in $SFLOW_BRIDGE_API_TOKEN)"
        raise CaptureFailed(f"the bridge at {base} refused the stream: {exc.code} {exc.reason}: {said}{hint}") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise CaptureFailed(f"cannot reach the bridge at {base}: {_why(reason)}") from None


CONNECT_SECONDS = 10  # a bridge that accepts but does not answer; refusals and DNS errors come at once


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read(4096)
        return str(json.loads(body)["error"])
    except (OSError, ValueError, KeyError, TypeError):
        return "(no reason given)"


def _why(exc: object) -> str:
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def end_fifo(path: str) -> None:
    """Open and close the FIFO: Wireshark's dumpcap waits for its writer, and EOF ends the capture at once."""

    def touch() -> None:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY))

    opener = threading.Thread(target=touch, daemon=True)
    opener.start()
    opener.join(FIFO_SECONDS)


FIFO_SECONDS = 2.0  # dumpcap opens the FIFO as soon as the capture starts


def _exit_when_reader_leaves(fd: int) -> None:
    """Wireshark stopping the capture closes the FIFO: end at once, even while no packet comes."""
    poller = select.poll()
    poller.register(fd, 0)  # only POLLERR / POLLHUP
    while True:
        if poller.poll(1000):
            os._exit(0)


def fail(reason: str, fifo: str | None) -> None:
    """The way Wireshark shows an extcap's error: a line on stderr, then the FIFO closed before any data.

    Wireshark (extcap.c) reports whatever the extcap wrote to stderr once the capture ends, as
    "Error by extcap pipe: ..."; closing the FIFO makes dumpcap end the capture now, where a FIFO
    never opened would leave it waiting for ever.
    """
    sys.stderr.write(f"sflow-bridge extcap: {reason}\n")
    sys.stderr.flush()
    if fifo is not None:
        end_fifo(fifo)


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


INTERFACES = ("sflow", "sflow-http", "sflow-bus")


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
    p.add_argument("--server", default="nats://127.0.0.1:4222")
    p.add_argument("--since")
    p.add_argument("--follow", action="store_true")
    p.add_argument("--agent")
    p.add_argument("--stream", default="SFLOW")
    p.add_argument("--creds")
    p.add_argument("--install", action="store_true", help="install the launcher in Wireshark's personal extcap folder")
    p.add_argument("--folder", type=Path, help="with --install: this folder instead")
    args, _unknown = p.parse_known_args(argv)  # Wireshark may pass options newer than this program
    if args.install:
        return install(args.folder)
    if args.extcap_interfaces:
        sys.stdout.write(interfaces())
        return 0
    if args.extcap_interface not in INTERFACES:
        p.error("--extcap-interface must be sflow, sflow-http or sflow-bus")
    if args.extcap_dlts:
        sys.stdout.write(dlts())
        return 0
    if args.extcap_config:
        sys.stdout.write(config(args.extcap_interface))
        return 0
    if args.capture:
        if not args.fifo:
            p.error("--capture needs --fifo")
        try:
            if args.extcap_interface == "sflow-http":
                return capture_http(args)  # pulls the stream itself: no bridge in this process
            if args.extcap_interface == "sflow-bus":
                return capture_bus(args, run_bridge)
            return capture_udp(args, run_bridge)
        except CaptureFailed as exc:
            fail(str(exc), None if exc.fifo_closed else args.fifo)
        except Exception as exc:  # noqa: BLE001 - Wireshark shows one line, never a traceback
            fail(f"{type(exc).__name__}: {exc}", args.fifo)
        return 1
    p.error("nothing to do: see --help")
    return 2
