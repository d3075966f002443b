"""A sample application for the container recipe: replace it with your handler module.

``/healthz`` is what the Kubernetes probes in ``k8s.yaml`` ask; everything else is the
application's.  Any ``http.server`` handler class works unchanged.
"""

from http.server import BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/healthz":
            # Ready and alive while the process serves; during the SIGTERM drain the listener
            # is closed, so the probe's connection is refused and the pod leaves the Service.
            self._answer(200, b"ok\n")
        elif self.path == "/":
            self._answer(200, b"hello from aiohttpbase\n")
        else:
            self.send_error(404)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
