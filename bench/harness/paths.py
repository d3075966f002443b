"""Where things are: the bench directory, the repository root, the venv and the results."""

from __future__ import annotations

from pathlib import Path

BENCH_DIR: Path = Path(__file__).resolve().parent.parent
REPO_ROOT: Path = BENCH_DIR.parent
APPS_DIR: Path = BENCH_DIR / "apps"
LUA_DIR: Path = BENCH_DIR / "lua"
VENV_DIR: Path = BENCH_DIR / ".venv"
VENV_PYTHON: Path = VENV_DIR / "bin" / "python"
RESULTS_DIR: Path = BENCH_DIR / "results"
