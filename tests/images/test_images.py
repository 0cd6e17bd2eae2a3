"""The three images, built by scripts/build-images and run for real, each command line of the README and docs/images.md.

A container engine is needed: a running Docker, or the Podman engine that
scripts/engine-setup prepares (CI sets it up; on a developer machine without an
engine these tests skip, saying how to get one).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agent import datagram, packets, send
from tests.helpers import read_until
from tests.images.engine import CLI

ROOT = Path(__file__).resolve().parents[2]
FRAMES = [f for _, f in packets()]
SCRIPTS = ROOT / "tests" / "images"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    def __init__(self, env: dict[str, str], image: str, args: list[str], volume: Path | None = None,
                 api: bool = False, environment: dict[str, str] | None = None) -> None:  # fmt: skip
        self.env = env
        self.port = free_port()
        cmd = [CLI, "run", "-d", "-p", f"{self.port}:6343/udp"]
        for k, v in (environment or {}).items():
            cmd += ["-e", f"{k}={v}"]
        if api:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.api_port = s.getsockname()[1]
            cmd += ["-p", f"127.0.0.1:{self.api_port}:8008"]
        if volume is not None:
            cmd += ["-v", f"{volume}:/pcap"]
        run = subprocess.run([*cmd, image, *args], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        self.id = run.stdout.strip().splitlines()[-1]

    def logs(self) -> tuple[str, str]:
        r = subprocess.run([CLI, "logs", self.id], env=self.env, capture_output=True, text=True, timeout=60)
        return r.stdout, r.stderr

    def wait_listening(self) -> None:
        deadline = time.monotonic() + 30
        while "listening for sFlow" not in self.logs()[1]:
            assert time.monotonic() < deadline, f"the bridge did not start: {self.logs()}"
            time.sleep(0.2)

    def send(self, datagrams: list[bytes]) -> None:
        send(("127.0.0.1", self.port), datagrams)

    def stop(self) -> float:
        started = time.monotonic()
        # an explicit timeout: Podman's Docker API otherwise stops with none at all (SIGKILL at once)
        subprocess.run([CLI, "stop", "-t", "10", self.id], env=self.env, capture_output=True, timeout=60)
        return time.monotonic() - started

    def wait(self, timeout: float = 30) -> int:
        r = subprocess.run([CLI, "wait", self.id], env=self.env, capture_output=True, text=True, timeout=timeout)
        return int(r.stdout.strip().splitlines()[-1])

    def exit_code(self) -> int:
        r = subprocess.run([CLI, "inspect", "-f", "{{.State.ExitCode}}", self.id], env=self.env, capture_output=True,
                           text=True, timeout=30)  # fmt: skip
        return int(r.stdout.strip())

    def remove(self) -> None:
        subprocess.run([CLI, "rm", "-f", self.id], env=self.env, capture_output=True, timeout=60)


def run_image(env: dict[str, str], image: str, args: list[str], traffic: list[bytes]) -> tuple[str, str, int, float]:
    """Starts the image, sends the traffic once it listens, stops it: (stdout, stderr, exit code, stop seconds)."""
    c = Container(env, image, args)
    try:
        c.wait_listening()
        c.send(traffic)
        time.sleep(1.0)
        took = c.stop()
        out, err = c.logs()
        return out, err, c.exit_code(), took
    finally:
        c.remove()


def traffic(n: int = 2, counters: bool = False) -> list[bytes]:
    return [datagram(i + 1, FRAMES, counters=counters) for i in range(n)]


def test_tcpdump_all_packets(engine: dict[str, str]) -> None:
    out, err, rc, took = run_image(engine, "sflow/tcpdump", [], traffic())
    assert rc == 0 and took < 2.0
    assert out.count("IP 10.1.1.1.40000 > 10.2.2.2.53: 4660+ A? example.com.") == 2
    assert out.count("Flags [S]") == 2
    assert "sflow-bridge: 2 datagrams" in err


def test_tcpdump_vv_port_53(engine: dict[str, str]) -> None:
    out, _, rc, _ = run_image(engine, "sflow/tcpdump", ["-vv", "port", "53"], traffic(1))
    assert rc == 0
    assert "proto UDP (17)" in out and "A? example.com." in out and "A? example.org." in out
    assert "Flags [S]" not in out


def test_tcpdump_syn(engine: dict[str, str]) -> None:
    out, _, rc, _ = run_image(engine, "sflow/tcpdump", ["tcp[tcpflags] == tcp-syn"], traffic(3))
    lines = [line for line in out.splitlines() if line.strip()]
    assert rc == 0
    assert len(lines) == 3 and all("10.1.1.1.50000 > 10.3.3.3.443: Flags [S]" in line for line in lines)


@pytest.mark.parametrize("owner", [0, 1000, 1234], ids=["root", "desktop-user", "other-user"])
def test_tcpdump_writes_10_packets_and_exits(engine: dict[str, str], tmp_path: Path, owner: int) -> None:
    folder = tmp_path / "pcap"
    folder.mkdir(mode=0o755)  # writable by its owner only, as a user's own folder is
    os.chown(folder, owner, owner)
    c = Container(engine, "sflow/tcpdump", ["-w", "/pcap/packets.pcap", "-c", "10"], volume=folder)
    try:
        c.wait_listening()
        c.send(traffic(3))  # 15 packets
        assert c.wait() == 0, c.logs()  # tcpdump -c 10 ends the container by itself, with its status
    finally:
        c.remove()
    st = (folder / "packets.pcap").stat()
    assert (st.st_uid, st.st_gid) == (owner, owner)  # the file belongs to the folder's owner
    r = subprocess.run(["tcpdump", "-n", "-r", str(folder / "packets.pcap")], capture_output=True, timeout=30)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 10


def test_docker_stop_leaves_a_complete_file(engine: dict[str, str], tmp_path: Path) -> None:
    c = Container(engine, "sflow/tcpdump", ["-w", "/pcap/all.pcap"], volume=tmp_path)
    try:
        c.wait_listening()
        c.send(traffic(4))
        time.sleep(1.0)
        assert c.stop() < 2.0
        assert c.exit_code() == 0
    finally:
        c.remove()
    r = subprocess.run(["tcpdump", "-n", "-r", str(tmp_path / "all.pcap")], capture_output=True, timeout=30)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 20


def test_tshark_default(engine: dict[str, str]) -> None:
    out, _, rc, took = run_image(engine, "sflow/tshark", [], traffic(1))
    assert rc == 0 and took < 2.0
    assert "Standard query 0x1234 A example.com" in out and "ICMP" in out


def test_tshark_display_filter(engine: dict[str, str]) -> None:
    out, _, rc, _ = run_image(engine, "sflow/tshark", ["-Y", "dns"], traffic(1))
    lines = [line for line in out.splitlines() if line.strip()]
    assert rc == 0 and len(lines) == 2 and all("DNS" in line for line in lines)


def test_tshark_capture_filter_goes_to_the_bridge(engine: dict[str, str]) -> None:
    out, err, rc, _ = run_image(engine, "sflow/tshark", ["-n", "-f", "icmp"], traffic(2))
    lines = [line for line in out.splitlines() if line.strip()]
    assert rc == 0 and len(lines) == 2 and all("ICMP" in line for line in lines)
    assert "8 filtered out" in err


def test_tshark_fields(engine: dict[str, str]) -> None:
    args = ["-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.proto", "-e", "ip.len"]
    out, _, rc, _ = run_image(engine, "sflow/tshark", args, traffic(1))
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    assert rc == 0
    assert ["10.1.1.1", "10.3.3.3", "6", "40"] in rows and ["10.1.1.1", "10.4.4.4", "1", "84"] in rows


def test_tshark_statistics(engine: dict[str, str]) -> None:
    for z, title in (("io,phs", "Protocol Hierarchy Statistics"), ("endpoints,ip", "IPv4 Endpoints")):
        c = Container(engine, "sflow/tshark", ["-q", "-z", z, "-c", "100"])
        try:
            c.wait_listening()
            c.send(traffic(20))  # 100 packets: tshark -c 100 then ends the container
            assert c.wait() == 0
            out, _ = c.logs()
        finally:
            c.remove()
        assert title in out
        assert "10.1.1.1" in out if z.startswith("endpoints") else "frames:100" in out.replace(" ", "")


def test_tshark_json_and_ek(engine: dict[str, str], tmp_path: Path) -> None:
    out, _, rc, _ = run_image(engine, "sflow/tshark", ["-T", "json"], traffic(1))
    assert rc == 0 and len(json.loads(out)) == 5
    out, _, rc, _ = run_image(engine, "sflow/tshark", ["-T", "ek"], traffic(1))
    docs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert rc == 0 and sum("layers" in d for d in docs) == 5
    # the blog's blocklist script on the EK stream
    (tmp_path / "list").write_text("# test list\n10.4.4.0/24\n")
    script = subprocess.run([sys.executable, str(SCRIPTS / "tshark.py"), str(tmp_path / "list")], input=out,
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert script.stdout.splitlines() == ["MATCH 10.1.1.1 -> 10.4.4.4"]


def test_sflowtool_images(engine: dict[str, str], tmp_path: Path) -> None:
    def run(args: list[str]) -> str:
        c = Container(engine, "sflow/sflowtool", args)
        try:
            deadline = time.monotonic() + 30
            while not c.logs()[0]:  # sflowtool says nothing until a datagram arrives
                assert time.monotonic() < deadline, c.logs()
                c.send(traffic(1, counters=True)[:1])
                time.sleep(0.5)
            c.send([datagram(2, FRAMES, counters=True)])
            time.sleep(0.5)
            assert c.stop() < 2.0
            assert c.exit_code() == 0
            return c.logs()[0]
        finally:
            c.remove()

    text = run([])
    assert "datagramSourceIP" in text and "agent 192.0.2.7" in text and "TCPFlags 2" in text
    grep = run(["-g"])
    lines = [line for line in grep.splitlines() if "ifInOctets" in line]
    assert lines and lines[-1].endswith(" 192.0.2.7 0 2 0:5 0:2 0:1 ifInOctets 2000000")
    csv = run(["-L", "agent,ifIndex,ifInOctets"])
    assert "192.0.2.7,5,2000000" in csv.splitlines()
    pretty = run(["-J"])
    assert '\n "agent":"192.0.2.7",' in pretty
    compact = run(["-j"])
    docs = [json.loads(line) for line in compact.splitlines() if line.strip()]
    assert docs and docs[-1]["samples"][-1]["elements"][0]["ifInOctets"] == "2000000"
    (tmp_path / "list").write_text("10.2.2.2\n")
    script = subprocess.run([sys.executable, str(SCRIPTS / "emerging.py"), str(tmp_path / "list")], input=compact,
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert "MATCH 10.1.1.1 -> 10.2.2.2" in script.stdout


def test_images_refuse_what_cannot_work_on_a_pipe(engine: dict[str, str]) -> None:
    c = Container(engine, "sflow/tshark", ["-b", "filesize:1000"])
    try:
        assert c.wait() == 2
        assert "ring buffer" in c.logs()[1]
    finally:
        c.remove()


def test_image_labels_user_ports_and_healthcheck(engine: dict[str, str]) -> None:
    for name in ("tcpdump", "tshark", "sflowtool"):
        r = subprocess.run([CLI, "image", "inspect", f"sflow/{name}"], env=engine, capture_output=True, text=True,
                           timeout=60)  # fmt: skip
        info = json.loads(r.stdout)[0]
        cfg = info.get("Config") or info.get("ContainerConfig")
        assert cfg["User"] in ("", "root")  # the entrypoint starts as root only to give it up
        assert "6343/udp" in cfg["ExposedPorts"]
        assert cfg["Labels"]["org.opencontainers.image.title"]
        health = cfg.get("Healthcheck")
        if health is None and shutil.which("podman"):  # Podman's Docker API leaves it out of the inspect output
            r = subprocess.run(["podman", "image", "inspect", f"sflow/{name}", "--format", "{{json .HealthCheck}}"],
                               env=engine, capture_output=True, text=True, timeout=60)  # fmt: skip
            health = json.loads(r.stdout)
        assert health["Test"] == ["CMD", "python3", "-m", "bridge.cli.health"]
    # and the check itself answers for a running bridge
    c = Container(engine, "sflow/tcpdump", [])
    try:
        c.wait_listening()
        r = subprocess.run([CLI, "exec", c.id, "python3", "-m", "bridge.cli.health"], env=engine, capture_output=True,
                           timeout=60)  # fmt: skip
        assert r.returncode == 0
        # and nothing in it kept root: every process of the container runs as the image's user
        r = subprocess.run([CLI, "exec", c.id, "python3", "-c", PROCESSES], env=engine, capture_output=True, text=True,
                           timeout=60)  # fmt: skip
        seen = dict(line.rsplit(" ", 1) for line in r.stdout.splitlines())
        assert set(seen.values()) == {"1000"} and "tcpdump" in seen, r.stdout
    finally:
        c.remove()


# runs inside a container: the command and user of every process but this one and the exec that started it
PROCESSES = """
import os
mine = {os.getpid(), os.getppid()}
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) not in mine:
        uid = [line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("Uid:")][0]
        print(open(f"/proc/{pid}/comm").read().strip(), uid)
