"""Handler and server classes written elsewhere, served unchanged: the stdlib's XML-RPC server
(``xmlrpc.server``), its WSGI server (``wsgiref.simple_server``, whose handler overrides
``handle``), and from PyPI ``prometheus_client``'s ``MetricsHandler``, ``uploadserver`` (multipart
uploads read by ``cgi.FieldStorage``, a ``flush_headers`` that rewrites ``_headers_buffer``)
and ``RangeHTTPServer``.  Each answers what the stdlib's own server answers with the same
classes, on both parsers, on ``HTTPServer`` and on ``ThreadingHTTPServer`` (their handlers are
``def``: there is no ``async`` mode to run).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import http.client
import http.server
import os
import warnings
import xmlrpc.client
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from xmlrpc.server import SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import prometheus_client  # the test extra installs these three
import pytest
import RangeHTTPServer
import requests

with warnings.catch_warnings():  # uploadserver imports the stdlib's cgi while there is one
    warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
    import uploadserver

import aiohttpbase
from aiohttpbase import ServerConfig

from .conftest import RunningServer


@pytest.fixture(params=["inline", "thread"])
def base(request: Any, parser: str) -> type[aiohttpbase.HTTPServer]:
    """aiohttpbase's ``HTTPServer`` or ``ThreadingHTTPServer``, with ``parser``."""
    server_class = aiohttpbase.ThreadingHTTPServer if request.param == "thread" else aiohttpbase.HTTPServer

    class WithParser(server_class):  # type: ignore[valid-type,misc]
        def __init__(self, address: Any, handler: Any, bind_and_activate: bool = True) -> None:
            super().__init__(address, handler, bind_and_activate, config=ServerConfig(parser=parser))

    return WithParser


@pytest.fixture
def running() -> Iterator[Callable[[Any], RunningServer]]:
    servers: list[RunningServer] = []

    def start(server: Any) -> RunningServer:
        servers.append(RunningServer(server))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# -- xmlrpc.server ------------------------------------------------------------------------


def rpc_server(base: type[aiohttpbase.HTTPServer]) -> Any:
    """What ``SimpleXMLRPCServer`` is -- a dispatcher on a TCP server -- on aiohttpbase's."""

    class RPCServer(SimpleXMLRPCDispatcher, base):  # type: ignore[valid-type,misc]
        logRequests = False  # the attribute SimpleXMLRPCRequestHandler.log_request reads

        def __init__(self, address: Any) -> None:
            SimpleXMLRPCDispatcher.__init__(self, allow_none=True, encoding=None)
            base.__init__(self, address, SimpleXMLRPCRequestHandler)

    return RPCServer(("127.0.0.1", 0))


def fail(message: str) -> None:
    raise ValueError(message)


def register(server: Any) -> None:
    server.register_function(lambda a, b: a + b, "add")
    server.register_function(lambda data: data.data[::-1], "reverse")
    server.register_function(fail)
    server.register_introspection_functions()
    server.register_multicall_functions()


def rpc_calls(port: int) -> list[Any]:
    """One client, its connection kept alive across calls, as xmlrpc.client keeps it."""
    results: list[Any] = []
    with xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2", allow_none=True) as proxy:
        results.append(proxy.add(2, 40))
        big = "x" * 3_000_000  # a body read in several chunks by the handler
        results.append(len(proxy.add(big, "y")))
        results.append(proxy.reverse(xmlrpc.client.Binary(bytes(range(256)))))
        try:
            proxy.fail("no")
        except xmlrpc.client.Fault as fault:
            results.append((fault.faultCode, fault.faultString))
        multi = xmlrpc.client.MultiCall(proxy)
        multi.add(1, 2)
        multi.add("a", "b")
        results.append(list(multi()))
        results.append(sorted(proxy.system.listMethods()))
    # A gzip-encoded request, which the handler decodes itself.
    with xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2") as proxy:
        proxy("transport").encode_threshold = 0
        results.append(proxy.add("a" * 5000, "b")[-2:])
    # A path outside rpc_paths.
    with pytest.raises(xmlrpc.client.ProtocolError) as refused:
        xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/elsewhere").add(1, 1)
    results.append(refused.value.errcode)
    return results


def test_xmlrpc_server(base: type[aiohttpbase.HTTPServer], running: Callable[[Any], RunningServer]) -> None:
    reference = SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)
    register(reference)
    ours = rpc_server(base)
    register(ours)
    expected = rpc_calls(running(reference).port)
    assert expected[0] == 42 and expected[-1] == 404  # the reference did run the calls
    assert rpc_calls(running(ours).port) == expected


