#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it.
# Usage: scripts/test.sh [pytest args...]      (PYTHON=python3.12 scripts/test.sh to pick an interpreter;
#        PYTEST_WORKERS=0 scripts/test.sh to run the tests in one process)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
# Real clients and peers the tests drive: curl, ApacheBench, and nginx as a reverse proxy.
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v ab >/dev/null 2>&1 || missing+=(apache2-utils)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "the tests need: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[test,speed]'
# Two pytest workers (PYTEST_WORKERS=0 for one process): the tests wait on sockets far more
# than they compute, and every server takes an OS-chosen port, so they run side by side.
exec "$VENV/bin/python" -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
