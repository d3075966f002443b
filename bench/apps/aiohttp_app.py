"""A minimal ``aiohttp.web`` app on uvloop doing the benchmark's work, access log off.

Usage: ``python aiohttp_app.py [--static DIR] PORT``: with ``--static``, the app serves the files
of DIR instead, with ``add_static`` (the static-mix cell).
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop
from aiohttp import web
from common import (
    API_PREFIX,
    BIG_BODY,
    BIG_TYPE,
    ECHO_TYPE,
    HELLO_BODY,
    HELLO_TYPE,
    ITEMS_PREFIX,
    JSON_TYPE,
    UPLOAD_PATH,
    UPLOAD_TYPE,
    json_answer,
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


async def api(request: web.Request) -> web.Response:
    body = await request.read()  # the whole JSON body, not parsed
    status, answer = json_answer(request.content_length or -1, len(body))
    return web.Response(status=status, body=answer, headers={"Content-Type": JSON_TYPE})


def make_app(static: str | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    if static:  # static-mix: aiohttp's own file serving (conditional GETs answered 304)
        app.router.add_static("/", static)
        return app
    app.router.add_get("/", hello)
    app.router.add_get(ITEMS_PREFIX + "{tail:.*}", hello)
    app.router.add_get("/64k", big)
    app.router.add_post("/echo", echo)
    app.router.add_post(UPLOAD_PATH, upload)
    app.router.add_post(API_PREFIX + "{tail:.*}", api)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--static", help="serve the files of this directory instead")
    args = parser.parse_args()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(make_app(args.static), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
