"""A minimal ``aiohttp.web`` app on uvloop doing the benchmark's work, access log off.

Usage: ``python aiohttp_app.py PORT``
"""

from __future__ import annotations

import asyncio
import sys

import uvloop
from aiohttp import web
from common import (
    BIG_BODY,
    BIG_TYPE,
    ECHO_TYPE,
    HELLO_BODY,
    HELLO_TYPE,
    UPLOAD_PATH,
    UPLOAD_TYPE,
    upload_answer,
)

#: aiohttp answers 413 to bodies over ``client_max_size`` (1 MiB by default); upload-64m sends 64 MiB.
MAX_BODY = 128 * 1024 * 1024


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=HELLO_BODY, headers={"Content-Type": HELLO_TYPE})


async def big(request: web.Request) -> web.Response:
    return web.Response(body=BIG_BODY, headers={"Content-Type": BIG_TYPE})


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), headers={"Content-Type": ECHO_TYPE})


async def upload(request: web.Request) -> web.Response:
    body = await request.read()  # the whole body
    status, answer = upload_answer(request.content_length or -1, len(body))
    return web.Response(status=status, body=answer, headers={"Content-Type": UPLOAD_TYPE})


def make_app() -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/", hello)
    app.router.add_get("/64k", big)
    app.router.add_post("/echo", echo)
    app.router.add_post(UPLOAD_PATH, upload)
    return app


def main() -> None:
    port = int(sys.argv[1])
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(make_app(), host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
