"""The images' entrypoint: ``sflow-bridge | TOOL ARGS`` as one well-behaved process tree.

    python3 -m bridge.cli.launch tcpdump [tcpdump arguments]
    python3 -m bridge.cli.launch tshark [tshark arguments]
    python3 -m bridge.cli.launch sflowtool [sflowtool arguments]

Every user argument goes to the tool unchanged; only what a pipe needs is added
(``-l``, ``-r -``, and ``-U`` when tcpdump writes a file). tshark's ``-f`` (a capture
filter, which tshark ignores on a pipe) becomes the bridge's own BPF filter, and
``-a duration:N`` is enforced here; live-capture options that cannot work on a
pipe are refused with a message. As PID 1 it forwards SIGTERM and SIGINT to the
bridge, which flushes and closes the pipe, so the tool prints its closing
summary and the container exits with the tool's status (within 2 s of
``docker stop``). When the tool exits by itself (``-c 10``), the bridge is stopped.

Started as root (the images' default), it gives root up before starting anything:
to the owner of the folder a ``-w`` file goes to (so that ``-v $PWD:/pcap`` gives
the file to whoever owns ``$PWD``), otherwise to the image's ``sflow`` user. The
bridge and the tool run in process groups of their own, so a terminal's ^C
reaches only this process, which stops them as ``docker stop`` does. Name
lookups are bounded (RES_OPTIONS), so a slow resolver cannot hold a stop.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import threading

BRIDGE = [sys.executable, "-m", "bridge.cli.bridge"]
IMAGE_USER = "sflow"
# glibc's resolver: one try of one second per server, so that tcpdump's reverse lookups cannot hold a stop
RES_OPTIONS = "timeout:1 attempts:1"
SFLOWTOOL = [sys.executable, "-m", "bridge.cli.sflowtool"]


class Refused(Exception):
    pass


def tcpdump_args(args: list[str]) -> list[str]:
    extra = ["-l"]
    if _has_option(args, "w"):
        extra.append("-U")  # packet-buffered: a file being written is complete up to the last packet
    for forbidden in ("-i", "-r"):
        if forbidden in args:
            raise Refused(f"tcpdump {forbidden} is set by this image (it reads the sFlow bridge's stream)")
    return ["tcpdump", *extra, "-r", "-", *args]


def _has_option(args: list[str], letter: str) -> bool:
    for a in args:
        if a == "--":
            return False
        if a.startswith("-") and not a.startswith("--") and letter in a[1:2]:
            return True
    return False


def output_file(args: list[str]) -> str | None:
    """The file of a ``-w FILE`` (or ``-wFILE``) among tcpdump's or tshark's arguments."""
    for i, a in enumerate(args):
        if a == "--":
            return None
        if a == "-w" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("-w") and len(a) > 2:
            return a[2:]
    return None


def give_up_root(tool: str, args: list[str]) -> list[str]:
    """As root: becomes the owner of the -w file's folder, or the image's user; the tool's extra arguments."""
    if os.getuid() != 0:
        return []  # docker run --user: as the user asked
    target = output_file(args) if tool in ("tcpdump", "tshark") else None
    folder = os.path.dirname(os.path.abspath(target)) if target and target != "-" else None
    try:
        if folder is not None:
            st = os.stat(folder)
            uid, gid = st.st_uid, st.st_gid
        else:
            user = pwd.getpwnam(IMAGE_USER)
            uid, gid = user.pw_uid, user.pw_gid
    except (OSError, KeyError):
        return []  # no such folder (the tool says so) or no such user (not the image): nothing to give up to
    extra = []
    if uid == 0 and tool == "tcpdump" and not _has_option(args, "Z"):
        extra = ["-Z", "root"]  # the folder is root's: tcpdump must not switch to its own user to write there
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.environ["HOME"] = "/tmp"
    return extra


