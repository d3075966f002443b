"""The client side of each workload: path, method, body and headers that wrk sends."""

from __future__ import annotations

from dataclasses import dataclass, field

ECHO_BODY_SIZE = 1024


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


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
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
    )
}


def default_cells(quick: bool) -> list[tuple[str, int]]:
    """The ``(workload, concurrency)`` matrix measured when no filter is given."""
    cells: list[tuple[str, int]] = []
    for workload in WORKLOADS.values():
        for concurrency in workload.quick_concurrency if quick else workload.full_concurrency:
            cells.append((workload.name, concurrency))
    return cells
