"""A Groq-compatible HTTP server for tests and benchmarks (aiohttp, own thread and loop).

Synchronous test code starts it, points a client (the official SDK, or the voicebot CLI
in a subprocess) at it, changes its behaviour while it runs (reply text, slow streams,
injected faults) and inspects what it received. All mutable state lives behind one lock
so the pytest thread and the server's event loop can both touch it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import audio, batches, chat, local, tts
from .link import Link
from .models import MODELS, GroqError, model_object
from .stt import UndecodableAudio, decode, recognise

TEST_API_KEY = "gsk_test_kYu7gxfhe4QMa7mJGVTj7EaF5xy2Zh0AnAcIrK6q"
TEST_STT_API_KEY = "stt_test_Wq3vN8rZp1LmX6cJ0bKd"  # a local speech server's key (tests of key routing)
API_ROOT = "/openai/v1"

BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    """A misbehaviour for the next `times` requests to `path` (e.g. "/chat/completions", "*").

    Before answering: wait `delay` seconds. Then either answer `status` with `headers`
    and `body` (dict = JSON, str = sent as is, None = Groq's error for that status),
    send an `empty` 200, an `invalid_json` 200, or drop the connection (`drop_after=0`).
    Streams (otherwise answered normally): drop the connection after `drop_after` chunks,
    stall `stall_seconds` after `stall_after` chunks, or after `error_after` chunks send an
    error frame in `error_style` "event" (event: error), "data" (data: {"error":...}) or
    "invalid_json", then end the stream without [DONE].
    """

    path: str = "*"
    times: int = 1
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | str | None = None
    delay: float = 0.0
    drop_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 0.0
    error_after: int | None = None
    error_style: str = "event"
    invalid_json: bool = False
    empty: bool = False
    hits: int = 0

    def matches(self, endpoint: str) -> bool:
        return self.times > self.hits and self.path in ("*", endpoint, API_ROOT + endpoint)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class AudioUpload:
    """What the server learnt about one uploaded audio file."""

    filename: str | None
    content_type: str | None
    size: int
    container: str | None = None
    subtype: str | None = None
    samplerate: int | None = None
    channels: int | None = None
    duration: float | None = None
    fixture: str | None = None
    score: float = 0.0
    coverage: float = 0.0


@dataclass
class RecordedRequest:
    """One API request as received (never the Authorization value) and how it ended."""

    seq: int
    method: str
    path: str  # full path, e.g. /openai/v1/chat/completions
    endpoint: str  # path below /openai/v1, e.g. /chat/completions
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names, authorization removed
    auth: str  # "ok", "missing" or "invalid"
    received_at: float
    body_at: float | None = None  # when the whole body was in (after the link's uplink time)
    answered_at: float | None = None  # when the answer's first byte went out (the first chunk for streams)
    form: dict[str, str | list[str]] | None = None
    json: Any = None
    audio: AudioUpload | None = None
    fault: Fault | None = None
    status: int | None = None
    error: Any = None  # the error body's error (Groq) or detail (local style)
    reply: str | None = None  # the assistant text (chat) or transcript (audio) answered
    chunks_sent: int = 0
    client_disconnected: bool = False
    completed: bool = False
    upload: batches.Upload | None = None  # a /files upload (without its bytes)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class _Bucket:
    """Leaky bucket behind the x-ratelimit-* headers (and automatic 429s)."""

    limit: int
    period: float  # seconds for a full bucket to drain
    level: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def drain(self, now: float) -> None:
        self.level = max(0.0, self.level - (now - self.stamp) * self.limit / self.period)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` more fits (0 when it fits now)."""
        excess = self.level + amount - self.limit
        return max(0.0, excess * self.period / self.limit)

    def reset_in(self) -> float:
        return self.level * self.period / self.limit


def format_duration(seconds: float) -> str:
    """Groq's reset format: 7.66s, 2m59.56s, 1h2m3s."""
    seconds = max(0.0, seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    out = (f"{int(h)}h" if h >= 1 else "") + (f"{int(m)}m" if m >= 1 or h >= 1 else "")
    return out + f"{round(s, 2):g}s"


def _status_error(status: int) -> dict[str, Any]:
    """Groq's JSON error for a bare injected status."""
    table = {
        400: ("Bad request", "invalid_request_error", None),
        401: ("Invalid API Key", "invalid_request_error", "invalid_api_key"),
        403: ("Forbidden", "permissions_error", None),
        404: ("Not found", "invalid_request_error", "not_found"),
        408: ("Request timed out", "invalid_request_error", "request_timeout"),
        413: ("Request Entity Too Large", "invalid_request_error", "request_too_large"),
        422: ("Unprocessable entity", "invalid_request_error", None),
        429: ("Rate limit reached for model `openai/gpt-oss-20b` in organization `org_fake` service tier "
              "`on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1. "
              "Please try again in 2s.", "requests", "rate_limit_exceeded"),
        498: ("Flex tier capacity exceeded. This is a known issue and the request should be retried.",
              "tokens", "flex_tier_capacity_exceeded"),
        500: ("Internal Server Error", "internal_server_error", "internal_server_error"),
        502: ("Bad Gateway", "internal_server_error", None),
        503: ("Service Unavailable", "internal_server_error", "service_unavailable"),
    }
    message, type_, code = table.get(status, (f"HTTP {status}", "internal_server_error", None))
    return GroqError(status, message, code=code, type_=type_).body()


class FakeGroq:
    """The server object tests hold: start/stop, behaviour knobs, recorded requests."""

    def __init__(self, api_key: str | None = TEST_API_KEY, host: str = "127.0.0.1", port: int = 0,
                 style: str = "groq", link: Link | None = None) -> None:
        """`style="local"` speaks like a local faster-whisper-server (see tests/fakegroq/local.py);
        `api_key=None` accepts requests without a key (and records any key sent as "unexpected");
        `link` simulates a network and service speed (benchmarks), None: loopback speed."""
        if style not in ("groq", "local"):
            raise ValueError(f"unknown style {style!r}")
        self.style = style
        self._api_key = api_key
        self._in_flight = 0
        self.link = link
        self._host, self._requested_port = host, port
        self.port: int | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self._reset_state()

    def __repr__(self) -> str:  # deliberately without the key
        return f"FakeGroq(host_url={self.host_url!r})" if self.port else "FakeGroq(not started)"

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def host_url(self) -> str:
        """What the official SDK takes as base_url (it appends /openai/v1 itself)."""
        return f"http://{self._host}:{self.port}"

    @property
    def root(self) -> str:
        """The API's path prefix: Groq's /openai/v1, or /v1 for the local style."""
        return API_ROOT if self.style == "groq" else local.LOCAL_ROOT

    @property
    def base_url(self) -> str:
        """The OpenAI-style root: what voicebot and other OpenAI-style clients take."""
        return self.host_url + self.root

    def start(self) -> FakeGroq:
        """Serve on an ephemeral port in a daemon thread; returns once it accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:  # report to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fakegroq", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    async def _start_site(self) -> None:
        self._decode_lock = asyncio.Lock()  # the local style decodes one request at a time
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/_fake/media/{name}", self._serve_media)
        app.router.add_route("*", "/_fake/{action}", self._admin)
        app.router.add_route("*", "/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        """Shut down the server and its thread (in-flight streams are cut)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with self._lock:
            self._generation += 1
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        self._loop = self._thread = None

    def __enter__(self) -> FakeGroq:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- behaviour knobs (thread-safe) ------------------------------------------------

    def _reset_state(self) -> None:
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._reply: str | None = None
        self._heard: list[str] = []  # set_heard: the words of the next recognised recordings
        self._reply_times: int | None = None
        self._chunk_delay = 0.0
        self._piece_chars: int | None = None
        self._decode_delay = 0.0
        self.peak_in_flight = 0  # most speech requests being handled at once (local style queues them)
        self._editor = "edit"
        self._terms_accepted = True
        self._tts_delay = self._tts_chunk_delay = 0.0
        self._generation = getattr(self, "_generation", 0) + 1
        self._buckets = {"requests": _Bucket(14_400, 86_400.0), "tokens": _Bucket(250_000, 60.0)}
        self._book = batches.BatchBook()
        self._media: dict[str, bytes] = {}

    def reset(self) -> None:
        """Forget requests, faults, replies, delays and rate-limit usage; stalled streams end."""
        with self._changed:
            self._reset_state()
            self._changed.notify_all()

    def set_reply(self, text: str | None, times: int | None = None) -> None:
        """Answer chat requests with `text` (the next `times` ones, or all); None restores defaults."""
        with self._lock:
            self._reply, self._reply_times = text, times

    def set_heard(self, *texts: str) -> None:
        """The next recognised recordings were these words, in order (then the fixtures' own again):
        a test's speech that no fixture holds, carried by a real recording that is still decoded
        and recognised (an unrecognised upload stays unknown speech and takes none of them)."""
        with self._lock:
            self._heard = list(texts)

    def _take_heard(self) -> str | None:
        with self._lock:
            return self._heard.pop(0) if self._heard else None

    def set_decode_delay(self, seconds: float) -> None:
        """Spend this long decoding each speech request (local style: one at a time, so they queue)."""
        with self._lock:
            self._decode_delay = max(0.0, seconds)
    def set_batch_pace(self, polls_per_state: int) -> None:
        """Batches (those running too) stay this many retrieves in each state (default 1)."""
        with self._lock:
            self._book.polls_per_state = max(1, polls_per_state)
            for batch in self._book.batches.values():
                batch.polls_per_state = self._book.polls_per_state

    def expire_next_batch(self, after_lines: int = 0) -> None:
        """The next batch created expires after answering `after_lines` of its lines."""
        with self._lock:
            self._book.expire_next = max(0, after_lines)

    def host_media(self, name: str, data: bytes) -> str:
        """Serve `data` at a URL (as a public web server would) for audio-by-URL requests."""
        with self._lock:
            self._media[name] = data
        return f"{self.host_url}/_fake/media/{name}"

    def set_editor(self, mode: str) -> None:
        """How clean-up requests (an editing system prompt) are answered: "edit" fixes the
        transcript's punctuation; "answer" misbehaves like a model that answers the question."""
        if mode not in ("edit", "answer"):
            raise ValueError(f"editor mode must be edit or answer, got {mode!r}")
        with self._lock:
            self._editor = mode

    def set_chunk_delay(self, seconds: float) -> None:
        """Pause this long before each streamed chunk (slow streams for barge-in tests)."""
        with self._lock:
            self._chunk_delay = max(0.0, seconds)

    def set_piece_chars(self, chars: int | None) -> None:
        """Stream answers in pieces of `chars` characters, cutting words (None: at word boundaries)."""
        with self._lock:
            self._piece_chars = chars

    def set_rate_limits(self, requests_per_day: int = 14_400, tokens_per_minute: int = 250_000) -> None:
        """Change the limits behind the x-ratelimit-* headers; going over answers 429."""
        with self._lock:
            self._buckets = {"requests": _Bucket(requests_per_day, 86_400.0),
                             "tokens": _Bucket(tokens_per_minute, 60.0)}

    def inject(self, path: str = "*", **kwargs: Any) -> Fault:
        """Queue a Fault (see its fields) for requests to `path`; returns it for inspection."""
        fault = Fault(path=path, **kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_next(self, path: str, status: int, times: int = 1, **kwargs: Any) -> Fault:
        """Shorthand: the next `times` requests to `path` get `status`."""
        return self.inject(path, status=status, times=times, **kwargs)

    # ---- inspection -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of recorded API requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        """Recorded requests for one endpoint, e.g. "/chat/completions"."""
        return [r for r in self.requests if endpoint in (r.endpoint, r.path)]

    def wait_until(self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until predicate(requests) holds; TimeoutError (with what arrived) otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self._requests)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(r.method, r.endpoint, r.status) for r in self._requests]
                    raise TimeoutError(f"fake Groq: condition not met within {timeout}s; saw {seen}")
                self._changed.wait(remaining)
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float = 10.0, path: str | None = None,
                          completed: bool = False) -> list[RecordedRequest]:
        """Wait for n requests (to `path`, if given; fully answered if `completed`) and return them."""

        def pick(reqs: list[RecordedRequest]) -> list[RecordedRequest]:
            return [r for r in reqs if (path is None or path in (r.endpoint, r.path))
                    and (r.completed or not completed)]

        return pick(self.wait_until(lambda reqs: len(pick(reqs)) >= n, timeout))

    # ---- internals shared by handlers ---------------------------------------------------

    def _update(self, rec: RecordedRequest, **changes: Any) -> None:
        with self._changed:
            for key, value in changes.items():
                setattr(rec, key, value)
            self._changed.notify_all()

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(endpoint):
                    fault.hits += 1
                    return fault
        return None

    def _take_reply(self) -> str | None:
        with self._lock:
            reply = self._reply
            if reply is not None and self._reply_times is not None:
                self._reply_times -= 1
                if self._reply_times <= 0:
                    self._reply, self._reply_times = None, None
            return reply

    def _ratelimit_headers(self, tokens: int = 0, charge: bool = True) -> tuple[dict[str, str], float]:
        """Headers for this response, and how long to wait if it is over the limit."""
        now = time.monotonic()
        with self._lock:
            req, tok = self._buckets["requests"], self._buckets["tokens"]
            req.drain(now)
            tok.drain(now)
            wait = max(req.wait_for(1), tok.wait_for(tokens))
            if charge and wait == 0:
                req.level += 1
                tok.level += tokens
            headers = {
                "x-ratelimit-limit-requests": str(req.limit),
                "x-ratelimit-remaining-requests": str(max(0, req.limit - math.ceil(req.level))),
                "x-ratelimit-reset-requests": format_duration(req.reset_in()),
                "x-ratelimit-limit-tokens": str(tok.limit),
                "x-ratelimit-remaining-tokens": str(max(0, tok.limit - math.ceil(tok.level))),
                "x-ratelimit-reset-tokens": format_duration(tok.reset_in()),
            }
        return headers, wait

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server is reset or stopped meanwhile; False if interrupted."""
        generation = self._generation
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(0.05, left))
            if self._generation != generation:
                return False
        return True

    def _json_response(self, rec: RecordedRequest, status: int, body: Any, headers: dict[str, str]) -> web.Response:
        error = (body.get("error") or body.get("detail")) if isinstance(body, dict) and status >= 400 else None
        self._update(rec, status=status, error=error, completed=True)
        return web.json_response(body, status=status, headers=headers)

    # ---- admin endpoints (no auth: for processes other than pytest) -----------------------

    async def _admin(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body = await request.json() if request.can_read_body else {}
        if action == "reset" and request.method == "POST":
            self.reset()
        elif action == "faults" and request.method == "POST":
            fault = self.inject(**{k: v for k, v in body.items() if k != "hits"})
            return web.json_response(fault.to_json(), status=201)
        elif action == "faults" and request.method == "GET":
            with self._lock:
                return web.json_response([f.to_json() for f in self._faults])
        elif action == "reply" and request.method == "POST":
            self.set_reply(body.get("text"), body.get("times"))
        elif action == "editor" and request.method == "POST":
            self.set_editor(str(body.get("mode", "edit")))
        elif action == "chunk-delay" and request.method == "POST":
            self.set_chunk_delay(float(body.get("seconds", 0.0)))
        elif action == "rate-limits" and request.method == "POST":
            self.set_rate_limits(**body)
        elif action == "terms" and request.method == "POST":
            self.set_terms_accepted(bool(body.get("accepted", True)))
        elif action == "speech-delay" and request.method == "POST":
            self.set_speech_delay(float(body.get("first", 0.0)), float(body.get("per_chunk", 0.0)))
        elif action == "batch-pace" and request.method == "POST":
            self.set_batch_pace(int(body.get("polls_per_state", 1)))
        elif action == "expire-batch" and request.method == "POST":
            self.expire_next_batch(int(body.get("after_lines", 0)))
        elif action == "requests" and request.method == "GET":
            return web.json_response([r.to_json() for r in self.requests])
        else:
            return web.json_response({"error": f"unknown admin action {request.method} {action}"}, status=404)
        return web.json_response({"ok": True})

    async def _serve_media(self, request: web.Request) -> web.Response:
        with self._lock:
            data = self._media.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=data, content_type="application/octet-stream")

    # ---- the API ---------------------------------------------------------------------------

    def _auth_state(self, header: str | None) -> str:
        if not header:
            return "missing"
        if self._api_key is None:
            return "unexpected"
        scheme, _, token = header.partition(" ")
        ok = scheme.lower() == "bearer" and secrets.compare_digest(token.strip().encode(), self._api_key.encode())
        return "ok" if ok else "invalid"

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        root = self.root
        endpoint = path[len(root):] if path.startswith(root + "/") else path
        rec = RecordedRequest(
            seq=next(self._ids), method=request.method, path=path, endpoint=endpoint,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"},
            auth=self._auth_state(request.headers.get("Authorization")), received_at=time.time(),
        )
        rid = "req_" + secrets.token_hex(13)
        try:
            if self.link is not None:
                await self.link.connected(request.transport)
            started = time.monotonic()  # the body starts up the link once the connection is open
            body_error, upload = await self._read_body(request, rec)
            if self.link is not None:
                await self.link.uploaded(started, request.content_length or len(upload))
            rec.body_at = time.time()
            if self.link is not None:
                await self.link.first_byte()
        except (ConnectionError, asyncio.CancelledError):
            rec.client_disconnected = True
            raise
        finally:
            with self._changed:
                self._requests.append(rec)
                self._changed.notify_all()
        fault = self._take_fault(endpoint)
        self._update(rec, fault=fault)
        headers, _ = self._ratelimit_headers(charge=False)
        headers["x-request-id"] = rid
        if fault is not None:
            answered = await self._apply_fault(request, rec, fault, headers)
            if answered is not None:
                return answered
        try:
            if self.style == "local":
                if self._api_key is not None and rec.auth != "ok":
                    raise local.unauthorized()
                if body_error is not None:
                    raise body_error
                return await self._local_route(request, rec, rid, upload)
            if rec.auth != "ok":
                raise GroqError(401, "Invalid API Key", code="invalid_api_key")
            if not path.startswith(API_ROOT + "/"):
                raise GroqError(404, f"Unknown request URL: {request.method} {path}. Please check the URL for "
                                "typos, or see the docs at https://console.groq.com/docs/", code="unknown_url")
            if body_error is not None:
                raise body_error
            return await self._route(request, rec, rid, fault, upload)
        except GroqError as err:
            return self._json_response(rec, err.status, err.body(), {**headers, **err.headers})

    async def _read_body(self, request: web.Request, rec: RecordedRequest) -> tuple[GroqError | None, bytes]:
        """Read and record the body: (a GroqError to answer after auth if malformed, audio bytes)."""
        if request.content_type == "multipart/form-data":
            return await self._read_multipart(request, rec)
        if request.can_read_body:
            raw = await request.read()
            try:
                rec.json = json.loads(raw) if raw else None
            except ValueError:
                return GroqError(400, "failed to parse request body as JSON"), b""
        return None, b""

    async def _read_multipart(self, request: web.Request, rec: RecordedRequest) -> tuple[GroqError | None, bytes]:
        form: dict[str, str | list[str]] = {}
        error: GroqError | None = None
        upload = b""
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not hasattr(part, "read_chunk") or part.name is None:
                continue
            if part.name == "file" and rec.endpoint == "/files":
                chunks, size = [], 0
                while chunk := await part.read_chunk(1 << 20):  # up to 200 MB: kept only within the limit
                    size += len(chunk)
                    if size <= batches.MAX_FILE_BYTES:
                        chunks.append(chunk)
                rec.upload = batches.Upload(part.filename or "", None, None, size)
                upload = b"".join(chunks) if size <= batches.MAX_FILE_BYTES else b""
                continue
            if part.name == "file":
                data = bytes(await part.read())
                size = len(data)
                rec.audio = AudioUpload(filename=part.filename, content_type=part.headers.get("Content-Type"),
                                        size=size)
                upload = data if size <= audio.MAX_FILE_BYTES else b""
                if size > audio.MAX_FILE_BYTES:
                    error = GroqError(413, "Request Entity Too Large: the audio file exceeds the 25 MB limit",
                                      code="request_too_large")
                continue
            value = (await part.read(decode=True)).decode("utf-8", "replace")
            if part.name in form:
                prev = form[part.name]
                form[part.name] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                form[part.name] = [value] if part.name.endswith("[]") else value
        rec.form = form
        return error, upload

    async def _apply_fault(self, request: web.Request, rec: RecordedRequest, fault: Fault,
                           headers: dict[str, str]) -> web.StreamResponse | None:
        """Answer per the fault before normal handling, or None to continue normally."""
        if fault.delay and not await self._sleep(fault.delay):
            return self._drop(request, rec)
        if fault.drop_after == 0:
            return self._drop(request, rec)
        if fault.status is not None:
            out = {**headers, **fault.headers}
            if isinstance(fault.body, str):
                is_html = fault.body.lstrip().startswith("<")
                self._update(rec, status=fault.status, completed=True)
                return web.Response(status=fault.status, text=fault.body, headers=out,
                                    content_type="text/html" if is_html else "text/plain")
            body = fault.body if fault.body is not None else _status_error(fault.status)
            return self._json_response(rec, fault.status, body, out)
        if fault.empty:
            self._update(rec, status=200, completed=True)
            return web.Response(status=200, body=b"", headers={**headers, **fault.headers},
                                content_type="application/json")
        if fault.invalid_json:
            self._update(rec, status=200, completed=True)
            return web.Response(status=200, text='{"id": "chatcmpl-', headers={**headers, **fault.headers},
                                content_type="application/json")
        return None

    def _drop(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        """Abort the TCP connection without an HTTP answer."""
        if request.transport is not None:
            request.transport.abort()
        self._update(rec, completed=True)
        raise asyncio.CancelledError  # aiohttp then stops handling this connection quietly

    async def _route(self, request: web.Request, rec: RecordedRequest, rid: str,
                     fault: Fault | None, upload: bytes) -> web.StreamResponse:
        ep, method = rec.endpoint, request.method
        if ep == "/chat/completions" and method == "POST":
            return await self._chat(request, rec, rid, fault)
        if ep in ("/audio/transcriptions", "/audio/translations") and method == "POST":
            return await self._speech_to_text(rec, rid, upload, "translate" if ep.endswith("translations") else "transcribe")
        if ep == "/audio/speech" and method == "POST":
            return await self._text_to_speech(request, rec, rid)
        if ep.startswith(("/files", "/batches")):
            return await self._files_and_batches(request, rec, rid, upload)
        if ep == "/models" and method == "GET":
            body = {"object": "list", "data": [model_object(m) for m in MODELS]}
            return self._json_response(rec, 200, body, self._charge(0, rid, "-"))
        if ep.startswith("/models/") and method == "GET":
            model_id = ep[len("/models/"):]
            if model_id not in MODELS:
                raise GroqError(404, f"The model `{model_id}` does not exist or you do not have access to it.",
                                code="model_not_found")
            return self._json_response(rec, 200, model_object(model_id), self._charge(0, rid, model_id))
        raise GroqError(404, f"Unknown request URL: {method} {rec.path}. Please check the URL for typos, "
                        "or see the docs at https://console.groq.com/docs/", code="unknown_url")

    async def _local_route(self, request: web.Request, rec: RecordedRequest, rid: str,
                           upload: bytes) -> web.StreamResponse:
        """Speech only, one request decoded at a time; everything else is FastAPI's 404."""
        ep = rec.endpoint
        if request.method != "POST" or ep not in ("/audio/transcriptions", "/audio/translations"):
            raise local.not_found()
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            async with self._decode_lock:
                if self._decode_delay and not await self._sleep(self._decode_delay):
                    return self._drop(request, rec)
                return await self._speech_to_text(rec, rid, upload, "translate" if ep.endswith("translations")
                                                  else "transcribe")
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _files_and_batches(self, request: web.Request, rec: RecordedRequest, rid: str,
                                 upload: bytes) -> web.StreamResponse:
        """/files and /batches (tests/fakegroq/batches.py keeps the books)."""
        up = rec.upload
        if up is not None:
            purpose = (rec.form or {}).get("purpose")
            up = dataclasses.replace(up, purpose=purpose if isinstance(purpose, str) else None,
                                     data=upload if up.size <= batches.MAX_FILE_BYTES else None)
        elif request.method == "POST" and rec.endpoint == "/files":
            purpose = (rec.form or {}).get("purpose")
            up = batches.Upload(None, purpose if isinstance(purpose, str) else None, None, 0)
        answered = await batches.route(self._book, request.method, rec.endpoint, body=rec.json, upload=up,
                                       answer=self._batch_line)
        if answered is None:
            raise GroqError(404, f"Unknown request URL: {request.method} {rec.path}. Please check the URL for "
                            "typos, or see the docs at https://console.groq.com/docs/", code="unknown_url")
        status, body = answered
        headers = self._charge(0, rid, "-")
        if isinstance(body, bytes):
            self._update(rec, status=status, completed=True)
            return web.Response(body=body, status=status, headers=headers, content_type="application/octet-stream")
        return self._json_response(rec, status, body, headers)

    async def _batch_line(self, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one batch line as the synchronous endpoint would (chat, or audio by URL)."""
        rid = "req_" + secrets.token_hex(13)
        try:
            if url == "/v1/chat/completions":
                req = chat.validate_chat({**body, "stream": False})
                reply = self._take_reply()
                completion = chat.complete(req, chat.reply_for(req, reply))
                seed = req.seed if req.seed is not None else 0
                return 200, chat.completion_body(req, completion, cid="chatcmpl-" + secrets.token_hex(16), rid=rid,
                                                 created=int(time.time()), seed=seed)
            return 200, await self._audio_by_url(url, body, rid)
        except GroqError as err:
            return err.status, err.body()

    async def _audio_by_url(self, url: str, body: dict[str, Any], rid: str) -> dict[str, Any]:
        """A transcription or translation line: the audio is fetched from body["url"]."""
        task = "translate" if url.endswith("translations") else "transcribe"
        form = {k: v if isinstance(v, str | list) else json.dumps(v) for k, v in body.items() if k != "url"}
        req = audio.validate_stt(task, form)
        source = body.get("url")
        if not isinstance(source, str) or not source.startswith(("http://", "https://")):
            raise GroqError(400, "url must be an http(s) URL of the audio file", param="url")
        import aiohttp  # the client half of aiohttp, only needed here
        try:
            async with aiohttp.ClientSession() as session, session.get(source) as got:
                if got.status != 200:
                    raise GroqError(400, f"could not fetch the audio at url: HTTP {got.status}", param="url")
                data = await got.read()
        except aiohttp.ClientError:
            raise GroqError(400, "could not fetch the audio at url", param="url") from None
        try:
            decoded = await asyncio.get_running_loop().run_in_executor(None, decode, data)
        except UndecodableAudio:
            raise GroqError(400, "could not process file - is it a valid media file?") from None
        match = await asyncio.get_running_loop().run_in_executor(None, recognise, decoded.mono16k)
        duration = decoded.duration if decoded.duration is not None else 10.0
        if req.response_format == "verbose_json":
            return audio.verbose_body(req, match, duration=duration, rid=rid)
        text, _ = audio.recognised_text(task, match)
        return {"text": text, "x_groq": {"id": rid}}

    def _charge(self, tokens: int, rid: str, model: str) -> dict[str, str]:
        """Rate-limit headers for an accepted request; GroqError 429 when over the limit."""
        headers, wait = self._ratelimit_headers(tokens)
        headers["x-request-id"] = rid
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise GroqError(429, f"Rate limit reached for model `{model}` in organization `org_fake` service tier "
                                 f"`on_demand`. Please try again in {format_duration(wait)}.",
                            code="rate_limit_exceeded", type_="tokens", headers={**headers, "retry-after": str(retry)})
        return headers

    async def _speech_to_text(self, rec: RecordedRequest, rid: str, data: bytes, task: str) -> web.StreamResponse:
        started = time.monotonic()
        up = rec.audio
        groq = self.style == "groq"
        if up is None:
            raise GroqError(400, "file or url must be provided", param="file") if groq else local.missing("file")
        if not audio.extension_ok(up.filename):
            raise audio.file_type_error()
        req = audio.validate_stt(task, rec.form or {}) if groq else local.validate_stt(task, rec.form or {})
        try:
            decoded = await asyncio.get_running_loop().run_in_executor(None, decode, data)
        except UndecodableAudio:
            raise GroqError(400, "could not process file - is it a valid media file?") from None
        if decoded.duration is not None and decoded.duration < audio.MIN_DURATION:
            raise GroqError(400, "Audio file is too short. Minimum audio length is 0.01 seconds.")
        match = await asyncio.get_running_loop().run_in_executor(None, recognise, decoded.mono16k)
        self._update(rec, audio=dataclasses.replace(
            up, container=decoded.container, subtype=decoded.subtype, samplerate=decoded.samplerate,
            channels=decoded.channels, duration=decoded.duration, fixture=match.fixture,
            score=round(match.score, 4), coverage=round(match.coverage, 4)))
        duration = decoded.duration if decoded.duration is not None else 10.0
        if self.link is not None:
            await self.link.transcribed(started, duration)
        rec.answered_at = time.time()
        headers = self._charge(0, rid, req.model) if groq else {}
        heard = self._take_heard() if match.fixture and not match.invented else None
        text, _ = audio.recognised_text(task, match, heard)
        self._update(rec, reply=text)
        if req.response_format == "text":
            self._update(rec, status=200, completed=True)
            return web.Response(text=text, content_type="text/plain", charset="utf-8", headers=headers)
        if req.response_format == "verbose_json":
            body = audio.verbose_body(req, match, duration=duration, rid=rid, heard=heard)
            if not groq:
                del body["x_groq"]
            return self._json_response(rec, 200, body, headers)
        return self._json_response(rec, 200, {"text": text, "x_groq": {"id": rid}} if groq else {"text": text},
                                   headers)

    async def _text_to_speech(self, request: web.Request, rec: RecordedRequest, rid: str) -> web.StreamResponse:
        """Real speech (espeak-ng) as a WAV streamed in 100 ms chunks, like Orpheus on Groq."""
        req = tts.validate_speech(rec.json)
        with self._lock:
            accepted, first_delay, chunk_delay = self._terms_accepted, self._tts_delay, self._tts_chunk_delay
        if not accepted:
            raise tts.terms_error(req.model)
        headers = self._charge(0, rid, req.model)
        samples = await asyncio.get_running_loop().run_in_executor(None, tts.synthesise, req.text, req.voice)
        self._update(rec, reply=req.text)
        resp = web.StreamResponse(status=200, headers={**headers, "Content-Type": "audio/wav"})
        self._update(rec, status=200)
        try:
            if first_delay and not await self._sleep(first_delay):
                return self._drop(request, rec)
            await resp.prepare(request)
            for index, chunk in enumerate(tts.chunks(samples)):
                if index > 1 and chunk_delay and not await self._sleep(chunk_delay):
                    return self._drop(request, rec)
                await resp.write(chunk)
                self._update(rec, chunks_sent=rec.chunks_sent + 1)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            self._update(rec, client_disconnected=True, completed=True)
            return resp
        self._update(rec, completed=True)
        return resp

    def set_terms_accepted(self, accepted: bool) -> None:
        """Whether the org has accepted the TTS model's terms (else 400 model_terms_required)."""
        with self._lock:
            self._terms_accepted = accepted

    def set_speech_delay(self, first: float = 0.0, per_chunk: float = 0.0) -> None:
        """Time to the first audio byte (synthesis), and between 100 ms chunks of the stream."""
        with self._lock:
            self._tts_delay, self._tts_chunk_delay = first, per_chunk

    async def _chat(self, request: web.Request, rec: RecordedRequest, rid: str,
                    fault: Fault | None) -> web.StreamResponse:
        started = time.monotonic()
        req = chat.validate_chat(rec.json)
        headers = self._charge(req.prompt_tokens + (req.max_tokens or 0), rid, req.model)
        reply = self._take_reply()
        with self._lock:
            editing = self._editor == "edit" and chat.is_edit_request(req.messages)
        if reply is None:
            reply = chat.edited(chat.last_user_text(req.messages)) if editing else chat.reply_for(req, None)
        completion = chat.complete(req, reply)
        self._update(rec, reply=completion.content)
        cid = "chatcmpl-" + secrets.token_hex(16)
        created = int(time.time())
        seed = req.seed if req.seed is not None else int.from_bytes(rid.encode()[-4:], "big")
        if self.link is not None:
            await self.link.first_token(started)
        rec.answered_at = time.time()
        if not req.stream:
            body = chat.completion_body(req, completion, cid=cid, rid=rid, created=created, seed=seed)
            return self._json_response(rec, 200, body, headers)
        with self._lock:
            piece_chars = self._piece_chars
        chunks = chat.stream_chunks(req, completion, cid=cid, rid=rid, created=created, seed=seed,
                                    piece_chars=piece_chars)
        return await self._stream(request, rec, chunks, headers, fault)

    async def _stream(self, request: web.Request, rec: RecordedRequest, chunks: list[dict[str, Any]],
                      headers: dict[str, str], fault: Fault | None) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={**headers, "Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
        self._update(rec, status=200)
        try:
            await resp.prepare(request)
            for index, chunk in enumerate(chunks):
                if fault is not None and not await self._mid_stream(request, resp, rec, fault, index):
                    return resp
                with self._lock:
                    delay = self._chunk_delay
                if delay and not await self._sleep(delay):
                    return self._drop(request, rec)
                await resp.write(f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode())
                self._update(rec, chunks_sent=rec.chunks_sent + 1)
            if fault is not None and not await self._mid_stream(request, resp, rec, fault, len(chunks)):
                return resp
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            # The client hung up (barge-in, cancelled request): that is information, not an error.
            self._update(rec, client_disconnected=True, completed=True)
            return resp
        self._update(rec, completed=True)
        return resp

    async def _mid_stream(self, request: web.Request, resp: web.StreamResponse, rec: RecordedRequest,
                          fault: Fault, index: int) -> bool:
        """Apply a stream fault due after `index` chunks; False when the stream must end here."""
        if fault.stall_after == index and fault.stall_seconds > 0:
            if not await self._sleep(fault.stall_seconds):
                self._drop(request, rec)
        if fault.drop_after == index:
            self._drop(request, rec)
        if fault.error_after == index:
            err = {"error": {"message": "Service Unavailable: the stream was interrupted", "type": "internal_server_error",
                             "code": "service_unavailable"}}
            frame = {
                "event": f"event: error\ndata: {json.dumps(err)}\n\n",
                "data": f"data: {json.dumps(err)}\n\n",
                "invalid_json": 'data: {"id":"chatcmpl-broken","choices":[{"delta":{"content":\n\n',
            }[fault.error_style]
            await resp.write(frame.encode())
            await resp.write_eof()
            self._update(rec, completed=True)
            return False
        return True