"""


def test_the_http_api_is_published_on_8008(engine: dict[str, str]) -> None:
    import urllib.request

    c = Container(engine, "sflow/tcpdump", ["-n"], api=True)
    try:
        c.wait_listening()
        c.send(traffic(2))
        time.sleep(1.0)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{c.api_port}/agents/json", timeout=5) as r:
                    agents = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline, c.logs()
                time.sleep(0.5)
        assert agents["192.0.2.7"]["datagrams"] == 2
    finally:
        c.stop()
        c.remove()


# runs inside the container: a collector on the container's own loopback, which the forwarding session targets
RECEIVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 7343))
s.settimeout(20)
print("ready", flush=True)
for _ in range(int(sys.argv[1])):
    print(s.recv(65536).hex(), flush=True)
"""


def put_session(port: int, token: str | None) -> tuple[int, dict[str, object]]:
    import urllib.error
    import urllib.request

    body = json.dumps({"address": "127.0.0.1", "port": 7343}).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/forwarding/collector/json", data=body, method="PUT",
                                 headers=headers)  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_tcpdump_image_forwards_while_it_captures(engine: dict[str, str]) -> None:
    import urllib.request

    sent = traffic(3)
    c = Container(engine, "sflow/tcpdump", ["-n"], api=True, environment={"SFLOW_BRIDGE_API_TOKEN": "s3cret"})
    try:
        c.wait_listening()
        assert "changes and capture streams need the token" in c.logs()[1]  # the mode, said at start
        rx = subprocess.Popen([CLI, "exec", c.id, "python3", "-c", RECEIVER, str(len(sent))], env=engine,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert rx.stdout is not None and rx.stdout.readline().strip() == "ready", rx.stderr
        assert put_session(c.api_port, None)[0] == 401
        code, session = put_session(c.api_port, "s3cret")
        assert code == 201 and "this container's own loopback" in str(session["warning"]), session
        c.send(sent)
        out, err = rx.communicate(timeout=60)
        assert [bytes.fromhex(line) for line in out.split()] == sent, err  # unchanged, in order
        with urllib.request.urlopen(f"http://127.0.0.1:{c.api_port}/forwarding/collector/json", timeout=10) as r:
            session = json.loads(r.read())
        assert session["forwarded"] == len(sent) and session["dropped"] == 0, session
        assert "warning" in session
        time.sleep(1.0)
        c.stop()
        tcpdump_out = c.logs()[0]
        assert len(tcpdump_out.splitlines()) == len(sent) * len(FRAMES)  # and the capture went on whole
    finally:
        c.remove()


def test_without_a_token_the_published_api_is_in_protected_mode(engine: dict[str, str]) -> None:
    c = Container(engine, "sflow/tcpdump", ["-n"], api=True)
    try:
        c.wait_listening()
        assert "protected mode" in c.logs()[1]
        code, answer = put_session(c.api_port, None)  # from the host: beyond the container's loopback
        assert code == 403 and "-e SFLOW_BRIDGE_API_TOKEN=" in str(answer["error"]), answer
    finally:
        c.remove()


def test_a_bad_capture_filter_fails_the_tshark_image(engine: dict[str, str]) -> None:
    c = Container(engine, "sflow/tshark", ["-f", "bogus filter"])
    try:
        assert c.wait() == 2
        err = c.logs()[1]
        assert "bad capture filter 'bogus filter'" in err and len(err.splitlines()) == 1, err
    finally:
        c.remove()


def test_the_images_run_the_compiled_decoder(engine: dict[str, str]) -> None:
    # built in the image's build stage (PyPI's mypyc, or Debian's); only the compiled modules are kept
    for name in ("tcpdump", "tshark", "sflowtool"):
        r = subprocess.run([CLI, "run", "--rm", "--entrypoint", "python3", f"sflow/{name}", "-c",
                            "import bridge, shutil; print(bridge.compiled(), shutil.which('gcc'), "
                            "open('/opt/sflow-bridge/bridge/NATIVE-BUILD').read())"],
                           env=engine, capture_output=True, text=True, timeout=120)  # fmt: skip
        words = r.stdout.split()
        assert words[:2] == ["True", "None"], r.stderr
        assert words[2:5] == ["compiled", "by", "mypyc"] and words[5][0].isdigit(), r.stdout


# runs inside the container before the entrypoint: a name server on its loopback that never answers
SILENT_DNS = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 53)); " \
             "print('dns ready', flush=True); [s.recv(512) for _ in iter(int, 1)]"  # fmt: skip


