"""A Slack Web API on loopback: records every call, answers like Slack, and can be told to fail.

Like real Slack, its JSON escapes every `/` as `\\/`, and views.open / views.update / views.push /
views.publish answer with the whole view they were given (with an id and a hash): the leaks that
happen against real Slack (a response body logged at DEBUG) happen here too.

File uploads take Slack's three steps, as `files_upload_v2` makes them: files.getUploadURLExternal (a filename
and the length in bytes: a new file id and its own upload URL), a POST of the bytes to that URL, and
files.completeUploadExternal, which shares only files that were uploaded (`files` holds them, bytes and all).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.block_kit import refusal

UPLOAD_PATH = "/upload/v1/"


@dataclass
class Call:
    method: str  # Web API method, or "response_url"
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    raw: str = ""


@dataclass
class UploadedFile:
    """A file as the three upload steps left it."""

    file_id: str
    filename: str
    length: int  # as files.getUploadURLExternal was told
    data: bytes | None = None  # what was POSTed to the upload URL
    title: str | None = None
    channel: str | None = None  # where files.completeUploadExternal shared it
    thread_ts: str | None = None
    comment: str | None = None


@dataclass
class Fault:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, list[str]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.attempts: dict[str, int] = {}
        self.socket_mode_url: str | None = None  # what apps.connections.open hands out (a ws:// test server)
        self.refused_tokens: set[str] = set()  # every method answers these invalid_auth, as Slack does
        self.channels: dict[str, dict[str, Any]] = {}
        self.files: dict[str, UploadedFile] = {}  # by file id, in the order they were asked for
        # Calls Slack would refuse for their Block Kit (answered invalid_blocks / invalid_arguments): the `slack`
        # fixture fails a test that leaves any; a test that sends bad Block Kit on purpose clears the list.
        self.block_kit_refusals: list[tuple[str, str]] = []
        # conversations.info of a channel not added: permissive by default (a channel the bot is in), or with
        # `known_channels_only` channel_not_found, as Slack answers for a wrong id or a private channel without the bot
        self.known_channels_only = False
        self._ts = itertools.count(1)
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if urlparse(self.path).path.startswith(UPLOAD_PATH):
                    fake._upload(self, data)
                    return
                fake._handle(self, data.decode())

            def do_GET(self) -> None:
                fake._handle(self, urlparse(self.path).query)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # Lifecycle
    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"{self.url}respond/{name}"

    # Set-up
    def add_user(
        self, user_id: str, email: str | None = None, name: str | None = None, guest: str | None = None
    ) -> None:
        """A member, or with `guest` a multi-channel ("multi") or single-channel ("single") guest, flagged as
        users.info flags them: is_restricted for both, is_ultra_restricted for single-channel guests."""
        self.users[user_id] = {
            "id": user_id,
            "name": name or user_id.lower(),
            "real_name": name or user_id,
            "is_restricted": guest in ("multi", "single"),
            "is_ultra_restricted": guest == "single",
            "profile": {"email": email} if email else {},
        }

    def add_channel(
        self, channel_id: str, name: str | None = None, *, member: bool = True, archived: bool = False
    ) -> None:
        """A channel as conversations.info describes it: whether the bot is a member, whether it is archived."""
        self.channels[channel_id] = _channel(channel_id, name, member=member, archived=archived)

    def fail(self, method: str, *faults: Fault) -> None:
        """The next calls of `method` get these answers, in order, before normal service resumes."""
        self.faults.setdefault(method, []).extend(faults)

    # Inspection
    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def posts_to(self, channel: str, *, in_thread: bool = False) -> list[Call]:
        """chat.postMessage calls to a channel: top-level messages, or thread replies."""
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if c.params.get("channel") == channel and bool(c.params.get("thread_ts")) == in_thread
        ]

    def wait_posts(self, channel: str, count: int = 1, timeout: float = 15) -> list[Call]:
        return self.wait_for(lambda _: (posts := self.posts_to(channel))[count - 1 :] and posts, timeout)

    def wait_for(self, predicate: Callable[[list[Call]], Any], timeout: float = 15) -> Any:
        """Block until predicate(calls) is truthy (work after the ack runs in threads)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate(list(self.calls))
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    methods = [c.method for c in self.calls]
                    raise AssertionError(f"timed out waiting; calls so far: {methods}")
                self._cond.wait(min(left, 0.05))  # predicates may read more than calls (the database)

    def wait_calls(self, method: str, count: int = 1, timeout: float = 15) -> list[Call]:
        return self.wait_for(lambda calls: (m := [c for c in calls if c.method == method])[count - 1 :] and m, timeout)

    def shared_files(self, channel: str | None = None) -> list[UploadedFile]:
        """Files completed and shared (in a channel, or anywhere)."""
        with self._cond:
            return [f for f in self.files.values() if f.channel and (channel is None or f.channel == channel)]

    def all_text(self) -> str:
        with self._cond:
            return "\n".join(c.raw for c in self.calls)

    # Serving
    def _handle(self, handler: BaseHTTPRequestHandler, raw: str) -> None:
        path = urlparse(handler.path).path
        if path.startswith("/api/"):
            method = path[len("/api/") :]
        elif path.startswith("/respond/"):
            method = "response_url"
        else:
            method = path
        params = _parse_body(handler.headers.get("Content-Type", ""), raw)
        call = Call(method, path, params, dict(handler.headers.items()), raw)
        with self._cond:
            self.attempts[method] = self.attempts.get(method, 0) + 1
            queue = self.faults.get(method)
            fault = queue.pop(0) if queue else None
            if fault is None:
                self.calls.append(call)
        if fault is not None:
            self._reply(handler, fault.status, fault.body or {"ok": False, "error": "fault"}, fault.headers)
            return
        token = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
        refused = method != "response_url" and token in self.refused_tokens
        bad_blocks = None if refused else refusal(method, params)
        if bad_blocks is not None:
            with self._cond:
                self.block_kit_refusals.append((method, bad_blocks["response_metadata"]["messages"][0]))
        body = {"ok": False, "error": "invalid_auth"} if refused else bad_blocks or self._answer(method, params)
        self._reply(handler, 200, body, {})
        with self._cond:
            self._cond.notify_all()

    def _reply(
        self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        payload = json.dumps(body).replace("/", "\\/").encode()  # as Slack writes JSON
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(payload)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "keywarden",
                "team_id": "T1",
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "is_enterprise_install": False,
            }
        if method == "conversations.info":
            channel_id = params.get("channel", "")
            channel = self.channels.get(channel_id)
            if channel is None and not self.known_channels_only and channel_id[:1] in ("C", "G"):
                channel = _channel(channel_id, None)
            return {"ok": True, "channel": channel} if channel else {"ok": False, "error": "channel_not_found"}
        if method == "users.info":
            user = self.users.get(params.get("user", ""))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "users.lookupByEmail":
            email = (params.get("email") or "").lower()
            for user in self.users.values():
                if user["profile"].get("email", "").lower() == email:
                    return {"ok": True, "user": user}
            return {"ok": False, "error": "users_not_found"}
        if method == "usergroups.list":
            return {"ok": True, "usergroups": [{"id": g, "handle": g.lower()} for g in self.groups]}
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.groups.get(params.get("usergroup", ""), [])}
        if method == "conversations.open":
            users = params.get("users", "")
            return {"ok": True, "channel": {"id": "D" + users.replace(",", "")}}
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            ts = f"{1700000000 + next(self._ts)}.000100"
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts") or ts}
        if method == "chat.getPermalink":
            channel, ts = params.get("channel", ""), str(params.get("message_ts", ""))
            return {
                "ok": True,
                "channel": channel,
                "permalink": f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}",
            }
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            return {"ok": True, "view": self._view(params)}
        if method == "files.getUploadURLExternal":
            return self._upload_url(params)
        if method == "apps.connections.open":
            if self.socket_mode_url is None:
                return {"ok": False, "error": "not_allowed_token_type"}
            return {"ok": True, "url": self.socket_mode_url}
        if method == "files.completeUploadExternal":
            return self._complete_upload(params)
        return {"ok": True}

    def _upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        length = str(params.get("length", ""))
        if not params.get("filename") or not length.isdigit() or int(length) < 1:
            return {"ok": False, "error": "invalid_arguments"}
        with self._cond:
            file_id = f"F{len(self.files) + 1:08d}"
            self.files[file_id] = UploadedFile(file_id, str(params["filename"]), int(length))
        return {"ok": True, "upload_url": f"{self.url}{UPLOAD_PATH.lstrip('/')}{file_id}", "file_id": file_id}

    def _upload(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        """The upload URL: the file's bytes, as a raw body (files_upload_v2 sends them so) or one multipart part."""
        file_id = urlparse(handler.path).path[len(UPLOAD_PATH) :]
        content_type = handler.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            data = _first_part(data)
        with self._cond:
            self.calls.append(
                Call(
                    "upload",
                    handler.path,
                    {"file_id": file_id},
                    dict(handler.headers.items()),
                    data.decode(errors="replace"),
                )
            )
            known = self.files.get(file_id)
            if known is not None and known.data is None:
                known.data = data
            self._cond.notify_all()
        status, body = (200, f"OK - {len(data)}".encode()) if known is not None else (404, b"file not found")
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = (
                json.loads(params.get("files") or "[]") if isinstance(params.get("files"), str) else params["files"]
            )
        except (json.JSONDecodeError, KeyError):
            return {"ok": False, "error": "invalid_arguments"}
        with self._cond:
            found = [(self.files.get(str(f.get("id"))), f) for f in wanted if isinstance(f, dict)]
            if not found or any(known is None or known.data is None for known, _ in found):
                return {"ok": False, "error": "file_not_found"}  # never asked for, or never uploaded
            shared = []
            for known, asked in found:
                assert known is not None and known.data is not None
                known.title = asked.get("title") or known.filename
                known.channel = params.get("channel_id") or params.get("channels")
                known.thread_ts, known.comment = params.get("thread_ts"), params.get("initial_comment")
                shared.append(
                    {"id": known.file_id, "name": known.filename, "title": known.title, "size": len(known.data)}
                )
        return {"ok": True, "files": shared}

    def _view(self, params: dict[str, Any]) -> dict[str, Any]:
        """The view as Slack echoes it back: everything it was given, plus its id, hash and state."""
        view = params.get("view") or {}
        if isinstance(view, str):  # form-encoded calls send the view as a JSON string
            try:
                view = json.loads(view)
            except json.JSONDecodeError:
                view = {}
        view_id = params.get("view_id") or "V" + str(next(self._ts))
        return {
            "id": view_id,
            "team_id": "T1",
            "app_id": "A1",
            "bot_id": "BBOT",
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            **view,
            "hash": f"{next(self._ts)}.h",
            "root_view_id": view_id,
            "previous_view_id": None,
        }


def _channel(channel_id: str, name: str | None, *, member: bool = True, archived: bool = False) -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": name or channel_id.lower(),
        "is_channel": True,
        "is_private": channel_id.startswith("G"),
        "is_archived": archived,
        "is_member": member,
        "created": 1700000000,
    }


def _first_part(body: bytes) -> bytes:
    """The content of the first part of a multipart/form-data body."""
    boundary = body.split(b"\r\n", 1)[0]
    part = body.split(boundary)[1] if boundary else body
    return part.split(b"\r\n\r\n", 1)[-1].removesuffix(b"\r\n")


def _parse_body(content_type: str, raw: str) -> dict[str, Any]:
    if "json" in content_type:
        try:
            return json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return {}
    return {k: v[0] for k, v in parse_qs(raw).items()}
