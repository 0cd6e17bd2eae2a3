"""The HTTP/1.1 server under the bridge's API: h11 frames every message, this module bounds every client.

Rules, each against a way of holding the API hostage:
- HTTP framing is h11's (a sans-I/O protocol core): no hand-written parsing of heads or bodies.
- Request bodies have a Content-Length of at most ``MAX_BODY``; ``Transfer-Encoding`` bodies are
  refused (411) and the connection closed, so no body can be read as a second request.
- A request head is at most ``MAX_HEAD`` bytes (431) and, with its body, must arrive within
  ``REQUEST_SECONDS`` of the server starting to wait for it (slowloris); an idle keep-alive
  connection is closed after the same time.
- At most ``MAX_CONNECTIONS`` connections, each with a thread. When all are taken, a new client
  takes the place of the connection that has waited longest for its request (an idle or slow
  one), so that a legitimate client is served while idle ones are cut; only when every
  connection is busy answering does a new one get 503.
- A reply is written within ``SEND_SECONDS`` or the connection is dropped: a client that stops
  reading holds its thread no longer than that.
- A client that goes away is the client's business: nothing is printed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus

import h11

MAX_CONNECTIONS = 64
MAX_HEAD = 16384  # bytes of request line and headers
MAX_BODY = 65536
REQUEST_SECONDS = 5.0
SEND_SECONDS = 10.0

_BUSY = json.dumps({"error": f"at most {MAX_CONNECTIONS} connections at once, all busy"}).encode()
_BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY), _BUSY))  # fmt: skip

_WAITING, _ANSWERING = 0, 1


class ClientGone(Exception):
    """The client closed the connection, stopped reading, or was cut."""


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    client: str  # the peer's address, an IPv4-mapped IPv6 address shown as IPv4
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


@dataclass
class _Slot:
    sock: socket.socket
    phase: int = _WAITING
    since: float = field(default_factory=time.monotonic)
    cut: bool = False


class Exchange:
    """One request's way back to its client."""

    def __init__(self, conn: h11.Connection, slot: _Slot) -> None:
        self._conn = conn
        self._slot = slot
        self.close_after = False
        self.head = False

    def reply(self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        head = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        head += list((headers or {}).items())
        if self.close_after:
            head.append(("Connection", "close"))
        self._send(h11.Response(status_code=code, headers=head, reason=_reason(code)))
        if body and not self.head:  # a reply to HEAD has the headers only
            self._send(h11.Data(data=body))
        self._send(h11.EndOfMessage())

    def stream(self, code: int, headers: dict[str, str], chunks: Iterable[bytes]) -> None:
        """A body of unknown length (chunked), written as ``chunks`` yields; the connection closes after it."""
        self.close_after = True
        self._send(h11.Response(status_code=code, headers=[*headers.items(), ("Connection", "close")],
                                reason=_reason(code)))  # fmt: skip
        for chunk in chunks:
            if chunk:
                self._send(h11.Data(data=chunk))
        self._send(h11.EndOfMessage())

    def streaming(self) -> None:
        """This exchange holds its connection for a long time: never cut it for a newcomer."""
        self._slot.phase = _ANSWERING

    def peer_gone(self) -> bool:
        """Has a client that sends nothing more closed its end? (Readable means EOF or junk.)"""
        sock = self._slot.sock
        try:
            sock.setblocking(False)
            try:
                return sock.recv(1, socket.MSG_PEEK) == b""
            finally:
                sock.settimeout(SEND_SECONDS)
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _send(self, event: h11.Event) -> None:
        data = self._conn.send(event)
        if data:
            try:
                self._slot.sock.sendall(data)
            except OSError as exc:  # closed, reset or too slow to read (SEND_SECONDS)
                raise ClientGone from exc


Handler = Callable[[Request, Exchange], None]
# decides before the body is read (None: go on), so that an unauthorised client cannot make the server read it
Gate = Callable[[Request, Exchange], bool]


def json_error(ex: Exchange, code: int, message: str, headers: dict[str, str] | None = None) -> None:
    ex.reply(code, (json.dumps({"error": message}) + "\n").encode(), "application/json", headers)


class HttpServer:
    def __init__(self, host: str, port: int, handler: Handler, gate: Gate) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((host, port))
            self.listener.listen(128)
        except OSError:
            self.listener.close()
            raise
        self.handler = handler
        self.gate = gate
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, name="sflow-bridge-api", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.listener.close()
        self._thread.join(2)
        with self._lock:
            for slot in self._slots:
                _cut(slot)

    @property
    def connections(self) -> int:
        return len(self._slots)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                if self._stopping:
                    return
                time.sleep(0.01)  # EMFILE and friends: let the others finish rather than spin
                continue
            slot = _Slot(sock)
            with self._lock:
                if len(self._slots) >= MAX_CONNECTIONS:
                    waiting = [s for s in self._slots if s.phase == _WAITING]
                    if not waiting:
                        _refuse(sock)
                        continue
                    victim = min(waiting, key=lambda s: s.since)
                    self._slots.remove(victim)
                    _cut(victim)
                self._slots.append(slot)
            threading.Thread(target=self._serve, args=(slot,), name="sflow-bridge-api-client", daemon=True).start()

    def _serve(self, slot: _Slot) -> None:
        sock = slot.sock
        try:
            peer = sock.getpeername()[0]
            client = _plain(peer)
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
            while not slot.cut:
                slot.phase, slot.since = _WAITING, time.monotonic()
                if not self._one(conn, slot, client):
                    break
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                else:
                    break
        except (ClientGone, OSError):
            pass
        finally:
            with self._lock:
                if slot in self._slots:
                    self._slots.remove(slot)
            with contextlib.suppress(OSError):
                sock.close()

    def _one(self, conn: h11.Connection, slot: _Slot, client: str) -> bool:
        """Reads and answers one request; False when the connection must close."""
        deadline = slot.since + REQUEST_SECONDS
        ex = Exchange(conn, slot)
        try:
            event = _next(conn, slot.sock, deadline)
            if isinstance(event, h11.ConnectionClosed) or event is None:
                return False
            assert isinstance(event, h11.Request)
            slot.phase = _ANSWERING
            target = event.target.decode("latin-1")
            path, _, query = target.partition("?")
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            req = Request(event.method.decode("latin-1"), path, query, headers, client)
            ex.head = req.method == "HEAD"
            if "transfer-encoding" in headers:
                ex.close_after = True
                json_error(ex, 411, "request bodies must have a Content-Length (Transfer-Encoding is not accepted)")
                return False
            length = int(headers.get("content-length") or 0)  # h11 has checked it is a number
            ex.close_after = length > 0  # refused before its body is read: the body must not be read as a request
            if not self.gate(req, ex):
                return not ex.close_after
            ex.close_after = False
            if length > MAX_BODY:
                ex.close_after = True
                json_error(ex, 413, f"the body may hold at most {MAX_BODY} bytes")
                return False
            if conn.they_are_waiting_for_100_continue:
                ex._send(h11.InformationalResponse(status_code=100, headers=[]))
            body = []
            while True:
                slot.phase = _WAITING  # a slow body is as idle as a slow head
                part = _next(conn, slot.sock, deadline, 65536)
                slot.phase = _ANSWERING
                if isinstance(part, h11.Data):
                    body.append(bytes(part.data))
                elif isinstance(part, h11.EndOfMessage):
                    break
                else:
                    return False  # closed, or the deadline passed mid-body
            req.body = b"".join(body)
            self.handler(req, ex)
            return not ex.close_after
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                ex.close_after = True
                json_error(ex, exc.error_status_hint, f"bad HTTP request: {exc}")
            return False
        except _Late:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE) and conn.their_state is not h11.IDLE:
                ex.close_after = True
                json_error(ex, 408, f"the request did not arrive within {REQUEST_SECONDS:g} s")
            return False


class _Late(Exception):
    pass


def _next(conn: h11.Connection, sock: socket.socket, deadline: float, size: int = 4096) -> h11.Event | None:
    """h11's next event, reading from ``sock`` as it needs, until ``deadline``.

    Small reads for a head: h11 checks its size limit between reads, so a head passes it by one read at most.
    """
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event  # type: ignore[return-value]
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Late
        sock.settimeout(left)
        try:
            data = sock.recv(size)
        except TimeoutError:
            raise _Late from None
        except OSError:
            return None
        finally:
            sock.settimeout(SEND_SECONDS)
        conn.receive_data(data)  # b"" is the end of the stream, which h11 turns into ConnectionClosed


def _reason(code: int) -> bytes:
    try:
        return HTTPStatus(code).phrase.encode()
    except ValueError:
        return b""


def _cut(slot: _Slot) -> None:
    slot.cut = True
    with contextlib.suppress(OSError):
        slot.sock.shutdown(socket.SHUT_RDWR)  # its thread's recv() or send() returns at once


def _refuse(sock: socket.socket) -> None:
    try:  # from the accepting thread: never wait on this client
        sock.setblocking(False)
        sock.send(_BUSY_RESPONSE)
    except OSError:
        pass
    sock.close()


def _plain(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
