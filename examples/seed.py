"""The seed document's handler and both of its ``run`` examples.

Only the import lines differ from the original (which imported ``BaseHTTPServer``).
Run: ``python examples/seed.py`` (serve_forever on :8000) or
``python examples/seed.py --handle-request N`` (the keep_running() loop, N requests).
"""

import sys

from aiohttpbase import BaseHTTPRequestHandler, HTTPServer

import aiohttpbase as BaseHTTPServer


class S(BaseHTTPRequestHandler):
    def _set_headers(self):
        self.send_response(200)
        self.send_header('Content-type', 'text/html')
        self.end_headers()

    def do_GET(self):
        self._set_headers()
        self.wfile.write("<html><body><h1>hi!</h1></body></html>")

    def do_HEAD(self):
        self._set_headers()

    def do_POST(self):
        # Doesn't do anything with posted data
        self._set_headers()
        self.wfile.write("<html><body><h1>POST!</h1></body></html>")


def run(server_class=BaseHTTPServer.HTTPServer,
        handler_class=BaseHTTPServer.BaseHTTPRequestHandler):
    server_address = ('', 8000)
    httpd = server_class(server_address, handler_class)
    httpd.serve_forever()


_remaining = [0]


def keep_running():
    _remaining[0] -= 1
    return _remaining[0] >= 0


def run_while_true(server_class=BaseHTTPServer.HTTPServer,
                   handler_class=BaseHTTPServer.BaseHTTPRequestHandler):
    """
    This assumes that keep_running() is a function of no arguments which
    is tested initially and after each request.  If its return value
    is true, the server continues.
    """
    server_address = ('', 8000)
    httpd = server_class(server_address, handler_class)
    while keep_running():
        httpd.handle_request()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--handle-request":
        _remaining[0] = int(sys.argv[2])
        run_while_true(HTTPServer, S)
    else:
        try:
            run(HTTPServer, S)
        except KeyboardInterrupt:
            pass
