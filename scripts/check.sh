#!/usr/bin/env bash
# Static checks and the docs build: installs the package with its optional extras (the docs
# tools among them), ruff and mypy into the virtualenv ${VENV:-.venv} -- a fresh clone needs
# nothing else -- lints and type-checks, then builds the MkDocs site strictly (any warning fails).
# Usage: scripts/check.sh            (.ci/run calls it after the test matrix)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1
export NO_MKDOCS_2_WARNING=1

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# mypy reads every module of aiohttpbase, so it needs each optional dependency a module
# imports (httptools for the speed parser, wsproto for the WebSocket helper, ...): install
# every extra pyproject.toml declares except the test suite's, whatever else ran in this venv.
extras=$(awk '
  /^\[/ { in_extras = ($0 == "[project.optional-dependencies]"); next }
  in_extras && /^[A-Za-z0-9_-]+ *=/ { sub(/ *=.*/, ""); if ($0 != "test") { printf "%s%s", sep, $0; sep = "," } }
' pyproject.toml)
echo "== pip install -e '.[$extras]' ruff mypy"
"$VENV/bin/python" -m pip install -q -e ".[$extras]" ruff mypy

echo "== ruff check, ruff format --check, mypy --strict"
"$VENV/bin/python" -m ruff check .
"$VENV/bin/python" -m ruff format --check .
"$VENV/bin/python" -m mypy  # strict, on aiohttpbase/ (pyproject.toml [tool.mypy])

site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
echo "== mkdocs build --strict"
"$VENV/bin/python" -m mkdocs build --strict --site-dir "$site"
