"""Handler compatibility over real sockets: what stdlib handlers rely on keeps working."""

from __future__ import annotations

import functools
import http.client
import http.server
import io
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import aiohttpbase
from aiohttpbase.handlers import serving_class
from tests import handlers
from tests.conftest import recv_all, server_class_for


def get(
    server: Any, method: str = "GET", path: str = "/", body: bytes | None = None, headers: Any = None
) -> Any:
    conn = server.connection()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_keep_alive_many_requests_one_connection(serve: Any) -> None:
    server = serve(handlers.Hello)
    conn = server.connection()
    ports = set()
    for _ in range(20):
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == handlers.BODY
        ports.add(conn.sock.getsockname()[1])
    assert len(ports) == 1
    conn.close()


def test_no_content_length_is_chunked_for_http11_and_kept_alive(serve: Any) -> None:
    server = serve(handlers.HelloNoLength)
    conn = server.connection()
    for _ in range(3):
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.read() == b"part one, part two"
        assert not response.will_close
    conn.close()


def test_no_content_length_is_close_delimited_for_http10_client(serve: Any) -> None:
    server = serve(handlers.HelloNoLength)
    raw = server.raw(b"GET / HTTP/1.0\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in head and b"chunked" not in head
    assert body == b"part one, part two"


def test_http10_handler_answers_http10_and_closes(serve: Any) -> None:
    server = serve(handlers.Http10)
    raw = server.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.0 200 OK\r\n")
    assert raw.count(b"HTTP/1.0 200") == 1  # closed after the first, as the stdlib does
    assert raw.endswith(handlers.BODY)


def test_pipelined_requests_answered_in_order(serve: Any) -> None:
    server = serve(handlers.Echo)
    requests = b"".join(
        b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (i, len(b"body%d" % i), b"body%d" % i)
        for i in range(10)
    )
    raw = server.raw(requests + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    for i in range(10):
        assert b"X-Path: /%d\r\n" % i in raw
    bodies = [raw.index(b"body%d" % i) for i in range(10)]
    assert bodies == sorted(bodies)
    assert raw.count(b"HTTP/1.1 200 OK\r\n") == 10
    assert raw.rindex(b"HTTP/1.1 501 ") > raw.rindex(b"body9")  # the GET last, then closed


def test_byte_at_a_time_request(serve: Any) -> None:
    server = serve(handlers.Echo)
    request = b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        for i in range(len(request)):
            sock.sendall(request[i : i + 1])
        raw = recv_all(sock)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"\r\n\r\nhello")


def test_chunked_request_body_reaches_handler_decoded(serve: Any) -> None:
    server = serve(handlers.Echo)
    conn = server.connection()
    conn.request("POST", "/", body=iter([b"abc", b"defg", b"h"]), encode_chunked=True)
    response = conn.getresponse()
    assert response.read() == b"abcdefgh"
    conn.close()


class ReadsNothing(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_GET(self) -> None:
        self.do_POST()


def test_unread_body_is_discarded_not_parsed_as_a_request(serve: Any) -> None:
    server = serve(ReadsNothing)
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = server.raw(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
        + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert raw.count(b"HTTP/1.1 200 OK") == 2


class ReadsBody(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        first = self.rfile.readline()
        rest = self.rfile.readlines()
        again = self.rfile.read()
        buf = bytearray(4)
        n = self.rfile.readinto(buf)
        report = b"%r|%r|%r|%d" % (first, rest, again, n)
        self.send_response(200)
        self.send_header("Content-Length", str(len(report)))
        self.end_headers()
        self.wfile.write(report)


def test_rfile_file_api_stops_at_end_of_body(serve: Any) -> None:
    response = get(serve(ReadsBody), "POST", "/", body=b"line1\nline2\nline3")
    assert response.body == b"b'line1\\n'|[b'line2\\n', b'line3']|b''|0"


class Failing(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/late":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 70000)  # more than the cork: the head is out
        raise RuntimeError("boom")


def test_exception_answers_500_and_server_keeps_serving(serve: Any, capsys: Any) -> None:
    server = serve(Failing)
    response = get(server)
    assert response.status == 500
    assert response.getheader("Connection") == "close"
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and "Exception occurred during processing" in err
    raw = server.raw(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK")  # too late for a 500: the connection is cut
    assert len(raw.partition(b"\r\n\r\n")[2]) == 70000
    assert get(server).status == 500


class StrWriter(aiohttpbase.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write("<h1>héllo</h1>")


def test_wfile_accepts_str_as_utf8(serve: Any) -> None:
    assert get(serve(StrWriter)).body == "<h1>héllo</h1>".encode()


def test_head_never_carries_body_even_if_handler_writes_one(serve: Any) -> None:
    class Writes(handlers.Quiet, http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"body that must not be sent")

    server = serve(Writes)
    raw = server.raw(
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert b"must not" not in raw
    assert raw.count(b"HTTP/1.1 ") == 2  # HEAD answered, connection kept, GET got 501


def test_unsupported_method_is_501(serve: Any) -> None:
    response = get(serve(handlers.Hello), "BREW")
    assert response.status == 501
    assert response.reason == "Unsupported method ('BREW')"


def test_method_dispatch_is_case_sensitive(serve: Any) -> None:
    assert get(serve(handlers.Hello), "get").status == 501


def test_path_with_leading_double_slash_is_collapsed(serve: Any) -> None:
    response = get(serve(handlers.Echo), "POST", "//evil.example/x?q=1", body=b"")
    assert response.getheader("X-Path") == "/evil.example/x?q=1"


class Headers(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        h = self.headers
        report = repr(
            (
                type(h).__name__,
                h.get("x-multi"),
                h.get_all("X-Multi"),
                "X-CASE" in h,
                [k for k, _ in h.items()][:3],
                self.requestline,
                self.raw_requestline,
                self.request_version,
                self.command,
                self.close_connection,
            )
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(report)))
        self.end_headers()
        self.wfile.write(report)


def test_headers_are_an_http_message_with_case_and_order_kept(serve: Any) -> None:
    server = serve(Headers)
    raw = server.raw(
        b"GET /p?q HTTP/1.1\r\nHost: x\r\nX-Multi: one\r\nX-Case: yes\r\nx-multi: two\r\nConnection: close\r\n\r\n"
    )
    body = raw.partition(b"\r\n\r\n")[2].decode()
    assert body == repr(
        (
            "HTTPMessage",
            "one",
            ["one", "two"],
            True,
            ["Host", "X-Multi", "X-Case"],
            "GET /p?q HTTP/1.1",
            b"GET /p?q HTTP/1.1\r\n",
            "HTTP/1.1",
            "GET",
            True,
        )
    )


class Continue(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_expect_100(self) -> bool:
        if self.path == "/refuse":
            self.send_error(417)
            return False
        return super().handle_expect_100()

    do_POST = handlers.Echo.do_POST


class AsyncContinue(Continue):
    async def do_POST(self) -> None:  # type: ignore[override]
        body = await self.rfile.aread(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_expect_100_continue_goes_through_handle_expect_100(serve: Any, run_mode: str) -> None:
    server = serve(AsyncContinue if run_mode == "async" else Continue, server_class_for(run_mode))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        # The client waits for this before it sends the body; a held-back interim answer
        # (the thread pool's, once) stalls the exchange until the body timeout.
        sock.settimeout(3)  # a stall lasts until the 30 s body timeout
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.settimeout(5)
        sock.sendall(b"data")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.read() == b"data"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert recv_all(sock).startswith(b"HTTP/1.1 417 Expectation Failed\r\n")


class OverridesParsing(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    """Overrides handle_one_request and parse_request: served by replaying the request."""

    protocol_version = "HTTP/1.1"

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.seen = "parsed:" + self.path
        return ok

    def handle_one_request(self) -> None:
        self.seen = ""
        super().handle_one_request()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        payload = self.seen.encode() + b"|" + body
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def test_handler_overriding_parse_request_and_handle_one_request(serve: Any) -> None:
    server = serve(OverridesParsing)
    conn = server.connection()
    for i in range(3):
        conn.request("POST", f"/n{i}", body=b"xyz")
        response = conn.getresponse()
        assert response.read() == f"parsed:/n{i}|xyz".encode()
    conn.close()


def test_stdlib_simple_handler_lists_and_serves_files(serve: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"alpha\n" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(bytes(range(256)) * 300)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path))
    server = serve(handler)
    with urllib.request.urlopen(server.url("/"), timeout=5) as response:
        listing = response.read().decode()
    assert 'href="a.txt"' in listing and 'href="sub/"' in listing
    with urllib.request.urlopen(server.url("/sub/b.bin"), timeout=5) as response:
        assert response.read() == (tmp_path / "sub" / "b.bin").read_bytes()
    response = get(server, path="/sub")
    assert response.status == 301 and response.getheader("Location") == "/sub/"
    assert get(server, path="/nope").status == 404
    assert get(server, path="/../../etc/passwd").status == 404


def test_our_simple_handler_with_directory_and_if_modified_since(serve: Any, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_bytes(b"<p>index</p>")

    class Quiet(aiohttpbase.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = serve(functools.partial(Quiet, directory=tmp_path))
    response = get(server)
    assert response.body == b"<p>index</p>"
    stamp = response.getheader("Last-Modified")
    assert get(server, headers={"If-Modified-Since": stamp}).status == 304


def test_socketless_handle_one_request_still_works() -> None:
    """The stdlib's own tests drive handlers on BytesIO files with no socket at all."""

    class H(aiohttpbase.BaseHTTPRequestHandler):
        def __init__(self) -> None:
            self.rfile = io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")
            self.wfile = io.BytesIO()
            self.client_address = ("1.2.3.4", 5)
            self.request_version = self.default_request_version

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

    h = H()
    h.handle_one_request()
    assert h.wfile.getvalue().startswith(b"HTTP/1.0 200 OK\r\n")


def test_send_header_refuses_crlf(serve: Any) -> None:
    class Injects(aiohttpbase.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("X-Bad", "a\r\nSet-Cookie: evil=1")
            self.end_headers()

    server = serve(Injects)
    server.server.handle_error = lambda *a: None
    raw = server.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500 ")
    assert b"evil" not in raw


class HeaderMutatingHandler(http.server.BaseHTTPRequestHandler):
    """Changes its request's headers, as a handler may; the next request must not see it."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = repr(self.headers.items()).encode()
        self.headers["X-Added"] = "by the handler"  # appends to the list it was given
        del self.headers["Accept"]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_identical_requests_each_get_their_own_headers(serve: Any) -> None:
    server = serve(HeaderMutatingHandler)
    connection = server.connection()
    bodies = []
    for _ in range(3):  # byte-identical requests on one connection
        connection.request("GET", "/", headers={"Accept": "*/*"})
        bodies.append(connection.getresponse().read())
    connection.close()
    assert b"('Accept', '*/*')" in bodies[0] and b"X-Added" not in bodies[0]
    assert bodies == [bodies[0]] * 3


def test_timestamps_are_the_stdlibs_though_computed_once_a_second() -> None:
    class Localised(http.server.BaseHTTPRequestHandler):
        monthname = [None, *(name.upper() for name in http.server.BaseHTTPRequestHandler.monthname[1:])]

    for cls in (http.server.BaseHTTPRequestHandler, Localised):
        served = serving_class(cls)
        handler = served.__new__(served)
        for _ in range(2):  # the second answer comes from the per-second cache
            before = http.server.BaseHTTPRequestHandler.log_date_time_string(handler)
            ours = handler.log_date_time_string()
            after = http.server.BaseHTTPRequestHandler.log_date_time_string(handler)
            assert ours in (before, after)
            before = http.server.BaseHTTPRequestHandler.date_time_string(handler)
            ours = handler.date_time_string()
            after = http.server.BaseHTTPRequestHandler.date_time_string(handler)
            assert ours in (before, after)


class OwnInitAsync(handlers.Quiet, http.server.BaseHTTPRequestHandler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = True
        super().__init__(*args, **kwargs)

    async def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()


def test_async_method_on_a_replayed_class_is_a_clear_error() -> None:
    """A class served by replay cannot have its coroutine awaited: a TypeError naming the
    method, when the server starts, instead of requests answered with nothing."""
    server = aiohttpbase.HTTPServer(("127.0.0.1", 0), OwnInitAsync)
    server.timeout = 0.05
    try:
        with pytest.raises(TypeError, match=r"OwnInitAsync\.do_GET is 'async def'"):
            server.handle_request()
    finally:
        server.server_close()


class _StatusLines(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"


@pytest.mark.parametrize("request_version", ["HTTP/1.1", "HTTP/1.0", "HTTP/0.9"])
@pytest.mark.parametrize(
    ("code", "message"),
    [(200, None), (http.HTTPStatus.NOT_FOUND, None), (599, None), (299, "Fine Then"), (204, "")],
)
def test_grafted_status_line_and_headers_are_the_stdlibs(
    request_version: str, code: int, message: Any
) -> None:
    """send_response_only and send_header do the stdlib's work themselves (one call fewer
    each): the buffered bytes and close_connection must be exactly the stdlib's."""
    made = []
    for cls in (_StatusLines, serving_class(_StatusLines)):
        handler = cls.__new__(cls)
        handler.request_version = request_version
        handler.close_connection = False
        handler.send_response_only(code, message)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Connection", "close")
        handler.send_header("X-Number", 7)  # type: ignore[arg-type]
        made.append((getattr(handler, "_headers_buffer", None), handler.close_connection))
    assert made[0] == made[1]
