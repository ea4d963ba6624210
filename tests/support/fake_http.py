"""A JSON-over-HTTP fake service on loopback, the base of the fake GitHub, GitLab, Kubernetes API and Vault.

A subclass answers `handle(method, path, query, headers, body)` with (status, JSON body). Faults are set per test:
`fail(status, body)` answers the next requests whose path contains `where` with that status; `hang()` holds them
until the returned event is set (the client's timeout fires first), then drops the connection. Every request is
recorded (method, path, body), so a test can look for a secret in what travelled, or count calls.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any]


@dataclass
class Fault:
    where: str
    status: int | None  # None: hang until released
    body: Any
    times: int
    release: threading.Event


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeService:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # Faults
    def fail(self, status: int, body: Any = None, *, where: str = "", times: int = 1) -> None:
        with self._lock:
            self._faults.append(Fault(where, status, body if body is not None else {}, times, threading.Event()))

    def hang(self, *, where: str = "", times: int = 1) -> threading.Event:
        release = threading.Event()
        with self._lock:
            self._faults.append(Fault(where, None, None, times, release))
        return release

    def heal(self) -> None:
        with self._lock:
            for fault in self._faults:
                fault.release.set()
            self._faults.clear()

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.where in path and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # What a subclass answers
    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: Any) -> Answer:
        raise NotImplementedError

    # Serving
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                parts = urlsplit(self.path)
                service.requests.append(Seen(self.command, parts.path, headers, raw))
                fault = service._fault_for(parts.path)
                if fault is not None and fault.status is None:
                    fault.release.wait(10)
                    self.close_connection = True
                    return
                if fault is not None:
                    status, answer = fault.status, fault.body
                else:
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        status, answer = 400, {"message": "Problems parsing JSON"}
                    else:
                        with service._lock:
                            status, answer = service.handle(
                                self.command, parts.path, parse_qs(parts.query), headers, body
                            )
                data = b"" if status == 204 or answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815 (http.server's names)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.heal()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def traffic(self) -> str:
        """Everything that reached the service, as text (to look for a secret in it)."""
        return "\n".join(f"{s.method} {s.path} {s.headers} {s.body.decode(errors='replace')}" for s in self.requests)