def tshark_args(args: list[str]) -> tuple[list[str], list[str], float | None]:
    """(tshark command, extra bridge arguments, duration limit)."""
    out: list[str] = []
    bridge: list[str] = []
    duration: float | None = None
    it = iter(range(len(args)))
    for i in it:
        a = args[i]
        if a in ("-f", "-a", "-b", "-i", "-r", "-w") and i + 1 >= len(args):
            raise Refused(f"tshark {a} needs a value")
        if a == "-f":
            bridge += ["-f", args[i + 1]]  # tshark ignores capture filters on a pipe: the bridge applies it
            next(it)
        elif a == "-a":
            cond = args[i + 1]
            next(it)
            key, _, value = cond.partition(":")
            if key == "duration":
                try:
                    duration = float(value)
                except ValueError:
                    raise Refused(f"tshark -a {cond}: the duration must be a number of seconds") from None
            elif key == "packets":
                out += ["-c", value]
            else:
                raise Refused(
                    f"tshark -a {cond} needs a live capture; this image reads a pipe (use -c or -a duration:N)"
                )
        elif a == "-b":
            raise Refused(
                "tshark -b (ring buffer) needs a live capture; write one file with -w, or use sflow/tcpdump -w"
            )
        elif a in ("-i", "-r"):
            raise Refused(f"tshark {a} is set by this image (it reads the sFlow bridge's stream)")
        else:
            out.append(a)
    return ["tshark", "-l", "-r", "-", *out], bridge, duration


def run(tool: str, args: list[str], bridge_args: list[str]) -> int:
    duration = None
    if tool == "sflowtool":
        return _run_alone([*SFLOWTOOL, *args])
    if tool == "tcpdump":
        cmd = tcpdump_args(args)
        extra: list[str] = []
    elif tool == "tshark":
        cmd, extra, duration = tshark_args(args)
    else:
        raise Refused(f"unknown tool {tool!r}: tcpdump, tshark or sflowtool")
    if shutil.which(cmd[0]) is None:
        raise Refused(f"{cmd[0]} is not installed in this image")
    bridge_cmd = [*bridge_args, *extra]
    filters = [bridge_cmd[i + 1] for i, a in enumerate(bridge_cmd[:-1]) if a == "-f"]
    if filters:  # said here in one line: the bridge would fail after the tool had started, which then exits 0
        _check_filter(filters[-1])
    cmd[1:1] = give_up_root(tool, args)
    env = {"RES_OPTIONS": RES_OPTIONS, **os.environ}
    read_fd, write_fd = os.pipe()
    # groups of their own: a terminal's ^C reaches this process only, which ends them in order
    bridge = subprocess.Popen([*BRIDGE, *bridge_cmd], stdout=write_fd, stdin=subprocess.DEVNULL,
                              process_group=0)  # fmt: skip
    os.close(write_fd)
    proc = subprocess.Popen(cmd, stdin=read_fd, env=env, process_group=0)
    os.close(read_fd)
    stopping = False

    def stop(signum: int = signal.SIGTERM, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        if bridge.poll() is None:
            bridge.send_signal(signal.SIGTERM)  # it flushes, closes the pipe; the tool sees the end

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    timer = None
    if duration is not None:
        timer = threading.Timer(duration, stop)
        timer.daemon = True
        timer.start()
    status = proc.wait()
    asked = stopping  # a stop or ^C came before the tool ended
    stop()
    try:
        bridge.wait(timeout=5)
    except subprocess.TimeoutExpired:
        bridge.kill()
        bridge.wait()
    if timer is not None:
        timer.cancel()
    # a bridge that ended on an error (it printed why) decides the status; read once it has been waited for:
    # the tool can see the pipe close before the bridge's exit can be collected
    return bridge.returncode if not asked and bridge.returncode > 0 else status


def _check_filter(expression: str) -> None:
    from bridge.pcap.bpf import CaptureFilter, FilterError

    try:
        CaptureFilter(expression)
    except FilterError as exc:
        raise Refused(str(exc)) from None


def _run_alone(cmd: list[str]) -> int:
    give_up_root("sflowtool", [])
    proc = subprocess.Popen(cmd)

    def forward(signum: int, frame: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = proc.wait()
    return 0 if status in (-signal.SIGTERM, -signal.SIGINT) else status


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write("usage: python3 -m bridge.cli.launch tcpdump|tshark|sflowtool [ARGS...]\n")
        return 2
    tool, rest = args[0], args[1:]
    bridge_args = os.environ.get("SFLOW_BRIDGE_ARGS", "").split()
    if tool != "sflowtool" and "--api" not in bridge_args:
        bridge_args += ["--api", "0.0.0.0:8008"]  # inside the image: reachable through -p 8008:8008
    try:
        return run(tool, rest, bridge_args)
    except Refused as exc:
        sys.stderr.write(f"sflow/{tool}: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
