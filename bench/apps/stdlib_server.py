"""``http.server.ThreadingHTTPServer`` serving :class:`handlers.HelloHandler`, stock or tuned.

Usage: ``python stdlib_server.py [--nodelay] [--log] PORT``

* stock: exactly what the stdlib ships (listen queue of 5; head and body are two writes, so with
  Nagle on each keep-alive response waits for the client's delayed ACK).
* ``--nodelay``: the two usual tunings, ``disable_nagle_algorithm = True`` on the handler and
  ``request_queue_size = 1024`` on the server.
* ``--log``: serve :class:`handlers.LoggingHelloHandler` (access log to a file) instead.
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from handlers import HelloHandler, LoggingHelloHandler


class NoDelayHelloHandler(HelloHandler):
    disable_nagle_algorithm = True


class NoDelayLoggingHelloHandler(LoggingHelloHandler):
    disable_nagle_algorithm = True


class BigQueueThreadingHTTPServer(ThreadingHTTPServer):
    request_queue_size = 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--nodelay", action="store_true", help="TCP_NODELAY and a 1024 listen queue")
    parser.add_argument("--log", action="store_true", help="access log on, to a file")
    args = parser.parse_args()

    handler: type[BaseHTTPRequestHandler]
    if args.nodelay:
        handler = NoDelayLoggingHelloHandler if args.log else NoDelayHelloHandler
        server_class: type[ThreadingHTTPServer] = BigQueueThreadingHTTPServer
    else:
        handler = LoggingHelloHandler if args.log else HelloHandler
        server_class = ThreadingHTTPServer
    with server_class(("127.0.0.1", args.port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