def test_a_resolver_that_never_answers_cannot_hold_a_stop(engine: dict[str, str]) -> None:
    # tcpdump without -n looks up every new address; each lookup is bounded to a second (RES_OPTIONS)
    port = free_port()
    start = f'python3 -c "{SILENT_DNS}" & exec python3 -m bridge.cli.launch tcpdump'
    cmd = [CLI, "run", "-d", "-p", f"{port}:6343/udp", "--dns", "127.0.0.1", "--entrypoint", "sh", "sflow/tcpdump"]
    run = subprocess.run([*cmd, "-c", start], env=engine, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip().splitlines()[-1]
    try:
        deadline = time.monotonic() + 30
        while "listening for sFlow" not in (logs := subprocess.run([CLI, "logs", cid], env=engine,
                                                                   capture_output=True, text=True)).stderr:  # fmt: skip
            assert time.monotonic() < deadline, logs
            time.sleep(0.2)
        send(("127.0.0.1", port), traffic(1))  # 5 packets, 8 addresses to look up
        time.sleep(0.5)
        subprocess.run([CLI, "stop", "-t", "10", cid], env=engine, capture_output=True, timeout=60)
        r = subprocess.run([CLI, "inspect", "-f", "{{.State.ExitCode}}", cid], env=engine, capture_output=True,
                           text=True, timeout=30)  # fmt: skip
        out = subprocess.run([CLI, "logs", cid], env=engine, capture_output=True, text=True, timeout=60).stdout
        assert r.stdout.strip() == "0", (r.stdout, out)  # not 137: tcpdump finished its lookups and its lines
        assert len([line for line in out.splitlines() if " IP" in line]) == len(FRAMES), out
    finally:
        subprocess.run([CLI, "rm", "-f", cid], env=engine, capture_output=True, timeout=60)


def test_ctrl_c_in_a_terminal_ends_the_container_as_a_stop_does(engine: dict[str, str]) -> None:
    # `docker run -it ... sflow/tcpdump`, ^C typed in its terminal: every line printed, the summary, exit 0
    import pty

    port = free_port()
    name = f"sflow-ctrl-c-{os.getpid()}"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the engine's client in a real terminal, as a person runs it
        try:
            args = ["run", "-it", "--rm", "--name", name, "-p", f"{port}:6343/udp", "sflow/tcpdump", "-n"]
            os.execvpe(CLI, [CLI, *args], engine)
        finally:
            os._exit(127)
    try:
        screen = read_until(fd, b"listening for sFlow", 60)
        assert b"listening for sFlow" in screen, screen
        send(("127.0.0.1", port), traffic(1))
        screen += read_until(fd, b"ICMP echo request", 30)
        assert b"ICMP echo request" in screen, screen
        os.write(fd, b"\x03")
        screen += read_until(fd, b"\0never", 30)  # until the terminal closes, within 30 s
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:  # the test failed: a container whose terminal is gone must not be left running
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            subprocess.run([CLI, "rm", "-f", name], env=engine, capture_output=True, timeout=60)
        os.close(fd)
    text = screen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Interrupted system call" not in text
    assert len([line for line in text.splitlines() if " IP" in line]) == len(FRAMES), text
    assert "sflow-bridge: 1 datagrams" in text, text
