"""The client side of each workload: path, method, body and headers that wrk sends."""

from __future__ import annotations

from dataclasses import dataclass, field

ECHO_BODY_SIZE = 1024
MIB = 1024 * 1024

#: The peers that can take an upload: read a whole request body, answer its size.
_UPLOAD_SERVERS = (
    "aiohttpbase-httptools", "aiohttpbase-h11", "aiohttpbase-httptools-threads",
    "aiohttpbase-httptools-async", "uvicorn-httptools", "aiohttp", "stdlib-nodelay",
)  # fmt: skip
#: ``ab -k``: aiohttpbase in every run mode, and the peers (uvicorn answers HTTP/1.0 with
#: ``Connection: close``; the stdlib keeps the connection without saying so, and ab waits).
_AB_SERVERS = (
    "aiohttpbase-httptools", "aiohttpbase-h11", "aiohttpbase-httptools-threads",
    "aiohttpbase-httptools-async", "aiohttp", "uvicorn-httptools", "stdlib-nodelay",
)  # fmt: skip


@dataclass(frozen=True)
class Workload:
    """One kind of request, sent by wrk over and over."""

    name: str
    description: str
    path: str = "/"
    method: str = "GET"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: Bytes the response body must have (checked once with a real request before measuring).
    expect_body_size: int | None = None
    #: Concurrencies measured by default in full mode (``--concurrency`` overrides).
    full_concurrency: tuple[int, ...] = (64,)
    #: Concurrencies measured by default in ``--quick`` mode (empty: not in the quick matrix).
    quick_concurrency: tuple[int, ...] = ()
    #: The load generator: ``"wrk"``, or ``"ab"`` (ApacheBench ``-k``: HTTP/1.0 keep-alive).
    client: str = "wrk"
    #: A POST body of this many bytes, built by the wrk script (see ``wrk.write_script``), instead
    #: of ``body``; the answer must be its size in decimal.
    upload_size: int = 0
    #: Uploads: bodies that differ from one request to the next (a numbered prefix), at the
    #: price of one copy of the request inside wrk per request; else one fixed body.
    vary_body: bool = True
    #: wrk's per-request timeout in whole seconds (slower answers count as timeout errors).
    request_timeout_s: int = 2
    #: Only measured when named with ``--workloads`` (not in the default full or quick matrix).
    opt_in: bool = False
    #: The servers measured in this workload's cells (default: all; ``--servers`` adds others).
    servers: tuple[str, ...] | None = None
    #: The ratio baseline for this workload's cells when ``--baseline`` is not given.
    baseline: str | None = None
    #: A Lua file of ``bench/lua`` with a ``request()`` that builds every request (path, head
    #: and body); ``lua_vars`` are Lua globals set before it (``name = value`` lines).
    lua: str | None = None
    lua_vars: tuple[str, ...] = ()
    #: The probe's request body, headers and expected answer, when they differ from wrk's
    #: (workloads whose ``lua`` builds every request; ``path`` is then the probe's only).
    probe_body: bytes = b""
    probe_headers: tuple[tuple[str, str], ...] = ()
    expect: bytes | None = None
    #: ``"varied"``: every request differs (the cells the targets are read from); ``"repeated
    #: head"``: wrk sends one byte-identical request over and over (the head cache's best case).
    kind: str = "repeated head"

    @property
    def varied(self) -> bool:
        return self.kind == "varied"

    @property
    def expect_body(self) -> bytes | None:
        """The exact response body the probe expects, when it is known."""
        if self.expect is not None:
            return self.expect
        if self.upload_size:
            return str(self.upload_size).encode("ascii")
        return self.body or None


