"""aiohttpbase: ``http.server`` request handlers, unchanged, on asyncio + uvloop + h11.

Change one import line::

    from aiohttpbase import HTTPServer, BaseHTTPRequestHandler
"""

from .config import ServerConfig
from .handlers import BaseHTTPRequestHandler
from .server import HTTPServer, HTTPSServer, ThreadingHTTPServer, ThreadingHTTPSServer, new_event_loop
from .static import SimpleHTTPRequestHandler
from .workers import install_signal_handlers, serve_workers

__version__ = "0.1.0"

__all__ = [
    "BaseHTTPRequestHandler",
    "HTTPSServer",
    "HTTPServer",
    "ServerConfig",
    "SimpleHTTPRequestHandler",
    "ThreadingHTTPSServer",
    "ThreadingHTTPServer",
    "__version__",
    "install_signal_handlers",
    "new_event_loop",
    "serve_workers",
]
