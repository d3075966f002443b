"""Starlette's ``StaticFiles`` as a bare ASGI app, for uvicorn (the static-mix cell).

Run: ``BENCH_STATIC_DIR=DIR uvicorn --app-dir bench/apps starlette_static:app ...``. StaticFiles
answers ``If-Modified-Since`` / ``If-None-Match`` with 304 and sends files with ``FileResponse``.
"""

from __future__ import annotations

import os

from starlette.staticfiles import StaticFiles

app = StaticFiles(directory=os.environ["BENCH_STATIC_DIR"])
