"""Packaging and supported Python versions: the LICENSE and its SPDX expression, the metadata
an install carries, what a wheel holds, and what follows Python 3.14's ``http.server``."""

from __future__ import annotations

import http.server
import importlib.metadata
import importlib.resources
import inspect
import shutil
import ssl
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from aiohttpbase import HTTPSServer, cli

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ("3.10", "3.11", "3.12", "3.13", "3.14")


def pyproject() -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs tomllib (3.11+) or tomli")
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)  # type: ignore[no-any-return]


def test_license_file_is_mit() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the aiohttpbase authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_pyproject_declares_the_supported_versions() -> None:
    project = pyproject()["project"]
    assert project["requires-python"] == ">=3.10"  # no upper bound, as the peers
    for version in SUPPORTED:
        assert f"Programming Language :: Python :: {version}" in project["classifiers"]


def test_pyproject_declares_the_license() -> None:
    data = pyproject()
    project = data["project"]
    assert project["license"] == "MIT"  # an SPDX expression (PEP 639), not a table
    assert project["license-files"] == ["LICENSE"]
    # PEP 639: license classifiers are superseded by the expression (setuptools refuses both).
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert "setuptools>=77" in data["build-system"]["requires"]  # the first to write License-Expression


def test_installed_metadata() -> None:
    """What ``pip install`` (editable or not) recorded in the environment's .dist-info."""
    # Only an installed .dist-info has INSTALLER; the source tree's .egg-info, which comes
    # first on sys.path when the tests run from the checkout, has neither it nor licenses/.
    installed = [
        dist
        for dist in importlib.metadata.distributions(name="aiohttpbase")
        if dist.read_text("INSTALLER") is not None
    ]
    if not installed:
        pytest.skip("aiohttpbase is not installed here (imported from the source tree)")
    metadata = installed[0].metadata
    if metadata.get("License-Expression") is None:
        pytest.skip("the install predates the SPDX license: pip install -e . again (scripts/test.sh does)")
    assert metadata["License-Expression"] == "MIT"
    assert "LICENSE" in (metadata.get_all("License-File") or [])
    assert metadata["Requires-Python"] == ">=3.10"
    assert "Programming Language :: Python :: 3.14" in (metadata.get_all("Classifier") or [])
    license_text = installed[0].read_text("licenses/LICENSE")
    assert license_text is not None and license_text.startswith("MIT License")
    assert importlib.resources.files("aiohttpbase").joinpath("py.typed").is_file()


def _setuptools_version() -> tuple[int, ...]:
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return (0,)
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


@pytest.mark.skipif(
    _setuptools_version() < (77,),
    reason="building the wheel offline needs setuptools>=77 in this environment (pip install 'setuptools>=77')",
)
def test_wheel_holds_the_license_and_py_typed(tmp_path: Path) -> None:
    """Built without network or build isolation, from a copy of the sources."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "aiohttpbase", source / "aiohttpbase", ignore=shutil.ignore_patterns("__pycache__")
    )
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("aiohttpbase-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        license_text = archive.read(f"{dist_info}/licenses/LICENSE").decode()
    assert "aiohttpbase/py.typed" in names
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    assert "Requires-Python: >=3.10\n" in metadata
    assert license_text.startswith("MIT License")


# -- Python 3.14's http.server: what aiohttpbase follows ---------------------------------


def test_command_line_takes_the_tls_options_of_python_3_14(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    password_file = tmp_path / "password"
    password_file.write_text("  not needed for this key \n", encoding="utf-8")
    args = cli.build_parser().parse_args(
        ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-password-file", str(password_file)]
    )
    context = cli._tls_context(args)
    assert isinstance(context, ssl.SSLContext)
    args.tls_password_file = str(tmp_path / "missing")
    with pytest.raises(cli.UsageError, match="cannot read --tls-password-file"):
        cli._tls_context(args)
    key_only = cli.build_parser().parse_args(["--tls-key", str(key)])
    with pytest.raises(cli.UsageError, match="need --tls-cert"):
        cli._tls_context(key_only)


def test_https_server_keeps_what_python_3_14_keeps(certificate: tuple[Path, Path]) -> None:
    from tests.handlers import Hello

    cert, key = certificate
    made: list[str] = []

    class Custom(HTTPSServer):
        def _create_context(self) -> ssl.SSLContext:
            made.append(self.certfile)
            return super()._create_context()

    with Custom(("127.0.0.1", 0), Hello, certfile=str(cert), keyfile=str(key)) as server:
        assert (server.certfile, server.keyfile, server.password) == (str(cert), str(key), None)
        assert server.alpn_protocols == ["http/1.1"] and server.ssl is ssl
        assert server.ssl_context is not None and made == [str(cert)]
    stdlib = getattr(http.server, "HTTPSServer", None)
    if stdlib is not None:  # Python 3.14+: every parameter of the stdlib's is accepted
        ours = inspect.signature(HTTPSServer.__init__).parameters
        for name, parameter in inspect.signature(stdlib.__init__).parameters.items():
            assert name in ours and ours[name].kind == parameter.kind, name
