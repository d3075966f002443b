"""``python -m http.server``'s static file serving, tuned the same way as ``stdlib-nodelay``.

Usage: ``python stdlib_static.py DIRECTORY PORT``

``http.server.SimpleHTTPRequestHandler`` on a ``ThreadingHTTPServer`` (what ``python -m
http.server`` runs), with ``protocol_version = "HTTP/1.1"`` (``python -m http.server -p
HTTP/1.1``: keep-alive, as every other server of the static-mix cell), ``disable_nagle_algorithm``,
a listen queue of 1024 and the access log silenced. It answers ``If-Modified-Since`` with 304
itself (the stdlib has done so since 3.7).
"""

from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietStaticHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Access log off, as in every server compared."""


class BigQueueThreadingHTTPServer(ThreadingHTTPServer):
    request_queue_size = 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    handler = functools.partial(QuietStaticHandler, directory=args.directory)
    with BigQueueThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
