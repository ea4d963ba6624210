"""Slack's Socket Mode on loopback: a small WebSocket server (RFC 6455, text frames, ping/pong, close).

The bot gets its `ws://127.0.0.1:…` URL from the fake Slack's `apps.connections.open`, connects, and
receives envelopes the test sends; every acknowledgement it sends back is recorded by envelope id.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class SocketModeServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._conn: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self.acks: dict[str, dict[str, Any]] = {}
        self.connections = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket=test"

    def start(self) -> SocketModeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self._listener.close()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._frame(0x8, b"")
            self._conn.close()

    # The test's side
    def wait_connected(self, timeout: float = 60) -> None:
        self._wait(lambda: self.connections > 0, timeout, "the bot never connected")

    def send(self, envelope: dict[str, Any]) -> None:
        self._frame(0x1, json.dumps(envelope).encode())

    def wait_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        self._wait(lambda: envelope_id in self.acks, timeout, f"no acknowledgement of {envelope_id}")
        return self.acks[envelope_id]

    def _wait(self, predicate: Any, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, message
                self._cond.wait(left)

    # The server's side
    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._handshake(conn)
            self._conn = conn
            with self._cond:
                self.connections += 1
                self._cond.notify_all()
            self.send({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}})
            self._read(conn)

    def _handshake(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(1024)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            request += chunk
        headers = dict(line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line)
        key = headers["Sec-WebSocket-Key"].strip()
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        conn.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )

    def _frame(self, opcode: int, payload: bytes) -> None:
        """A server frame: final, unmasked."""
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        assert self._conn is not None
        with self._send_lock:
            self._conn.sendall(header + payload)

    def _read(self, conn: socket.socket) -> None:
        buffer = b""

        def take(n: int) -> bytes:
            nonlocal buffer
            while len(buffer) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    raise ConnectionError
                buffer += chunk
            data, buffer = buffer[:n], buffer[n:]
            return data

        message = b""
        try:
            while True:
                first, second = take(2)
                opcode, size = first & 0x0F, second & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", take(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", take(8))
                mask = take(4) if second & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(take(size)))
                if opcode == 0x9:  # ping
                    self._frame(0xA, data)
                elif opcode == 0x8:  # close
                    return
                elif opcode in (0x0, 0x1):
                    message += data
                    if first & 0x80:
                        envelope = json.loads(message)
                        message = b""
                        with self._cond:
                            self.acks[envelope["envelope_id"]] = envelope
                            self._cond.notify_all()
        except (ConnectionError, OSError):
            return
