"""Supported Python versions: what pyproject.toml declares, and what follows Python 3.14's
``http.server``."""

from __future__ import annotations

import http.server
import inspect
import ssl
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


def test_pyproject_declares_the_supported_versions() -> None:
    project = pyproject()["project"]
    assert project["requires-python"] == ">=3.10"  # no upper bound, as the peers
    for version in SUPPORTED:
        assert f"Programming Language :: Python :: {version}" in project["classifiers"]


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
