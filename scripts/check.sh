#!/usr/bin/env bash
# Static checks and the docs build: installs the docs tools, ruff and mypy into the
# virtualenv ${VENV:-.venv}, lints and type-checks, then builds the MkDocs site strictly
# (any warning fails).
# Usage: scripts/check.sh            (.ci/run calls it after the test matrix)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1
export NO_MKDOCS_2_WARNING=1

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -e '.[docs]' ruff mypy

echo "== ruff check, ruff format --check, mypy --strict"
"$VENV/bin/python" -m ruff check .
"$VENV/bin/python" -m ruff format --check .
"$VENV/bin/python" -m mypy  # strict, on aiohttpbase/ (pyproject.toml [tool.mypy])

site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
echo "== mkdocs build --strict"
"$VENV/bin/python" -m mkdocs build --strict --site-dir "$site"
