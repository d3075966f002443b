"""Static files: ``SimpleHTTPRequestHandler`` on aiohttpbase's base class."""

from __future__ import annotations

import http.server

from .handlers import BaseHTTPRequestHandler

__all__ = ["SimpleHTTPRequestHandler"]


class SimpleHTTPRequestHandler(BaseHTTPRequestHandler, http.server.SimpleHTTPRequestHandler):
    """``http.server.SimpleHTTPRequestHandler`` on aiohttpbase's base class."""

    server_version = http.server.SimpleHTTPRequestHandler.server_version
