"""Create the benchmark's own virtualenv, install the peers and the repo's package, and ``wrk``.

Standard library only: this runs under the system ``python3`` before the venv exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

from .paths import REPO_ROOT, VENV_DIR, VENV_PYTHON

#: The peers and tools installed into ``bench/.venv`` (never runtime dependencies of the package).
PEER_PACKAGES: tuple[str, ...] = (
    "uvicorn", "httptools", "uvloop", "h11", "aiohttp", "starlette", "matplotlib",
)  # fmt: skip
#: Import names checked to decide whether the peers are already installed.
PEER_IMPORTS: tuple[str, ...] = PEER_PACKAGES

PIP_TIMEOUT_S = 900
APT_TIMEOUT_S = 600


class SetupError(RuntimeError):
    """The environment could not be prepared; the message says what to do."""


def _run(cmd: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _venv_imports(*modules: str) -> bool:
    """True when the venv's python can import every module (run from ``/`` so the cwd can't help)."""
    code = "import " + ", ".join(modules)
    return _run([str(VENV_PYTHON), "-c", code], timeout=120, cwd=Path("/")).returncode == 0


def ensure_venv() -> None:
    """Create ``bench/.venv`` if missing and install the peer packages into it if needed."""
    if not VENV_PYTHON.exists():
        print(f"[setup] creating virtualenv {VENV_DIR} with {sys.executable}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV_DIR)
    if _venv_imports(*PEER_IMPORTS):
        return
    print(f"[setup] installing peers into the venv: {' '.join(PEER_PACKAGES)}", flush=True)
    proc = _run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], PIP_TIMEOUT_S)
    if proc.returncode != 0 or not _venv_imports(*PEER_IMPORTS):
        raise SetupError(f"pip could not install the peers:\n{_tail(proc.stdout + proc.stderr)}")


def ensure_repo_package(force: bool = False) -> str | None:
    """``pip install -e <repo root>`` into the venv unless ``aiohttpbase`` already imports there.

    Returns ``None`` on success, or a one-line reason why aiohttpbase cannot be benchmarked.
    """
    if not (REPO_ROOT / "pyproject.toml").exists():
        return f"no pyproject.toml at {REPO_ROOT}: cannot install aiohttpbase"
    if not force and _venv_imports("aiohttpbase"):
        return None
    print(f"[setup] pip install -e {REPO_ROOT}", flush=True)
    proc = _run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "-e", str(REPO_ROOT)], PIP_TIMEOUT_S)
    if proc.returncode != 0:
        print(
            "\n[setup] ERROR: `pip install -e` of the repository failed; aiohttpbase servers are "
            f"skipped.\n--- pip output (tail) ---\n{_tail(proc.stdout + proc.stderr)}\n---\n",
            file=sys.stderr,
            flush=True,
        )
        return "pip install -e of the repository failed (see the error above)"
    if not _venv_imports("aiohttpbase"):
        return "aiohttpbase installed but does not import in the venv"
    return None


def _ensure_tool(tool: str, package: str) -> str:
    """Return the path of ``tool``, installing its Debian ``package`` if it is missing."""
    found = shutil.which(tool)
    if found:
        return found
    print(f"[setup] {tool} not found: apt-get install -y {package}", flush=True)
    if _run(["apt-get", "install", "-y", package], APT_TIMEOUT_S).returncode != 0:
        print("[setup] install failed; apt-get update and retry", flush=True)
        _run(["apt-get", "update"], APT_TIMEOUT_S)
        proc = _run(["apt-get", "install", "-y", package], APT_TIMEOUT_S)
        if proc.returncode != 0:
            raise SetupError(f"apt-get install -y {package} failed:\n{_tail(proc.stdout + proc.stderr)}")
    found = shutil.which(tool)
    if not found:
        raise SetupError(f"{tool} is still not on PATH after apt-get install {package}")
    return found


def ensure_wrk() -> str:
    """Return the path of ``wrk``, installing the Debian package if it is missing."""
    return _ensure_tool("wrk", "wrk")


def ensure_ab() -> str:
    """Return the path of ApacheBench ``ab``, installing ``apache2-utils`` if it is missing."""
    return _ensure_tool("ab", "apache2-utils")


def ensure_taskset() -> None:
    """``taskset`` (util-linux) pins server and wrk to separate cores; it must exist."""
    if not shutil.which("taskset"):
        raise SetupError("taskset not found (Debian package util-linux)")
