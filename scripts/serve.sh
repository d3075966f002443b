#!/usr/bin/env bash
# Set up aiohttpbase on a fresh machine and serve the seed's handler on http://127.0.0.1:8000/.
# Extra arguments go to `python -m aiohttpbase` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -e '.[speed]'
exec "$VENV/bin/python" -m aiohttpbase --handler examples/seed.py:S -p HTTP/1.1 -b 127.0.0.1 "$@"