def _many_headers(count: int) -> tuple[tuple[str, str], ...]:
    """``count`` realistic-looking request headers (what a browser behind a proxy sends)."""
    base = [
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0"),
        ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("Accept-Language", "en-GB,en;q=0.9"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Cache-Control", "no-cache"),
        ("Pragma", "no-cache"),
        ("Referer", "http://127.0.0.1/index.html"),
        ("Cookie", "session=0123456789abcdef0123456789abcdef; theme=dark"),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Proto", "http"),
        ("X-Request-Id", "5f0c3c2e-9d1a-4b9e-8f3a-2b6d7c1e0a94"),
        ("DNT", "1"),
        ("Upgrade-Insecure-Requests", "1"),
        ("Sec-Fetch-Dest", "document"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-Site", "same-origin"),
    ]
    extra = [(f"X-Bench-{i}", f"value-{i}") for i in range(max(0, count - len(base)))]
    return tuple((base + extra)[:count])


#: The varied cells (every request different): the targets' peers and aiohttpbase's defaults.
_VARIED_SERVERS = (
    "aiohttpbase-httptools", "aiohttpbase-h11", "uvicorn-httptools", "uvicorn-h11", "aiohttp",
    "stdlib-nodelay", "bare-handler",
)  # fmt: skip
#: Plus the same build with the head cache off (``--head-cache 0``), for "defaults >= 0.98x
#: every cache off": measured in the varied-get cells only.
_VARIED_GET_SERVERS = (*_VARIED_SERVERS, "aiohttpbase-httptools-parse", "aiohttpbase-h11-parse")
#: The static-mix cell's own servers: each serves the generated directory (``static_tree.py``).
_STATIC_SERVERS = (
    "aiohttpbase-httptools-static", "aiohttpbase-h11-static", "stdlib-nodelay-static",
    "aiohttp-static", "uvicorn-httptools-static",
)  # fmt: skip
#: One probe body for varied-post (wrk's bodies are built by the Lua script).
_PROBE_JSON = b'{"id":1,"name":"item-1","note":"' + b"x" * 967 + b'"}'
#: keepalive-mix: every Nth request says ``Connection: close``.
CLOSE_EVERY = 5

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "varied-get",
            "GET /items/N?..., every head different (~600 B, 8 fields: counter path and query, "
            "cookie, request id, referer, 3 browser agents), keep-alive",
            path="/items/1?page=1&sort=name",
            expect_body_size=38,
            full_concurrency=(64, 256),
            quick_concurrency=(64,),
            lua="varied.lua",
            kind="varied",
            baseline="uvicorn-httptools",
            servers=_VARIED_GET_SERVERS,
        ),
        Workload(
            "varied-post",
            "POST /api/items/N?v=..., JSON bodies of 200 B-8 KiB (256 sizes), read whole, "
            'answered {"received":N}; path, token and request id vary',
            path="/api/items/1?v=1",
            method="POST",
            probe_body=_PROBE_JSON,
            probe_headers=(("Content-Type", "application/json"),),
            expect=b'{"received":%d}' % len(_PROBE_JSON),
            lua="varied_post.lua",
            kind="varied",
            baseline="uvicorn-httptools",
            servers=_VARIED_SERVERS,
        ),
        Workload(
            "keepalive-mix",
            f"the varied-get requests, every {CLOSE_EVERY}th with Connection: close (then a new "
            f"connection): {CLOSE_EVERY} requests a connection on average",
            path="/items/1?page=1&sort=name",
            probe_headers=(("Connection", "close"),),
            expect_body_size=38,
            lua="varied.lua",
            lua_vars=(f"close_every = {CLOSE_EVERY}",),
            kind="varied",
            baseline="uvicorn-httptools",
            servers=_VARIED_SERVERS,
        ),
        Workload(
            "static-mix",
            "GET of a generated directory: 400 files of 200 B-16 KiB (Zipf popularity) and 4 of "
            "1-8 MiB (0.5 % of requests); every 4th small-file GET conditional (304)",
            lua="static_mix.lua",
            kind="varied",
            servers=_STATIC_SERVERS,
            baseline="stdlib-nodelay-static",
        ),
        Workload(
            "hello",
            "GET / -> 38-byte HTML body, keep-alive",
            expect_body_size=38,
            full_concurrency=(1, 64, 256, 1000),
            quick_concurrency=(64, 256),
        ),
        Workload(
            "post-1k",
            "POST /echo with a 1 KiB body, echoed back",
            path="/echo",
            method="POST",
            body=b"b" * ECHO_BODY_SIZE,
            headers=(("Content-Type", "application/octet-stream"),),
            expect_body_size=ECHO_BODY_SIZE,
        ),
        Workload("64k", "GET /64k -> 64 KiB body", path="/64k", expect_body_size=65536),
        Workload(
            "headers-20",
            "GET / with 20 request headers",
            headers=_many_headers(20),
            expect_body_size=38,
        ),
        Workload(
            "close",
            "GET / with Connection: close (a new TCP connection per request)",
            headers=(("Connection", "close"),),
            expect_body_size=38,
            quick_concurrency=(64,),
        ),
        Workload(
            "ab-keepalive",
            "ab -k: GET / over HTTP/1.0 with Connection: Keep-Alive (ApacheBench)",
            expect_body_size=38,
            client="ab",
            servers=_AB_SERVERS,
            baseline="aiohttp",
        ),
        Workload(
            "upload-1m",
            "POST /upload, 1 MiB body read whole, answered with its size",
            path="/upload",
            method="POST",
            upload_size=MIB,
            # Varying a 1 MiB body costs wrk 0.13 ms a request, which made wrk's core the limit
            # for the faster servers on a quiet machine (README): one fixed body here.
            vary_body=False,
            full_concurrency=(16,),
            quick_concurrency=(16,),
            request_timeout_s=10,
            opt_in=True,
            servers=_UPLOAD_SERVERS,
        ),
        Workload(
            "upload-64m",
            "POST /upload, 64 MiB body read whole, answered with its size",
            path="/upload",
            method="POST",
            upload_size=64 * MIB,
            full_concurrency=(4,),
            quick_concurrency=(4,),
            request_timeout_s=30,
            opt_in=True,
            servers=_UPLOAD_SERVERS,
        ),
    )
}


def default_cells(quick: bool, named: list[str] | None = None) -> list[tuple[str, int]]:
    """The ``(workload, concurrency)`` matrix measured when no filter is given (opt-in workloads
    only when ``named``)."""
    cells: list[tuple[str, int]] = []
    for workload in WORKLOADS.values():
        if workload.opt_in and workload.name not in (named or ()):
            continue
        for concurrency in workload.quick_concurrency if quick else workload.full_concurrency:
            cells.append((workload.name, concurrency))
    return cells
