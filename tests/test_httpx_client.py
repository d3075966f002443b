"""httpx, a client nobody here wrote, against every parser x run mode: kept-alive connections,
chunked uploads from a generator, streamed downloads, a pool of concurrent async requests,
and HEAD.  Bodies are checked byte for byte (SHA-256) on both sides.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx  # the test extra installs it
import pytest

from .handlers import BODY, Echo, Hello, serve_in

MiB = 1024 * 1024


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.timeout(60)
def test_keep_alive_uploads_and_head(serve: Any, run_mode: str) -> None:
    server = serve_in(serve, run_mode, Echo)
    data = os.urandom(3 * MiB + 17)
    with httpx.Client(base_url=server.url(), timeout=20) as client:
        sized = client.post("/sized", content=data)
        # A generator body: httpx sends it chunked; the handler reads it as the server
        # presents it (whole with Content-Length, or streamed to the end in async mode).
        chunked = client.put("/chunked", content=pieces(data, 64 * 1024))
        empty = client.post("/empty", content=b"")
        assert [r.status_code for r in (sized, chunked, empty)] == [200, 200, 200]
        assert hashlib.sha256(sized.content).digest() == hashlib.sha256(data).digest()
        assert hashlib.sha256(chunked.content).digest() == hashlib.sha256(data).digest()
        assert chunked.headers["X-Path"] == "/chunked" and empty.content == b""
        # All on one kept-alive connection: the same client port each time.
        ports = {
            r.extensions["network_stream"].get_extra_info("client_addr")[1] for r in (sized, chunked, empty)
        }
        assert len(ports) == 1


@pytest.mark.timeout(60)
def test_streamed_download_and_head(serve: Any, run_mode: str) -> None:
    server = serve_in(serve, run_mode, Hello)
    with httpx.Client(base_url=server.url(), timeout=20) as client:
        with client.stream("GET", "/") as response:
            assert response.status_code == 200
            assert b"".join(response.iter_bytes(7)) == BODY
        head = client.head("/")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == str(len(BODY))
        assert client.get("/again").content == BODY  # the connection survived the HEAD


@pytest.mark.timeout(60)
def test_async_client_pool(serve: Any, run_mode: str) -> None:
    """200 requests from httpx's AsyncClient, 20 connections at a time, half of them
    uploads that arrive in pieces."""
    server = serve_in(serve, run_mode, Echo)

    async def upload(client: httpx.AsyncClient, n: int) -> bool:
        data = os.urandom(10_000 + n)

        async def slowly() -> AsyncIterator[bytes]:
            for piece in pieces(data, 4096):
                await asyncio.sleep(0)
                yield piece

        response = await client.post(f"/u{n}", content=slowly() if n % 2 else data)
        return (
            response.status_code == 200
            and response.content == data
            and response.headers["X-Path"] == f"/u{n}"
        )

    async def main() -> list[bool]:
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(base_url=server.url(), timeout=30, limits=limits) as client:
            return await asyncio.gather(*(upload(client, n) for n in range(200)))

    results = asyncio.run(main())
    assert results == [True] * 200