# -- wsgiref.simple_server ----------------------------------------------------------------


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/stream":  # no Content-Length: the response ends with the connection
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"part {n}\n".encode() for n in range(3))
    if path == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"gone"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    seen = [environ["REQUEST_METHOD"], path, environ["QUERY_STRING"], environ.get("HTTP_X_TEST", "")]
    answer = repr((seen, body)).encode()
    start_response("201 Created", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


def wsgi_exchanges(port: int) -> list[Any]:
    results = []
    for method, path, body, headers in (
        ("GET", "/a/b?x=1&y=%20", None, {"X-Test": "yes"}),
        ("POST", "/upload", b"k=v" * 700_000, {}),  # 2.1 MB: past the read buffer's limits
        ("GET", "/stream", None, {}),
        ("GET", "/missing", None, {}),
    ):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        kept = {name: response.getheader(name) for name in ("Content-Type", "Content-Length", "Server")}
        results.append((response.status, response.version, kept, response.read()))
        conn.close()
    return results


def test_wsgiref_server(base: type[aiohttpbase.HTTPServer], running: Callable[[Any], RunningServer]) -> None:
    class Server(base, WSGIServer):  # type: ignore[valid-type,misc]
        """wsgiref's WSGIServer on aiohttpbase's server: put aiohttpbase's class first."""

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    reference = make_server("127.0.0.1", 0, wsgi_app, handler_class=QuietHandler)
    ours = make_server("127.0.0.1", 0, wsgi_app, server_class=Server, handler_class=QuietHandler)
    expected = wsgi_exchanges(running(reference).port)
    assert [status for status, *_ in expected] == [201, 201, 200, 404]
    assert wsgi_exchanges(running(ours).port) == expected


# -- prometheus_client.MetricsHandler -----------------------------------------------------


def metrics_exchanges(port: int) -> list[Any]:
    results = []
    for method, path, headers in (
        ("GET", "/metrics", {}),
        ("GET", "/metrics", {"Accept-Encoding": "gzip"}),
        ("GET", "/?name[]=queue_depth", {}),
        ("GET", "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}),
        ("HEAD", "/metrics", {}),
    ):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        results.append((response.status, response.getheader("Content-Type"), body))
        conn.close()
    return results


def test_prometheus_metrics_handler(
    base: type[aiohttpbase.HTTPServer], running: Callable[[Any], RunningServer]
) -> None:
    registry = prometheus_client.CollectorRegistry()
    depth = prometheus_client.Gauge("queue_depth", "Jobs waiting", ["queue"], registry=registry)
    depth.labels("mail").set(3)
    depth.labels("print").set(7)
    prometheus_client.Gauge("workers", "Workers running", registry=registry).set(2)

    class Handler(prometheus_client.MetricsHandler.factory(registry)):  # type: ignore[misc]
        def log_message(self, *args: Any) -> None:
            pass

    expected = metrics_exchanges(running(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)).port)
    assert b'queue_depth{queue="print"} 7.0' in expected[0][2] and expected[1][2] == expected[0][2]
    assert b"workers" not in expected[2][2]  # name[] filtered
    assert metrics_exchanges(running(base(("127.0.0.1", 0), Handler)).port) == expected


# -- uploadserver, RangeHTTPServer ---------------------------------------------------------


def upload_exchanges(port: int, directory: Path) -> list[Any]:
    url = f"http://127.0.0.1:{port}"
    big = os.urandom(3_000_000)
    results: list[Any] = []
    with requests.Session() as session:
        for files in (
            [("files", ("a.bin", big)), ("files", ("b.txt", b"small"))],
            [("files", ("a.bin", b"again"))],
        ):
            response = session.post(url + "/upload", files=files, timeout=30)
            results.append((response.status_code, response.reason))
        response = session.post(url + "/upload", data={"not": "files"}, timeout=10)
        results.append((response.status_code, response.reason, response.content))
        response = session.get(url + "/", timeout=10)  # the listing, lengthened by flush_headers
        results.append(
            (response.status_code, response.headers["Content-Length"], response.text.count("<li>"))
        )
        response = session.get(url + "/a.bin", timeout=10)
        results.append(
            (response.status_code, hashlib.sha256(response.content).digest() == hashlib.sha256(big).digest())
        )
    results.append(sorted(os.listdir(directory)))
    results.append((directory / "a.bin").read_bytes() == big)
    return results


def test_uploadserver(
    base: type[aiohttpbase.HTTPServer], running: Callable[[Any], RunningServer], tmp_path: Path
) -> None:
    def serve(server_class: Any, directory: Path) -> int:
        directory.mkdir()
        # What uploadserver's main() sets from its command line.
        uploadserver.args = argparse.Namespace(  # type: ignore[attr-defined]
            directory=str(directory), theme="auto", allow_replace=False, basic_auth=None,
            basic_auth_upload=None, server_certificate=None, client_certificate=None,
        )  # fmt: skip

        class Quiet(uploadserver.SimpleHTTPRequestHandler):  # type: ignore[misc]
            def log_message(self, *args: Any) -> None:
                pass

        handler = functools.partial(Quiet, directory=str(directory))
        return running(server_class(("127.0.0.1", 0), handler)).port

    expected = upload_exchanges(
        serve(http.server.ThreadingHTTPServer, tmp_path / "stdlib"), tmp_path / "stdlib"
    )
    assert expected[:2] == [(204, "Files accepted"), (204, "Some filename(s) changed due to name conflict")]
    assert expected[-2:] == [["a (1).bin", "a.bin", "b.txt"], True]
    assert upload_exchanges(serve(base, tmp_path / "ours"), tmp_path / "ours") == expected


def range_exchanges(port: int) -> list[Any]:
    results = []
    # Not a range past the end: RangeHTTPServer's 416 leaves its file open, on any server.
    for byte_range in ("bytes=0-9", "bytes=100-", "bytes=-5", None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/text", headers={"Range": byte_range} if byte_range else {})
        response = conn.getresponse()
        kept = {
            name: response.getheader(name) for name in ("Content-Range", "Content-Length", "Accept-Ranges")
        }
        results.append((response.status, kept, response.read()))
        conn.close()
    return results


def test_range_http_server(
    base: type[aiohttpbase.HTTPServer], running: Callable[[Any], RunningServer], tmp_path: Path
) -> None:
    (tmp_path / "text").write_bytes(bytes(range(256)) * 50)

    class Quiet(RangeHTTPServer.RangeRequestHandler):  # type: ignore[misc]
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path))
    expected = range_exchanges(running(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)).port)
    assert [status for status, *_ in expected] == [206, 206, 400, 200]
    assert expected[0][2] == bytes(range(10)) and expected[1][1]["Content-Range"] == "bytes 100-12799/12800"
    assert range_exchanges(running(base(("127.0.0.1", 0), handler)).port) == expected
