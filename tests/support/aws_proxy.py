"""A loopback proxy in front of moto's server: counts AWS API calls by action, and can run a hook
after an action reached AWS but before its answer goes back (to kill the caller at that moment),
lose that answer (close the connection without one, as a network failure would), or hold an action's
calls until the test lets them through (AWS being slow)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class AwsProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: Counter[str] = Counter()
        self.after: dict[str, Callable[[], None]] = {}  # action -> hook run before answering
        self.lose: Counter[str] = Counter()  # action -> how many of its next answers are lost
        self.hold: dict[str, threading.Event] = {}  # action -> calls wait for the event before reaching AWS
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = _action(self.headers.get("X-Amz-Target", ""), body)
                with proxy._lock:
                    proxy.calls[action] += 1
                    hook = proxy.after.pop(action, None)
                    lost = proxy.lose[action] > 0
                    if lost:
                        proxy.lose[action] -= 1
                gate = proxy.hold.get(action)
                if gate is not None:
                    gate.wait(timeout=60)  # AWS is slow: the caller's thread waits here
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
                request = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=30) as r:
                        status, payload, reply_headers = r.status, r.read(), r.headers
                except urllib.error.HTTPError as e:
                    status, payload, reply_headers = e.code, e.read(), e.headers
                if hook is not None:
                    hook()  # the call has reached AWS; the caller has not heard back
                if lost:  # AWS did it; the caller never hears so
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in reply_headers.items():
                    if k.lower() not in {"content-length", "transfer-encoding", "connection", "server", "date"}:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _action(target: str, body: bytes) -> str:
    if target:  # JSON protocols (Secrets Manager): X-Amz-Target: secretsmanager.CreateSecret
        return target.rsplit(".", 1)[-1]
    return parse_qs(body.decode(errors="replace")).get("Action", ["?"])[0]
